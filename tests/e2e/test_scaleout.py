"""Two `serve --no-worker` and two `postback worker` processes on one PostgreSQL database.
Clicks and postbacks go through both servers in turn (a click made on one is posted back
on the other, status changes, repeats, the same new txid to both at once) while one of
the four processes at a time is SIGKILLed at a random moment and started again, and the
partner answers 500 to a fifth of the delivery attempts. Afterwards every acknowledged
click and postback is stored once, every owed delivery reached the partner and none is
left pending or failed, and the reports of both servers equal the figures counted from
the rows.

POSTBACK_SCALEOUT_SEED replays a run's choices (which process dies and when, the
traffic's choices, which attempts the partner fails); POSTBACK_SCALEOUT_KILLS sets the
number of kills.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest

from postback.domain.money import SCALE
from postback.settings import Settings
from postback.store.factory import open_store
from tests.e2e.harness import (
    Received,
    Receiver,
    ServerProcess,
    WorkerProcess,
    eventually,
)
from tests.e2e.network import Network, add_postback, create_network
from tests.e2e.traffic import (
    Ledger,
    StoredConversion,
    Traffic,
    missing_clicks,
    postback_problems,
    stored_conversions,
)
from tests.reliability_report import record

KILLS = int(os.environ.get("POSTBACK_SCALEOUT_KILLS", "22"))
SEED = int(os.environ.get("POSTBACK_SCALEOUT_SEED", "7305"))
# Seconds between two kills, the restart aside.
PAUSE = (1.5, 3.5)
# Share of delivery attempts the partner answers 500.
FAILURE_SHARE = 0.2
DRAIN_SECONDS = 90.0

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.timeout(150 + KILLS * 7)]

SETTINGS = {
    # Retries within seconds, and a lease a killed worker's claims soon lose.
    "POSTBACK_RETRY_SCHEDULE": ",".join(["0.2", "0.5"] + ["1"] * 48),
    "POSTBACK_DELIVERY_TIMEOUT": "2",
    # A run of failed attempts pauses the partner only briefly.
    "POSTBACK_BREAKER_PAUSE": "0.5",
    "POSTBACK_BREAKER_MAX_PAUSE": "1",
}

Process = ServerProcess | WorkerProcess
Key = tuple[Any, ...]
# The figures every report row is compared on.
FIGURES = ("clicks", "conversions", "approved", "pending", "rejected", "revenue", "payout")
REPORTS: tuple[tuple[tuple[str, ...], str | None], ...] = (
    (("day", "offer_id", "affiliate_id"), None),
    (("day", "hour", "offer_id"), None),
    (("day", "affiliate_id", "sub1"), None),
    (("day", "offer_id", "affiliate_id", "event", "sub1"), None),
    (("day", "affiliate_id"), "Asia/Kolkata"),
)


def partner_failures(seed: int, share: float) -> Callable[[Received], bool]:
    """Fails a delivery attempt by a hash of the seed, the delivery (its webhook-id, or its
    URL) and how often it came before: the same attempts fail in every run, and each
    attempt of a delivery has its own chance, so every delivery gets through in the end."""
    seen: Counter[str] = Counter()

    def fails(received: Received) -> bool:
        key = received.headers.get("webhook-id") or received.path_qs
        seen[key] += 1
        digest = hashlib.sha256(f"{seed}|{key}|{seen[key]}".encode()).digest()
        return int.from_bytes(digest[:4], "big") < share * 2**32

    return fails


class Killer:
    """SIGKILLs one process at a time, chosen by `rng`, and starts it again at once."""

    def __init__(self, processes: Mapping[str, Process], rng: random.Random) -> None:
        self.processes = processes
        self.rng = rng
        self.kills: Counter[str] = Counter()
        self.slowest_restart = 0.0

    def plan(self, count: int) -> list[str]:
        """Every process dies at least once in a run, in a random order, then at random."""
        names = list(self.processes)
        return self.rng.sample(names, len(names)) + [
            self.rng.choice(names) for _ in range(count - len(names))
        ]

    async def run(self, count: int) -> None:
        for name in self.plan(count):
            await asyncio.sleep(self.rng.uniform(*PAUSE))
            process = self.processes[name]
            await asyncio.to_thread(process.kill)
            self.kills[name] += 1
            began = time.monotonic()
            await asyncio.to_thread(process.start)
            self.slowest_restart = max(self.slowest_restart, time.monotonic() - began)


async def build_network(
    admin: httpx.AsyncClient, receiver: Receiver
) -> tuple[Network, list[dict[str, Any]], dict[int, str]]:
    """One advertiser, two offers, two affiliates; a GET postback per affiliate and a
    signed POST for the whole network, all of every status. Returns the network, the click
    parameters to choose from and the receiver path of each postback config."""
    net = await create_network(admin)
    second_offer = await admin.post(
        "/offers",
        json={
            "advertiser_id": net.advertiser["id"],
            "name": "Second offer",
            "destination_url": "https://shop.example/two?cid={click_id}",
            "revenue": "3.3333",
            "payout": "1.0001",
        },
    )
    assert second_offer.status_code == 201, second_offer.text
    second_affiliate = await admin.post("/affiliates", json={"name": "Second affiliate"})
    assert second_affiliate.status_code == 201, second_affiliate.text
    offers = [net.offer["id"], second_offer.json()["id"]]
    affiliates = [net.affiliate["id"], second_affiliate.json()["id"]]

    paths: dict[int, str] = {}
    for affiliate in affiliates:
        path = f"/aff{affiliate}"
        config = await add_postback(
            admin,
            affiliate_id=affiliate,
            url=receiver.url(path + "?c={conversion_id}&s={status}&t={txid}"),
            statuses=["*"],
        )
        paths[int(config["id"])] = path
    network_wide = await add_postback(
        admin, affiliate_id=None, url=receiver.url("/network"), method="POST", statuses=["*"]
    )
    paths[int(network_wide["id"])] = "/network"

    links: list[dict[str, Any]] = []
    for offer in offers:
        for affiliate in affiliates:
            for sub1 in ("north", "south", None):
                link = {"offer_id": offer, "aff_id": affiliate}
                links.append(link if sub1 is None else {**link, "sub1": sub1})
    return net, links, paths


async def test_two_servers_and_two_workers_under_sigkill(pg_url: str, tmp_path: Path) -> None:
    random.seed(SEED)
    receiver = await Receiver(fails=partner_failures(SEED, FAILURE_SHARE)).start()
    servers = [ServerProcess(pg_url, tmp_path, args=("--no-worker",), **SETTINGS) for _ in range(2)]
    workers = [WorkerProcess(server) for server in servers]
    processes: dict[str, Process] = {
        "server-0": servers[0],
        "server-1": servers[1],
        "worker-0": workers[0],
        "worker-1": workers[1],
    }
    traffic: Traffic | None = None
    try:
        # One after the other: the first one migrates the empty database.
        for server in servers:
            await asyncio.to_thread(server.start)
        for worker in workers:
            worker.start()
        async with servers[0].admin() as admin:
            net, links, paths = await build_network(admin, receiver)
        traffic = Traffic(
            servers[0].base_url,
            net,
            also=[servers[1].base_url],
            links=links,
            duplicate_share=0.1,
            race_share=0.15,
            revenue_share=0.3,
        ).start()
        killer = Killer(processes, random.Random(SEED))
        started = time.monotonic()
        await killer.run(KILLS)
        await asyncio.sleep(1.0)
        ledger = await traffic.stop()
        traffic = None
        stopped = time.monotonic()
        figures = await check_everything(pg_url, servers, ledger, receiver, paths)
        dead = [name for name, process in processes.items() if not process.alive()]
        assert dead == [], f"{dead} died on their own; logs in {tmp_path}"
        figures |= {f"{name}_kills": n for name, n in sorted(killer.kills.items())}
        print(
            f"\nscale-out, seed {SEED}: traffic and kills {stopped - started:.0f}s,"
            f" drain and checks {time.monotonic() - stopped:.0f}s,"
            f" slowest restart {killer.slowest_restart:.1f}s;",
            json.dumps(figures),
        )
        record("scaleout", kills=sum(killer.kills.values()), **figures, lost=0)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nreplay: POSTBACK_SCALEOUT_SEED={SEED}") from exc
    finally:
        if traffic is not None:
            await traffic.stop()
        for process in processes.values():
            await asyncio.to_thread(process.stop)
        await receiver.stop()


async def check_everything(
    pg_url: str,
    servers: list[ServerProcess],
    ledger: Ledger,
    receiver: Receiver,
    paths: dict[int, str],
) -> dict[str, int]:
    assert ledger.unexpected == [], ledger.unexpected[:5]
    assert ledger.acked_postbacks >= KILLS * 5, "too little traffic got through to test anything"
    assert ledger.duplicates > 0 and ledger.races > 0, (ledger.duplicates, ledger.races)
    conn = await asyncpg.connect(pg_url)
    try:
        await eventually(lambda: nothing_owed(conn), timeout=DRAIN_SECONDS, interval=0.5)
        stored = await check_rows(pg_url, conn, ledger)
        deliveries = await check_deliveries(conn, paths)
        accepted_twice = check_receipts(receiver, deliveries, paths)
        report_rows = 0
        for server in servers:
            report_rows += await check_reports(conn, server)
        stored_clicks = await conn.fetchval("SELECT count(*) FROM clicks")
    finally:
        await conn.close()
    return {
        "acked_clicks": len(ledger.clicks),
        "stored_clicks": int(stored_clicks),
        "acked_postbacks": ledger.acked_postbacks,
        "duplicates_answered": ledger.duplicates,
        "races": ledger.races,
        "unanswered": ledger.no_answer,
        "answers_503": ledger.answers[503],
        "conversions": stored,
        "deliveries": len(deliveries),
        "requests_to_partner": len(receiver.requests),
        "answered_500": sum(1 for r in receiver.requests if r.status >= 300),
        "accepted_twice": accepted_twice,
        "report_rows_checked": report_rows,
    }


async def nothing_owed(conn: asyncpg.Connection) -> bool:
    states = await conn.fetch("SELECT DISTINCT state FROM deliveries")
    return {row["state"] for row in states} <= {"delivered"}


async def check_rows(pg_url: str, conn: asyncpg.Connection, ledger: Ledger) -> int:
    """Every acknowledged click is stored; every acknowledged postback is one conversion
    whose history holds the acknowledged changes. Returns how many conversions there are."""
    store = open_store(Settings(database_url=pg_url))
    try:
        assert await missing_clicks(store, ledger.clicks) == []
        stored: dict[str, list[StoredConversion]] = {}
        for offer_id in await conn.fetch("SELECT id FROM offers ORDER BY id"):
            for txid, items in (await stored_conversions(store, offer_id["id"])).items():
                stored.setdefault(txid, []).extend(items)
        assert postback_problems(ledger, stored) == []
    finally:
        await store.close()
    twice = await conn.fetch(
        "SELECT click_id, txid, count(*) FROM conversions GROUP BY click_id, txid"
        " HAVING count(*) > 1"
    )
    assert [tuple(row) for row in twice] == []
    return sum(len(items) for items in stored.values())


async def check_deliveries(conn: asyncpg.Connection, paths: dict[int, str]) -> list[asyncpg.Record]:
    """Each stored status change owes one delivery to its affiliate's config and one to the
    network's, no more, no less; all of them are delivered."""
    network_id = next(config for config, path in paths.items() if path == "/network")
    by_affiliate = {
        row["affiliate_id"]: row["id"]
        for row in await conn.fetch(
            "SELECT id, affiliate_id FROM postback_configs WHERE affiliate_id IS NOT NULL"
        )
    }
    owed: Counter[Key] = Counter()
    changes = await conn.fetch(
        "SELECT h.conversion_id, h.to_status, c.affiliate_id FROM conversion_history h"
        " JOIN conversions c ON c.id = h.conversion_id"
    )
    for change in changes:
        for config in (by_affiliate[change["affiliate_id"]], network_id):
            owed[(config, change["conversion_id"], change["to_status"])] += 1
    deliveries: list[asyncpg.Record] = await conn.fetch(
        "SELECT id, message_id, postback_id, conversion_id, status, state FROM deliveries"
    )
    made = Counter((d["postback_id"], d["conversion_id"], d["status"]) for d in deliveries)
    assert dict(made - owed) == {}, "deliveries nobody owes"
    assert dict(owed - made) == {}, "owed deliveries never made"
    assert Counter(d["state"] for d in deliveries).keys() == {"delivered"}
    return deliveries


