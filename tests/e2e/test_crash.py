"""SIGKILL the server and the delivery worker at random moments under steady traffic;
afterwards nothing acknowledged is missing, nothing is counted twice, and every owed
delivery reached its partner at least once, duplicates recognisably so.

CI runs POSTBACK_CRASH_KILLS=20 (the default) per backend; `make crash-test` runs 200.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import pytest
from standardwebhooks import Webhook

from postback.domain.records import Delivery
from postback.settings import Settings
from postback.store.factory import open_store
from postback.store.sql import Store
from tests.e2e.harness import Received, Receiver, ServerProcess, WorkerProcess, eventually
from tests.e2e.network import add_postback, create_network
from tests.e2e.traffic import (
    Ledger,
    StoredConversion,
    Traffic,
    missing_clicks,
    postback_problems,
    stored_conversions,
)
from tests.reliability_report import record

KILLS = int(os.environ.get("POSTBACK_CRASH_KILLS", "20"))
# Each kill costs a restart (one to two seconds) plus the traffic between kills.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(150 + KILLS * 6)]

RETRY_SCHEDULE = ",".join(["0.2", "0.5"] + ["1"] * 48)


async def all_deliveries(store: Store, postback_id: int) -> list[Delivery]:
    found: list[Delivery] = []
    cursor: str | None = None
    while True:
        page = await store.list_deliveries(
            filters={"postback_id": postback_id}, limit=1000, cursor=cursor
        )
        found.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            return found


def owed_changes(stored: dict[str, list[StoredConversion]]) -> set[tuple[int, str]]:
    """(conversion id, status) of every change stored: each owes one delivery per config."""
    return {
        (item.conversion.id, change.to_status)
        for items in stored.values()
        for item in items
        for change in item.history
    }


def enqueued_once(deliveries: list[Delivery], owed: set[tuple[int, str]]) -> list[str]:
    counted: dict[tuple[int, str], int] = defaultdict(int)
    for delivery in deliveries:
        counted[(delivery.conversion_id, delivery.status)] += 1
    problems = [f"{key}: {n} deliveries" for key, n in counted.items() if n != 1]
    problems += [f"{key}: no delivery" for key in owed - set(counted)]
    return problems


class Killer:
    """Kills the server or the worker, at random, and starts it again at once."""

    def __init__(self, server: ServerProcess, worker: WorkerProcess) -> None:
        self.server = server
        self.worker = worker
        self.kills = {"server": 0, "worker": 0}

    async def one(self, index: int) -> None:
        # Mostly random, but both processes die in every run, even a short one.
        if index % 4 == 0:
            target = "server" if index % 8 == 0 else "worker"
        else:
            target = random.choice(("server", "server", "worker"))
        self.kills[target] += 1
        if target == "server":
            await asyncio.to_thread(self.server.kill)
            await asyncio.to_thread(self.server.start)
        else:
            await asyncio.to_thread(self.worker.kill)
            self.worker.start()


async def test_sigkill_loses_nothing(database_url: str, tmp_path: Path) -> None:
    receiver = await Receiver(failure_rate=0.2).start()
    server = ServerProcess(
        database_url,
        tmp_path,
        POSTBACK_RETRY_SCHEDULE=RETRY_SCHEDULE,
        POSTBACK_DELIVERY_TIMEOUT="2",
    )
    worker = WorkerProcess(server)
    traffic: Traffic | None = None
    try:
        server.start()
        worker.start()
        async with server.admin() as admin:
            net = await create_network(admin)
            as_get = await add_postback(
                admin,
                affiliate_id=net.affiliate["id"],
                url=receiver.url("/get?c={conversion_id}&s={status}&t={txid}"),
                statuses=["*"],
            )
            as_post = await add_postback(
                admin,
                affiliate_id=net.affiliate["id"],
                url=receiver.url("/post"),
                method="POST",
                statuses=["*"],
            )
        traffic = Traffic(server.base_url, net).start()
        killer = Killer(server, worker)
        for index in range(KILLS):
            await asyncio.sleep(random.uniform(0.2, 0.8))
            await killer.one(index)
        await asyncio.sleep(0.5)
        ledger = await traffic.stop()
        traffic = None
        receiver.failure_rate = 0.0

        figures = await check_everything_kept(
            database_url, ledger, receiver, as_get, as_post, net.offer["id"]
        )
        record(
            "crash",
            runs=1,
            server_kills=killer.kills["server"],
            worker_kills=killer.kills["worker"],
            **figures,
            lost=0,
        )
    finally:
        if traffic is not None:
            await traffic.stop()
        worker.stop()
        server.stop()
        await receiver.stop()


async def check_everything_kept(
    database_url: str,
    ledger: Ledger,
    receiver: Receiver,
    as_get: dict[str, object],
    as_post: dict[str, object],
    offer_id: int,
) -> dict[str, int]:
    assert ledger.unexpected == [], ledger.unexpected[:5]
    assert ledger.acked_postbacks >= KILLS * 3, "too little traffic got through to test anything"
    store = open_store(Settings(database_url=database_url))
    try:
        # Every click that got its 302 is stored.
        assert await missing_clicks(store, ledger.clicks) == []
        # Every acknowledged postback is one conversion with its full history.
        stored = await stored_conversions(store, offer_id)
        assert postback_problems(ledger, stored) == []
        # Every stored change owes exactly one delivery per config ...
        owed = owed_changes(stored)
        get_id, post_id = int(str(as_get["id"])), int(str(as_post["id"]))
        for config_id in (get_id, post_id):
            found = await all_deliveries(store, config_id)
            assert enqueued_once(found, owed) == []

        # ... and every one of them reaches the partner.
        async def all_delivered() -> bool:
            for config_id in (get_id, post_id):
                states = {d.state for d in await all_deliveries(store, config_id)}
                if states != {"delivered"}:
                    return False
            return True

        await eventually(all_delivered, timeout=90, interval=0.5)
        post_deliveries = await all_deliveries(store, post_id)
    finally:
        await store.close()

    duplicates = check_receipts(receiver, owed, post_deliveries, str(as_post["secret"]))
    return {
        "clicks": len(ledger.clicks),
        "acked_postbacks": ledger.acked_postbacks,
        "conversions": len(stored),
        "deliveries": 2 * len(owed),
        "duplicate_receipts": duplicates,
    }


def signed_by(secret: str, received: Received) -> bool:
    """The reference library's signature check, without its five-minute freshness window
    (a long run checks receipts long after they arrived)."""
    headers = received.headers
    moment = datetime.fromtimestamp(int(headers["webhook-timestamp"]), UTC)
    body = received.body.decode()
    expected = Webhook(secret).sign(msg_id=headers["webhook-id"], timestamp=moment, data=body)
    return str(expected) in headers["webhook-signature"].split(" ")


def check_receipts(
    receiver: Receiver, owed: set[tuple[int, str]], posted: list[Delivery], secret: str
) -> int:
    """At least once for every delivery; a duplicate names the same conversion and status
    (GET) or carries the same webhook-id (POST), so the partner can drop it."""
    got = receiver.at("/get")
    assert {(int(r.query["c"]), r.query["s"]) for r in got} >= owed
    message_ids = {(d.conversion_id, d.status): d.message_id for d in posted}
    seen_posts = receiver.at("/post")
    for received in seen_posts:
        assert signed_by(secret, received)
        event = json.loads(received.body)
        key = (int(event["conversion_id"]), str(event["status"]))
        assert received.headers["webhook-id"] == message_ids[key], key
    assert {r.headers["webhook-id"] for r in seen_posts} == set(message_ids.values())
    unique_gets = {r.path_qs for r in got}
    unique_posts = {r.headers["webhook-id"] for r in seen_posts}
    return len(got) - len(unique_gets) + len(seen_posts) - len(unique_posts)
