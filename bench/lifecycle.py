"""Data lifecycle benchmark: bytes on disk per click and per conversion, and retention's
purge (`postback purge`) while clicks arrive at a steady rate, on SQLite and PostgreSQL.

    .venv/bin/python bench/lifecycle.py --backend both
    .venv/bin/python bench/lifecycle.py --backend sqlite --clicks 50000 --per-day 20000 \\
        --days 3 --no-docs

Sizes, on a fresh database per backend. --clicks clicks over the last SIZE_DAYS days
(Store.insert_clicks in batches of BATCH; on PostgreSQL the time partitions of those days
made first, as a long-running install has them) with what the click path stores: subs,
a public address, a real User-Agent (bench/user_agents.txt) read by the server's own
visitor reader (country, device, OS, browser, bot flag, keyed visitor hash), a referrer on
most and a cost on half. Then --conversions of them convert (Store.record_postback, one
approved postback each with its incoming-log row) with two active postback configs of the
affiliate, a POST with a JSON body and a GET, so each conversion owes two deliveries;
each is claimed and finished as delivered (Store.claim_deliveries and
Store.finish_attempt, one attempt row each) instead of being sent over HTTP. Bytes on
disk are read after the migration, after the clicks and after the conversions: SQLite,
page_count x page_size after `PRAGMA wal_checkpoint(TRUNCATE)` (per table from dbstat,
indexes with their table); PostgreSQL, pg_total_relation_size (heap, indexes, TOAST)
summed over every table and every partition after `VACUUM ANALYZE`, per table with its
partitions. Per click = growth with the clicks / clicks; per conversion = growth with the
conversions / conversions.

Purge, on a fresh database per case: --days days of --per-day old clicks, OLD_DAYS_BACK
days back (a few converted, with their incoming-log rows), and YOUNG_DAYS days of young
ones; on PostgreSQL either with the old days in their time partitions (made before the
rows went in) or, the slow path, with the old rows in the default partition (an install
partitioned after it had them). Then `postback serve --no-worker` (no hourly purge of its
own; the click path is the same) on core 0 and bench/loadgen.py on core 1 sending
GET /click at --rate per second, open loop, in back-to-back chunks of CHUNK_SECONDS:
a warm-up, --seconds without purge, then `postback purge` (POSTBACK_RETAIN_CLICKS_DAYS=90,
core 0) started PURGE_DELAY seconds into a chunk and load until it has ended, then
--seconds again without. Each request is put in a window by the time it was due: before,
during (from the purge's start to its exit) or after the purge; a probe every
WATCH_INTERVAL notes when the last old click went, which splits "during". Purge
throughput = rows removed (its own summary, checked against the rows counted before and
after) / the command's wall time; a second purge with nothing left gives the command's
fixed cost.

Everything runs on 127.0.0.1 and stops by itself: every process this script starts is
stopped at the end of its case, each SQLite file lives in a temporary directory, and each
PostgreSQL database (bench_lifecycle_*) is dropped. Results go to
bench/results/lifecycle-<backend>.json and, unless --no-docs, into docs/BENCHMARKS.md
(the figures of both backends' latest JSON files).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import inspect
import itertools
import json
import os
import random
import re
import secrets
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from suite import (
    APPLICATION_NAME,
    BIN,
    ROOT,
    SERVER_CORE,
    USER_AGENTS,
    free_port,
    percentile,
    pinned,
    public_ipv4,
    run_loadgen,
    stop,
    tail,
    wait_http,
    wait_log,
)
from suite import machine as suite_machine

from postback.domain.ids import hash_key, new_api_key, new_click_id, new_webhook_secret
from postback.domain.records import Click, Offer
from postback.settings import Settings
from postback.store import partitions
from postback.store.base import AttemptResult, IncomingEntry, PostbackCommand
from postback.store.factory import open_store
from postback.store.sql import Store
from postback.visitors.agents import read_agent
from postback.visitors.geo import bundled_place
from postback.visitors.profiler import Profiler
from postback.visitors.reader import VisitorReader

T = TypeVar("T")
DAY = timedelta(days=1)
BATCH = 20_000  # clicks per Store.insert_clicks
IN_FLIGHT = 64  # postbacks and attempts handed to the store at once
SIZE_DAYS = 7  # the sizes' clicks are spread over the last days
OLD_DAYS_BACK = 300  # the purge's old clicks: their newest day is this far back
OLD_CONVERSION_SHARE = 0.005  # of the old clicks, converted (kept for their conversions)
YOUNG_DAYS = 7  # days of young clicks beside the old ones, --per-day / 5 a day
RETAIN_CLICKS_DAYS = 90
CHUNK_SECONDS = 10  # one bench/loadgen.py run
WARMUP_SECONDS = 5
PURGE_DELAY = 2.0  # seconds into its chunk the purge starts
WATCH_INTERVAL = 0.25  # seconds between two looks at what the purge has left
CONNECTIONS = 32
ADMIN_KEY = "adm_bench_lifecycle_0123456789"
RESULTS = ROOT / "bench" / "results"
MARK_BEGIN = "<!-- bench:lifecycle:begin -->"
MARK_END = "<!-- bench:lifecycle:end -->"
# Where visitors come from (the Referer header), None: no header; weights.
REFERRERS: list[tuple[str | None, float]] = [
    (None, 35),
    ("https://www.google.com/", 12),
    ("https://m.facebook.com/", 10),
    ("https://l.instagram.com/", 5),
    ("https://t.co/{token}", 4),
    ("https://www.tiktok.com/", 5),
    ("https://news.{site}.example/{year}/{month}/{slug}-{n}.html", 15),
    ("https://{site}.example/blog/{slug}?utm_source=push&utm_campaign={token}", 10),
    ("android-app://com.google.android.gm/", 4),
]
SLUGS = ["best-deals", "review", "how-to-save", "top-10", "summer-sale", "compare", "guide"]
SITES = ["dailynews", "techradar", "moneytips", "sportsfan", "gamingzone", "travelnow"]


# ---- the traffic ------------------------------------------------------------------------


# Whether click ids carry their day (new_click_id(at)), as the click path makes them.
DATED_IDS = "at" in inspect.signature(new_click_id).parameters


def click_id(at: datetime) -> str:
    make: Callable[..., str] = new_click_id
    return make(at) if DATED_IDS else make()


def user_agents() -> list[str]:
    lines = USER_AGENTS.read_text().splitlines()
    return [line for line in lines if line and not line.startswith("#")]


@dataclass
class Visitor:
    ip: str
    user_agent: str
    country: str | None
    device: str | None
    os: str | None
    browser: str | None
    is_bot: bool
    hash: str | None


class Traffic:
    """Clicks as the click path stores them: each visitor (a public address and a real
    User-Agent) read once by the server's visitor reader (bundled country data, keyed
    hash), subs from affiliates' placements and traffic sources, referrers, costs."""

    def __init__(self, seed: int, visitors: int, offers: list[int], affiliates: list[int]):
        self.rng = random.Random(seed)
        reader = VisitorReader(Profiler(bundled_place, read_agent), anonymize_ip=False)
        reader.visitor_key = self.rng.randbytes(32)
        agents = user_agents()
        self.visitors = []
        for ip in public_ipv4(visitors, seed):
            agent = self.rng.choice(agents)
            seen = reader.read(ip, agent, None)
            place, kind = seen.profile.place, seen.profile.agent
            self.visitors.append(
                Visitor(
                    seen.stored_ip or ip,
                    agent,
                    place.country,
                    kind.device,
                    kind.os,
                    kind.browser,
                    kind.is_bot,
                    seen.visitor,
                )
            )
        self.pairs = [(o, a) for o in offers for a in affiliates]
        # Zipf-like weights: a few pairs carry most of the traffic.
        self.pair_weights = list(itertools.accumulate(1 / r for r in range(1, len(self.pairs) + 1)))
        self.referrer_weights = list(itertools.accumulate(w for _, w in REFERRERS))

    def referrer(self) -> str | None:
        rng = self.rng
        (template,) = rng.choices([r for r, _ in REFERRERS], cum_weights=self.referrer_weights)
        if template is None:
            return None
        return template.format(
            token=secrets.token_urlsafe(rng.randint(6, 12)),
            site=rng.choice(SITES),
            year=rng.randint(2023, 2026),
            month=f"{rng.randint(1, 12):02d}",
            slug=rng.choice(SLUGS),
            n=rng.randint(1, 99_999),
        )

    def clicks(self, start: datetime, seconds: float, count: int) -> list[Click]:
        """`count` clicks at random times in [start, start + seconds), in time order."""
        rng = self.rng
        times = sorted(rng.random() * seconds for _ in range(count))
        pairs = rng.choices(self.pairs, cum_weights=self.pair_weights, k=count)
        made = []
        for offset, (offer, affiliate) in zip(times, pairs, strict=True):
            who = rng.choice(self.visitors)
            source = secrets.token_hex(rng.choice((8, 12, 16))) if rng.random() < 0.6 else None
            creative = f"cr{rng.randint(1, 400)}" if rng.random() < 0.4 else None
            cost = Decimal(rng.randint(50, 40_000)).scaleb(-4) if rng.random() < 0.5 else None
            made.append(
                Click(
                    click_id=click_id(start + timedelta(seconds=offset)),
                    offer_id=offer,
                    affiliate_id=affiliate,
                    subs=(f"p{affiliate}-{rng.randint(1, 25)}", source, creative, None, None),
                    ip=who.ip,
                    user_agent=who.user_agent,
                    referrer=self.referrer(),
                    country=who.country,
                    created_at=start + timedelta(seconds=offset),
                    device=who.device,
                    os=who.os,
                    browser=who.browser,
                    is_bot=who.is_bot,
                    cost=cost,
                    visitor=who.hash,
                )
            )
        return made