def check_receipts(
    receiver: Receiver, deliveries: list[asyncpg.Record], paths: dict[int, str]
) -> int:
    """Every delivery arrived with a 2xx answer at least once, and nothing else arrived.
    Returns how many deliveries the partner accepted more than once (at least once allows
    it: a worker killed before it recorded the answer leaves the delivery to another)."""
    expected: set[Key] = set()
    for d in deliveries:
        path = paths[d["postback_id"]]
        if path == "/network":
            expected.add((path, d["message_id"], d["conversion_id"], d["status"]))
        else:
            expected.add((path, str(d["conversion_id"]), d["status"]))
    arrived: set[Key] = set()
    answered: Counter[Key] = Counter()
    for received in receiver.requests:
        path = received.path_qs.split("?")[0]
        if path == "/network":
            event = json.loads(received.body)
            key: Key = (
                path,
                received.headers["webhook-id"],
                int(event["conversion_id"]),
                str(event["status"]),
            )
        else:
            key = (path, received.query["c"], received.query["s"])
        arrived.add(key)
        if received.status < 300:
            answered[key] += 1
    assert arrived - expected == set(), "requests for no delivery"
    assert expected - answered.keys() == set(), "deliveries the partner never accepted"
    return sum(1 for n in answered.values() if n > 1)