@dataclass
class World:
    offers: dict[int, Offer]
    affiliates: list[int]
    token: str


async def make_world(store: Store, offers: int, affiliates: int, configs: bool) -> World:
    """An advertiser, offers and affiliates (ids from 1); with `configs`, two active
    postback configs for every affiliate, a POST with a JSON body and a GET."""
    token = secrets.token_urlsafe(18)
    advertiser = await store.create_advertiser(
        {
            "name": "bench advertiser",
            "postback_token": token,
            "require_token": True,
            "allowed_ips": [],
            "status_map": {},
        }
    )
    made = {}
    for n in range(offers):
        offer = await store.create_offer(
            {
                "advertiser_id": advertiser.id,
                "name": f"bench offer {n + 1}",
                "destination_url": "https://shop.example/landing?cid={click_id}&s={sub1}",
                "fallback_url": None,
                "revenue": Decimal("12.5"),
                "payout": Decimal("8"),
                "currency": "USD",
                "status": "active",
            }
        )
        made[offer.id] = offer
    ids = []
    for n in range(affiliates):
        affiliate = await store.create_affiliate(f"bench aff {n + 1}", hash_key(new_api_key("aff")))
        ids.append(affiliate.id)
        if not configs:
            continue
        common = {
            "affiliate_id": affiliate.id,
            "offer_id": None,
            "events": ["*"],
            "statuses": ["approved"],
            "active": True,
            "secret": new_webhook_secret(),
        }
        await store.create_postback(
            {
                **common,
                "url": f"https://tracker{n}.example/postback",
                "method": "POST",
                "body": '{"click_id":"{click_id}","txid":"{txid}","status":"{status}",'
                '"payout":"{payout}","currency":"{currency}","offer_id":"{offer_id}",'
                '"sub1":"{sub1}","sub2":"{sub2}"}',
                "content_type": "application/json",
            }
        )
        await store.create_postback(
            {
                **common,
                "url": f"https://partner{n}.example/pb?clickid={{sub2}}&cid={{click_id}}"
                "&txid={txid}&payout={payout}&status={status}",
                "method": "GET",
                "body": None,
                "content_type": "application/json",
            }
        )
    return World(made, ids, token)