def units(value: int) -> Decimal:
    return Decimal(value) / SCALE


async def counted_from_rows(
    conn: asyncpg.Connection, group_by: tuple[str, ...], tz: str | None
) -> dict[Key, dict[str, Any]]:
    """The report's figures counted from the clicks and conversions tables."""
    zone = ZoneInfo(tz or "UTC")

    def keys(created_at: int, values: Mapping[str, Any]) -> Key:
        moment = datetime.fromtimestamp(created_at / 1_000_000, UTC).astimezone(zone)
        known = {
            **values,
            "day": moment.date().isoformat(),
            "hour": moment.hour,
            "sub1": values["sub1"] or None,
        }
        return tuple(known[name] for name in group_by)

    found: dict[Key, dict[str, Any]] = {}

    def add(key: Key, **figures: Any) -> None:
        row = found.setdefault(key, dict.fromkeys(FIGURES, 0))
        for name, value in figures.items():
            row[name] += value

    for click in await conn.fetch("SELECT created_at, offer_id, affiliate_id, sub1 FROM clicks"):
        add(keys(click["created_at"], {**dict(click), "event": None}), clicks=1)
    for c in await conn.fetch(
        "SELECT c.created_at, c.offer_id, c.affiliate_id, c.event, c.status, c.revenue,"
        " c.payout, k.sub1 FROM conversions c LEFT JOIN clicks k ON k.click_id = c.click_id"
    ):
        approved = c["status"] == "approved"
        add(
            keys(c["created_at"], dict(c)),
            conversions=1,
            approved=int(approved),
            pending=int(c["status"] == "pending"),
            rejected=int(c["status"] == "rejected"),
            revenue=units(c["revenue"]) if approved else 0,
            payout=units(c["payout"]) if approved else 0,
        )
    for row in found.values():
        row["revenue"] = Decimal(row["revenue"])
        row["payout"] = Decimal(row["payout"])
        row["profit"] = row["revenue"] - row["payout"]
    return found