def postback_command(click: Click, offer: Offer, token: str, at: datetime) -> PostbackCommand:
    """An approved sale for `click`, as an advertiser's GET postback brings it."""
    txid = f"ORD-{secrets.token_hex(6).upper()}"
    amount = Decimal(random.randint(900, 25_000)).scaleb(-2)
    query = (
        f"click_id={click.click_id}&txid={txid}&status=approved&amount={amount}"
        f"&currency=USD&token={token}"
    )
    log = IncomingEntry(
        received_at=at,
        method="GET",
        ip="198.51.100.23",
        query=query,
        body=None,
        http_status=200,
        result="pending",
        click_id=click.click_id,
    )
    return PostbackCommand(click, offer, "sale", txid, "approved", amount, "USD", at, log)


async def limited(jobs: Iterator[Any], limit: int = IN_FLIGHT) -> int:
    """Await the jobs, `limit` at once; how many ran."""
    done = 0
    pending: set[asyncio.Task[Any]] = set()
    for job in jobs:
        pending.add(asyncio.ensure_future(job))
        if len(pending) >= limit:
            finished, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in finished:
                task.result()
                done += 1
    for task in (await asyncio.wait(pending))[0] if pending else ():
        task.result()
        done += 1
    return done


async def insert(store: Store, made: list[Click]) -> None:
    for at in range(0, len(made), BATCH):
        await store.insert_clicks(made[at : at + BATCH])
        # PostgreSQL: each batch's rollup changes folded in, as the serve processes do.
        await store.fold_rollups()


async def make_days(store: Store, tables: list[str], first: date, last: date) -> None:
    """The partitions of `tables` holding the days from `first` to `last`, as a
    long-running install made them while those days were current (PostgreSQL only)."""
    if store.engine.dialect.name != "postgresql":
        return
    async with store.engine.begin() as conn:
        for table in tables:
            await conn.run_sync(partitions.ensure_days, table, first, last)


# ---- the databases ----------------------------------------------------------------------

_numbers = itertools.count(1)


class Db:
    """A fresh SQLite file in the run's directory, or a PostgreSQL database on 127.0.0.1
    made for one case and dropped after it."""

    def __init__(self, backend: str, work: Path, pg: str) -> None:
        self.backend = backend
        number = next(_numbers)
        self.pg = pg.rstrip("/")
        self.name = f"bench_lifecycle_{os.getpid()}_{number}"
        self.path = work / f"lifecycle-{number}.db"
        self.url = f"sqlite:///{self.path}" if backend == "sqlite" else f"{self.pg}/{self.name}"

    def __enter__(self) -> Db:
        if self.backend == "postgres":
            self.admin(f'CREATE DATABASE "{self.name}"')
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.backend == "postgres":
            self.admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        else:
            for suffix in ("", "-wal", "-shm", "-turn", "-purge"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)

    def admin(self, sql: str) -> list[tuple[Any, ...]]:
        return asyncio.run(self._run(f"{self.pg}/postgres", sql))

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        if self.backend == "sqlite":
            with contextlib.closing(sqlite3.connect(self.path, timeout=30)) as conn:
                return list(conn.execute(sql))
        return asyncio.run(self._run(self.url, sql))

    async def _run(self, dsn: str, sql: str) -> list[tuple[Any, ...]]:
        import asyncpg

        conn = await asyncpg.connect(dsn, server_settings={"application_name": APPLICATION_NAME})
        try:
            return [tuple(row) for row in await conn.fetch(sql)]
        finally:
            await conn.close()

    def count(self, table: str, where: str = "") -> int:
        return int(self.query(f"SELECT count(*) FROM {table} {where}")[0][0])

    def sizes(self) -> dict[str, int]:
        """Bytes on disk per table (its indexes, TOAST and partitions with it); "(free
        pages)" is SQLite's pages that no table holds."""
        if self.backend == "sqlite":
            with contextlib.closing(sqlite3.connect(self.path, timeout=30)) as conn:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                pages = conn.execute("PRAGMA page_count").fetchone()[0]
                size = conn.execute("PRAGMA page_size").fetchone()[0]
                found = {
                    str(name): int(used)
                    for name, used in conn.execute(
                        "SELECT coalesce(m.tbl_name, d.name), sum(d.pgsize) FROM dbstat d"
                        " LEFT JOIN sqlite_master m ON m.name = d.name GROUP BY 1"
                    )
                }
            free = pages * size - sum(found.values())
            if free:
                found["(free pages)"] = free
            return found
        self.query("VACUUM ANALYZE")
        rows = self.query(
            "SELECT coalesce(parent.relname, c.relname), sum(pg_total_relation_size(c.oid))"
            " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " LEFT JOIN pg_inherits i ON i.inhrelid = c.oid"
            " LEFT JOIN pg_class parent ON parent.oid = i.inhparent"
            " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'm') GROUP BY 1"
        )
        return {str(name): int(used) for name, used in rows}


# ---- sizes ------------------------------------------------------------------------------


COUNTED = (
    "clicks",
    "click_visitors",
    "conversions",
    "conversion_history",
    "deliveries",
    "delivery_attempts",
    "incoming_log",
)


def grown(before: dict[str, int], after: dict[str, int], per: int) -> dict[str, float]:
    """Bytes per unit per table, largest first (tables that did not change left out)."""
    delta = {t: (after.get(t, 0) - before.get(t, 0)) / per for t in set(before) | set(after)}
    return dict(sorted(((t, d) for t, d in delta.items() if d), key=lambda item: -item[1]))


def with_store(url: str, work: Callable[[Store], Awaitable[T]]) -> T:
    """`work` with a store of its own, opened and closed in one event loop."""

    async def run() -> T:
        store = open_store(Settings(database_url=url))
        assert isinstance(store, Store)
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(run())


def sizes(backend: str, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    now = datetime.now(UTC)
    start = now - SIZE_DAYS * DAY

    async def prepare(store: Store) -> World:
        await store.migrate()
        world = await make_world(store, 5, 20, configs=True)
        await make_days(store, list(partitions.PARTITIONED), start.date(), now.date())
        return world

    async def convert(store: Store, chosen: list[Click], world: World) -> tuple[int, int]:
        jobs = (
            store.record_postback(
                postback_command(
                    click,
                    world.offers[click.offer_id],
                    world.token,
                    min(now, click.created_at + timedelta(minutes=random.randint(5, 600))),
                )
            )
            for click in chosen
        )
        recorded = await limited(jobs)
        delivered = 0
        while claims := await store.claim_deliveries(
            limit=500, lease_seconds=600, now=datetime.now(UTC)
        ):
            delivered += await limited(
                store.finish_attempt(claim, attempt(claim)) for claim in claims
            )
        await store.fold_rollups()  # PostgreSQL: as the serve processes do meanwhile
        return recorded, delivered

    with Db(backend, work, args.pg) as db:
        world = with_store(db.url, prepare)
        baseline = db.sizes()
        started = time.perf_counter()
        visitors = max(1000, int(args.clicks * 0.8))
        traffic = Traffic(args.seed, visitors, list(world.offers), world.affiliates)
        made = traffic.clicks(start, (now - start).total_seconds() - 3600, args.clicks)
        with_store(db.url, lambda store: insert(store, made))
        click_seconds = time.perf_counter() - started
        after_clicks = db.sizes()
        chosen = random.Random(args.seed).sample(made, args.conversions)
        started = time.perf_counter()
        recorded, delivered = with_store(db.url, lambda store: convert(store, chosen, world))
        conversion_seconds = time.perf_counter() - started
        after_conversions = db.sizes()
        counts = {table: db.count(table) for table in COUNTED}
        counts["deliveries delivered"] = db.count("deliveries", "WHERE state = 'delivered'")
    clicks_bytes = sum(after_clicks.values()) - sum(baseline.values())
    conversion_bytes = sum(after_conversions.values()) - sum(after_clicks.values())
    result = {
        "clicks": args.clicks,
        "conversions": recorded,
        "deliveries finished": delivered,
        "rows": counts,
        "bytes": {
            "after migration": sum(baseline.values()),
            "after clicks": sum(after_clicks.values()),
            "after conversions": sum(after_conversions.values()),
        },
        "bytes per click": clicks_bytes / args.clicks,
        "bytes per conversion": conversion_bytes / recorded,
        "per click by table": grown(baseline, after_clicks, args.clicks),
        "per conversion by table": grown(after_clicks, after_conversions, recorded),
        "tables after conversions": after_conversions,
        "seconds": {
            "store clicks": click_seconds,
            "conversions and deliveries": conversion_seconds,
        },
    }
    print(
        f"  {backend} sizes: {result['bytes per click']:.0f} B/click, "
        f"{result['bytes per conversion']:.0f} B/conversion",
        flush=True,
    )
    return result


def attempt(claim: Any) -> AttemptResult:
    """The partner's 200 for a claimed delivery, as the worker records it."""
    delivery = claim.delivery
    return AttemptResult(
        attempt_no=delivery.attempts + 1,
        started_at=datetime.now(UTC),
        duration_ms=random.randint(20, 400),
        url=delivery.url,
        method=delivery.method,
        status_code=200,
        response_excerpt='{"status":"ok","message":"conversion recorded"}',
        error=None,
        success=True,
        next_attempt_at=None,
    )


# ---- the purge --------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    key: str
    backend: str
    label: str
    partitioned: bool  # old days in their time partitions (PostgreSQL)


CASES = {
    "sqlite": [Case("sqlite", "sqlite", "SQLite", False)],
    "postgres": [
        Case("postgres-spans", "postgres", "PostgreSQL, old rows in their time partitions", True),
        Case(
            "postgres-default", "postgres", "PostgreSQL, old rows in the default partition", False
        ),
    ],
}


def seed_purge(db: Db, case: Case, args: argparse.Namespace) -> dict[str, Any]:
    """The old days, a few of their clicks converted, and the young days."""
    now = datetime.now(UTC)
    last_old = (now - OLD_DAYS_BACK * DAY).date()
    first_old = last_old - (args.days - 1) * DAY
    started = time.perf_counter()

    async def run(store: Store) -> int:
        await store.migrate()
        world = await make_world(store, 5, 20, configs=False)
        visitors = min(200_000, args.per_day)
        traffic = Traffic(args.seed, visitors, list(world.offers), world.affiliates)
        tables = list(partitions.PARTITIONED)
        await make_days(store, tables, (now - YOUNG_DAYS * DAY).date(), now.date())
        if case.partitioned:
            await make_days(store, tables, first_old, last_old)
        converted = 0
        rng = random.Random(args.seed)
        for n in range(args.days):
            day = datetime.combine(first_old + n * DAY, datetime.min.time(), UTC)
            made = traffic.clicks(day, 86_400, args.per_day)
            await insert(store, made)
            sold = [click for click in made if rng.random() < OLD_CONVERSION_SHARE]
            converted += await limited(
                store.record_postback(
                    postback_command(
                        click,
                        world.offers[click.offer_id],
                        world.token,
                        click.created_at + timedelta(hours=1),
                    )
                )
                for click in sold
            )
            await store.fold_rollups()
            print(f"    old day {n + 1}/{args.days} stored", flush=True)
        for n in range(YOUNG_DAYS, 0, -1):
            await insert(store, traffic.clicks(now - n * DAY, 86_400 - 3600, args.per_day // 5))
        return converted

    converted = with_store(db.url, run)
    if db.backend == "postgres":
        db.query("VACUUM ANALYZE")
    cutoff = now - RETAIN_CLICKS_DAYS * DAY
    old = f"WHERE created_at < {to_us(cutoff)}"
    seeded = {
        "old days": args.days,
        "old clicks": db.count("clicks", old),
        "old conversions": converted,
        "young clicks": db.count("clicks") - db.count("clicks", old),
        "click_visitors": db.count("click_visitors"),
        "incoming_log": db.count("incoming_log"),
        "seconds": time.perf_counter() - started,
    }
    if db.backend == "postgres":
        seeded["clicks_default rows"] = db.count("clicks_default")
        seeded["clicks time partitions"] = (
            len(
                db.query(
                    "SELECT 1 FROM pg_inherits JOIN pg_class p ON p.oid = inhparent"
                    " WHERE p.relname = 'clicks'"
                )
            )
            - 1
        )
    return seeded


def to_us(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


class Server:
    """`postback serve --no-worker` on core 0: the click path without the workers' hourly
    purge (and without deliveries, which this load does not make)."""

    def __init__(self, db: Db, work: Path) -> None:
        self.port = free_port()
        self.log = work / f"server-{db.name}.log"
        self.env = {
            **os.environ,
            "POSTBACK_DATABASE_URL": db.url,
            "POSTBACK_ADMIN_KEY": ADMIN_KEY,
            "COLUMNS": "200",
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                pinned(
                    SERVER_CORE,
                    [str(BIN / "postback"), "serve", "--no-worker", "--port", str(self.port)],
                ),
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_http(f"http://127.0.0.1:{self.port}/healthz")
            wait_log(self.log, "postback.runtime started", 1, alive=self.proc)
        except RuntimeError:
            print(tail(self.log), file=sys.stderr)
            stop(self.proc)
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.proc is not None:
            stop(self.proc)


@dataclass
class Request:
    due: float
    latency_ms: float | None  # None: no reply
    ok: bool


@dataclass
class PurgeRun:
    argv: list[str]
    env: dict[str, str]
    proc: subprocess.Popen[str] | None = None
    started: float = 0.0
    ended: float = 0.0
    out: str = ""
    err: str = ""
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self.started = time.time()
        self.proc = subprocess.Popen(
            pinned(SERVER_CORE, self.argv),
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._thread = threading.Thread(target=self._wait, daemon=True)
        self._thread.start()

    def _wait(self) -> None:
        assert self.proc is not None
        self.out, self.err = self.proc.communicate()
        self.ended = time.time()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.ended == 0.0

    def join(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)
        if self.running and self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(15)
            if self.proc.poll() is None:
                self.proc.kill()
            if self._thread is not None:
                self._thread.join(30)


class Watcher:
    """While the purge runs, every WATCH_INTERVAL from a thread and connection of its
    own: whether an old click is left (one index probe) and, on SQLite, the free pages;
    when the last old click went."""

    def __init__(self, db: Db, before_us: int) -> None:
        self.db = db
        self.probe = f"SELECT EXISTS (SELECT 1 FROM clicks WHERE created_at < {before_us})"
        self.clicks_gone = 0.0
        self.free_pages: list[tuple[float, int]] = []  # (seconds since start, pages)
        self.error = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="purge-watcher", daemon=True)
        self._started = 0.0

    def start(self) -> None:
        self._started = time.time()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)

    def _seen(self, left: bool, free: int | None) -> None:
        now = time.time()
        if not left and not self.clicks_gone:
            self.clicks_gone = now
        if free is not None:
            self.free_pages.append((round(now - self._started, 2), free))

    def _run(self) -> None:
        try:
            if self.db.backend == "sqlite":
                with contextlib.closing(sqlite3.connect(self.db.path, timeout=30)) as conn:
                    while not self._stop.wait(WATCH_INTERVAL):
                        left = bool(conn.execute(self.probe).fetchone()[0])
                        self._seen(left, conn.execute("PRAGMA freelist_count").fetchone()[0])
            else:
                asyncio.run(self._postgres())
        except Exception as exc:
            self.error = repr(exc)

    async def _postgres(self) -> None:
        import asyncpg

        conn = await asyncpg.connect(
            self.db.url, server_settings={"application_name": APPLICATION_NAME}
        )
        try:
            while not self._stop.is_set():
                await asyncio.sleep(WATCH_INTERVAL)
                self._seen(bool(await conn.fetchval(self.probe)), None)
        finally:
            await conn.close()


def summary(text: str) -> dict[str, int]:
    """The counts of `postback purge`'s table."""
    names = {
        "clicks": "clicks",
        "of which kept for their conversions": "kept_clicks",
        "unique-click memories": "visitors",
        "incoming log": "incoming",
        "delivery attempts": "attempts",
        "Test button sends": "tests",
        "delivered bodies": "bodies",
    }
    found = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in re.split(r"[│┃|]", line)]
        cells = [cell for cell in cells if cell]
        if len(cells) >= 2 and cells[0] in names and cells[-1].isdigit():
            found[names[cells[0]]] = int(cells[-1])
    return found


def chunk(
    port: int, rate: float, work: Path, tag: str, seconds: int = CHUNK_SECONDS
) -> list[Request]:
    """One bench/loadgen.py run: GET /click, each with a tag of its own (the server
    ignores it) so that each reply is matched to the time it was due."""
    paths = work / "clicks.txt"
    count = int(rate * seconds)
    paths.write_text(
        "\n".join(f"/click?offer_id=1&aff_id=1&sub1=load&txid={tag}-{n}" for n in range(count))
    )
    got = run_loadgen(port, rate, seconds, paths, CONNECTIONS, 15, work / "clicks.json")
    found = []
    for n in range(count):
        txid = f"{tag}-{n}"
        if txid in got["due_at"]:
            due = got["due_at"][txid]
            status = got["status_of"][txid]
            found.append(Request(due, (got["replied_at"][txid] - due) * 1000, status < 400))
    # Those never answered: due at their place in the schedule, no latency.
    return found + [Request(0.0, None, False)] * (count - len(found))


def window(requests: list[Request], seconds: float) -> dict[str, float]:
    answered = [r.latency_ms for r in requests if r.latency_ms is not None and r.ok]
    return {
        "requests": float(len(requests)),
        "failed": float(len(requests) - len(answered)),
        "seconds": seconds,
        "p50 ms": percentile(answered, 0.50),
        "p99 ms": percentile(answered, 0.99),
        "max ms": max(answered, default=float("nan")),
    }


def loadavg() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def purge_case(case: Case, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    print(f"  {case.label}: seeding", flush=True)
    with Db(case.backend, work, args.pg) as db:
        seeded = seed_purge(db, case, args)
        print(f"  {case.label}: {seeded}", flush=True)
        env = {
            **os.environ,
            "POSTBACK_DATABASE_URL": db.url,
            "POSTBACK_RETAIN_CLICKS_DAYS": str(RETAIN_CLICKS_DAYS),
            "COLUMNS": "200",
        }
        argv = [str(BIN / "postback"), "purge"]
        cutoff_us = to_us(datetime.now(UTC) - RETAIN_CLICKS_DAYS * DAY)
        load = {"before": loadavg()}
        requests: list[Request] = []
        purge = PurgeRun(argv, env)
        watcher = Watcher(db, cutoff_us)

        def begin() -> None:
            purge.start()
            watcher.start()

        with Server(db, work) as server:
            chunk(server.port, args.rate, work, "warm", WARMUP_SECONDS)  # discarded
            chunks = itertools.count()
            for _ in range(args.seconds // CHUNK_SECONDS):
                requests += chunk(server.port, args.rate, work, f"c{next(chunks)}")
            # The purge starts PURGE_DELAY into a chunk; chunks go on while it runs.
            timer = threading.Timer(PURGE_DELAY, begin)
            timer.start()
            deadline = time.monotonic() + args.max_purge_seconds
            try:
                while True:
                    requests += chunk(server.port, args.rate, work, f"c{next(chunks)}")
                    if not purge.running:
                        break
                    load["during"] = loadavg()
                    if time.monotonic() > deadline:
                        print("  the purge ran past --max-purge-seconds: stopped", flush=True)
                        break
            finally:
                timer.join()
                purge.join(30)
                watcher.stop()
            load.setdefault("during", loadavg())
            for _ in range(args.seconds // CHUNK_SECONDS):
                requests += chunk(server.port, args.rate, work, f"c{next(chunks)}")
            # The command's fixed cost: a purge with nothing left to remove.
            again = PurgeRun(argv, env)
            again.start()
            again.join(300)
        load["after"] = loadavg()
        counted = summary(purge.out)
        left = db.count("clicks", f"WHERE created_at < {cutoff_us}")
    start, end = purge.started, purge.ended or time.time()
    gone = watcher.clicks_gone or end
    wall = end - start
    answered = [r for r in requests if r.due]
    before_purge = [r for r in answered if r.due < start]
    during = [r for r in answered if start <= r.due <= end]
    after = [r for r in answered if r.due > end]
    deleting = [r for r in during if r.due <= gone]
    rows = sum(v for k, v in counted.items() if k != "kept_clicks")
    result: dict[str, Any] = {
        "case": case.label,
        "seeded": seeded,
        "rate": args.rate,
        "purge": {
            "exit": purge.proc.returncode if purge.proc else None,
            "wall seconds": wall,
            "summary": counted,
            "rows removed": rows,
            "rows/s": rows / wall,
            "old clicks gone after seconds": gone - start,
            "clicks/s until the last old click went": counted.get("clicks", 0) / (gone - start),
            "old clicks left": left,
            "sqlite free pages (seconds, pages)": watcher.free_pages[::20],
            "watcher error": watcher.error,
            "stderr tail": purge.err[-2000:],
            "empty purge wall seconds": (again.ended or time.time()) - again.started,
        },
        "clicks": {
            "without purge": window(before_purge + after, 0.0),
            "before purge": window(before_purge, 0.0),
            "during purge": window(during, wall),
            "while clicks are deleted": window(deleting, gone - start),
            "after the last old click went": window(during[len(deleting) :], end - gone),
            "after purge": window(after, 0.0),
            "never answered": sum(1 for r in requests if not r.due),
        },
        "load average": load,
    }
    clicks = result["clicks"]
    p99_without = clicks["without purge"]["p99 ms"]
    for name in ("p50", "p99"):
        result[f"{name} during / without"] = (
            clicks["during purge"][f"{name} ms"] / clicks["without purge"][f"{name} ms"]
        )
    print(
        f"  {case.label}: {rows:,} rows in {wall:.1f}s ({result['purge']['rows/s']:,.0f}/s); "
        f"click p99 {clicks['during purge']['p99 ms']:.1f} ms during, {p99_without:.1f} ms without",
        flush=True,
    )
    return result


# ---- the report -------------------------------------------------------------------------


def machine() -> dict[str, str]:
    """The suite's description of the machine, with SQLite's version instead of nginx's."""
    found = {key: value for key, value in suite_machine().items() if key != "nginx"}
    return {**found, "sqlite": sqlite3.sqlite_version}


def uptime() -> str:
    out = subprocess.run(["uptime"], capture_output=True, text=True, check=False)
    return out.stdout.strip() or f"load average {loadavg()}"


def ms(value: float) -> str:
    return "-" if value != value else f"{value:.1f}"  # NaN: no request in the window


def kb(value: float) -> str:
    return f"{value:,.0f}"


def render(results: dict[str, dict[str, Any]]) -> str:
    lines = []
    for backend, got in results.items():
        run = got["run"]
        database = f"SQLite {run['machine']['sqlite']}"
        if backend == "postgres":
            database = run.get("database", "PostgreSQL")
        lines.append(
            f"- **{backend}**: run {run['at']}, `{run['command']}`; {run['machine']['nproc']} "
            f"cores ({run['machine']['cpu']}), {database}; "
            f"`uptime` before: {run['uptime before']}; after: {run['uptime after']}."
        )
    lines += [
        "",
        "**Bytes on disk** (growth / rows added; indexes, TOAST and partitions with their table):",
        "",
        "| backend | clicks | bytes per click | conversions | bytes per conversion "
        "(history, 2 deliveries, 2 attempts, 1 log row) |",
        "|---|---:|---:|---:|---:|",
    ]
    for backend, got in results.items():
        s = got["sizes"]
        lines.append(
            f"| {backend} | {s['clicks']:,} | **{kb(s['bytes per click'])}** "
            f"| {s['conversions']:,} | **{kb(s['bytes per conversion'])}** |"
        )
    lines += ["", "Per table, bytes per click / per conversion:", ""]
    tables: list[str] = []
    for got in results.values():
        s = got["sizes"]
        for name in [*s["per click by table"], *s["per conversion by table"]]:
            if name not in tables:
                tables.append(name)
    header = " | ".join(f"{backend} per click | {backend} per conversion" for backend in results)
    lines += [f"| table | {header} |", "|---|" + "---:|" * (2 * len(results))]
    for name in tables:
        cells = []
        for got in results.values():
            s = got["sizes"]
            for key in ("per click by table", "per conversion by table"):
                value = s[key].get(name)
                cells.append(kb(value) if value is not None else "")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "**Purge while clicks arrive**: what `postback purge` removed (its own summary: "
        "clicks, of which kept for their conversions, unique-click memories, incoming-log "
        "rows) over the command's wall time; when the last old click was gone (a probe every "
        f"{WATCH_INTERVAL:g} s); the same command once more with nothing left (its fixed "
        "cost: start-up, migration check, empty passes).",
        "",
        "| case | rows removed (clicks, kept, memories, log) | purge wall s | rows/s "
        "| last old click gone after s (clicks/s) | empty purge s | load avg before / during |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    cases = [case for got in results.values() for case in got["purge"]]
    for case in cases:
        p = case["purge"]
        s = p["summary"]
        lines.append(
            f"| {case['case']} | {p['rows removed']:,} ({s.get('clicks', 0):,}, "
            f"{s.get('kept_clicks', 0):,}, {s.get('visitors', 0):,}, {s.get('incoming', 0):,}) "
            f"| {p['wall seconds']:.1f} | **{p['rows/s']:,.0f}** "
            f"| {p['old clicks gone after seconds']:.1f} "
            f"({p['clicks/s until the last old click went']:,.0f}) "
            f"| {p['empty purge wall seconds']:.1f} "
            f"| {case['load average']['before']} / {case['load average']['during']} |"
        )
    lines += [
        "",
        "Click latency in the same run (GET /click at the rate, open loop, from each "
        "request's scheduled time; *without* = the windows before and after the purge; "
        "*during* split at the moment the last old click was gone):",
        "",
        "| case | rate/s | window | requests | p50 ms | p99 ms | max ms |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    shown = [
        ("before purge", "before the purge"),
        ("after purge", "after the purge"),
        ("without purge", "**without** (before + after)"),
        ("during purge", "**during** the purge"),
        ("while clicks are deleted", "... while old clicks are removed"),
        ("after the last old click went", "... after the last old click went"),
    ]
    for case in cases:
        c = case["clicks"]
        for key, label in shown:
            w = c[key]
            lines.append(
                f"| {case['case']} | {case['rate']:,.0f} | {label} | {int(w['requests']):,} "
                f"| {ms(w['p50 ms'])} | {ms(w['p99 ms'])} | {ms(w['max ms'])} |"
            )
    lines += [
        "",
        "| case | p50 during / without | p99 during / without | requests not answered |",
        "|---|---:|---:|---:|",
    ]
    for case in cases:
        c = case["clicks"]
        failed = int(c["without purge"]["failed"] + c["during purge"]["failed"])
        lines.append(
            f"| {case['case']} | {case['p50 during / without']:.2f}x "
            f"| **{case['p99 during / without']:.2f}x** | {failed + c['never answered']} |"
        )
    return "\n".join(lines) + "\n"


def update_docs(text: str) -> None:
    doc = ROOT / "docs" / "BENCHMARKS.md"
    body = doc.read_text()
    block = f"{MARK_BEGIN}\n{text}{MARK_END}"
    if MARK_BEGIN not in body:
        raise SystemExit(f"docs/BENCHMARKS.md has no {MARK_BEGIN}: add it to its section")
    body = re.sub(
        re.escape(MARK_BEGIN) + ".*?" + re.escape(MARK_END), lambda _m: block, body, flags=re.S
    )
    doc.write_text(body)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--clicks", type=int, default=200_000, help="clicks of the sizes")
    parser.add_argument("--conversions", type=int, default=20_000, help="of those clicks")
    parser.add_argument("--days", type=int, default=10, help="old days for the purge")
    parser.add_argument("--per-day", type=int, default=100_000, help="old clicks per day")
    parser.add_argument("--rate", type=float, default=500, help="clicks/s during the purge")
    parser.add_argument(
        "--seconds", type=int, default=20, help="load without purge, before it and after it"
    )
    parser.add_argument("--max-purge-seconds", type=float, default=1800)
    parser.add_argument("--seed", type=int, default=20_270_101)
    parser.add_argument(
        "--pg", default=os.environ.get("POSTBACK_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
    )
    parser.add_argument("--no-docs", action="store_true", help="leave docs/BENCHMARKS.md alone")
    args = parser.parse_args()
    # Stopped from outside: unwind, so that servers, purges and databases go too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if not any(h in args.pg for h in ("@127.0.0.1", "@localhost", "@[::1]")):
        parser.error("--pg must point at 127.0.0.1")
    if not 0 < args.conversions <= args.clicks or args.days < 1 or args.per_day < 10:
        parser.error("--conversions must be 1..--clicks, --days >= 1, --per-day >= 10")
    args.seconds = max(CHUNK_SECONDS, args.seconds - args.seconds % CHUNK_SECONDS)
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    RESULTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="postback-lifecycle-") as tmp:
        work = Path(tmp)
        for backend in backends:
            print(f"{backend}:", flush=True)
            before = uptime()
            got: dict[str, Any] = {
                "run": {
                    "at": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
                    "command": " ".join(["bench/lifecycle.py", *sys.argv[1:]]),
                    "machine": machine(),
                    "uptime before": before,
                    "options": {k: v for k, v in vars(args).items() if k != "pg"},
                }
            }
            if backend == "postgres":
                version = Db(backend, work, args.pg).admin("SHOW server_version")[0][0]
                got["run"]["database"] = f"PostgreSQL {version}"
            got["sizes"] = sizes(backend, work, args)
            got["purge"] = [purge_case(case, work, args) for case in CASES[backend]]
            got["run"]["uptime after"] = uptime()
            out = RESULTS / f"lifecycle-{backend}.json"
            out.write_text(json.dumps(got, indent=2) + "\n")
            print(f"  wrote {out.relative_to(ROOT)}", flush=True)
    found = {}
    for backend in ("sqlite", "postgres"):
        path = RESULTS / f"lifecycle-{backend}.json"
        if path.exists():
            found[backend] = json.loads(path.read_text())
    text = render(found)
    print(text)
    if not args.no_docs:
        update_docs(text)


if __name__ == "__main__":
    main()