def local_days(times: Iterable[int], zone: ZoneInfo) -> list[date]:
    """The local days of microsecond timestamps."""
    return [datetime.fromtimestamp(us / 1_000_000, UTC).astimezone(zone).date() for us in times]


async def check_reports(conn: asyncpg.Connection, server: ServerProcess) -> int:
    """Each report of the server, in several groupings, equals the figures counted from
    the rows; so do its totals. Returns how many rows were compared."""
    times = [
        row["created_at"]
        for row in await conn.fetch(
            "SELECT created_at FROM clicks UNION ALL SELECT created_at FROM conversions"
        )
    ]
    compared = 0
    async with server.admin() as admin:
        for group_by, tz in REPORTS:
            days = local_days(times, ZoneInfo(tz or "UTC"))
            params: dict[str, Any] = {
                "from": min(days).isoformat(),
                "to": max(days).isoformat(),
                "group_by": ",".join(group_by),
            }
            if tz is not None:
                params["tz"] = tz
            answer = await admin.get("/reports", params=params)
            assert answer.status_code == 200, answer.text
            report = json.loads(answer.text, parse_float=Decimal)
            expected = await counted_from_rows(conn, group_by, tz)
            reported: dict[Key, dict[str, Any]] = {}
            for row in report["rows"]:
                key = tuple(
                    (row[name] or None) if name == "sub1" else row[name] for name in group_by
                )
                figures = {name: row[name] for name in (*FIGURES, "profit")}
                if any(figures.values()):
                    assert key not in reported, f"{params}: {key} twice"
                    reported[key] = figures
            assert reported == expected, (server.base_url, params, diff(expected, reported))
            totals = {name: report["totals"][name] for name in (*FIGURES, "profit")}
            assert totals == {
                name: sum((row[name] for row in expected.values()), start=0) for name in totals
            }, (server.base_url, params)
            compared += len(reported)
    return compared


def diff(
    expected: dict[Key, dict[str, Any]], reported: dict[Key, dict[str, Any]]
) -> list[tuple[Key, Any, Any]]:
    """The rows that differ, at most ten: (key, counted from rows, reported)."""
    keys = sorted(set(expected) | set(reported), key=repr)
    return [
        (key, expected.get(key), reported.get(key))
        for key in keys
        if expected.get(key) != reported.get(key)
    ][:10]
