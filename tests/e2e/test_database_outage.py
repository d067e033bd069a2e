"""The database goes away under load: 503 in the error shape while it is away, recovery
on its own, and nothing that was acknowledged is lost.

PostgreSQL is reached through a TCP proxy on 127.0.0.1 that the test cuts and restores
(a real outage for the server, while the machine's shared PostgreSQL keeps serving the
other tests). SQLite meets a disk that refuses writes (a file size limit on the server
process) and a write lock held by another process.
"""

from __future__ import annotations

import asyncio
import resource
import sqlite3
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from postback.settings import Settings
from postback.store.factory import open_store
from tests.e2e.harness import Receiver, ServerProcess, eventually
from tests.e2e.network import add_postback, create_network
from tests.e2e.tcpproxy import TcpProxy
from tests.e2e.traffic import (
    Ledger,
    Traffic,
    is_unavailable_shape,
    missing_clicks,
    postback_problems,
    stored_conversions,
)
from tests.reliability_report import record

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

OUTAGE_SECONDS = 3.0


def through(url: str, port: int) -> str:
    """The same database URL, reached on another port of 127.0.0.1."""
    parts = urlsplit(url)
    return parts._replace(netloc=f"{parts.username}@127.0.0.1:{port}").geturl()


async def settle(server: ServerProcess, receiver: Receiver, ledger: Ledger, url: str) -> None:
    """Every acknowledged click and postback is stored once; every delivery arrived."""
    assert ledger.unexpected == [], ledger.unexpected[:5]
    store = open_store(Settings(database_url=url))
    try:
        assert await missing_clicks(store, ledger.clicks) == []
        offer_id = int(await server_offer_id(server))
        stored = await stored_conversions(store, offer_id)
        assert postback_problems(ledger, stored) == []
        owed = {(c.conversion.txid, c.conversion.status) for cs in stored.values() for c in cs}
    finally:
        await store.close()

    def arrived() -> bool:
        seen = {(r.query["t"], r.query["s"]) for r in receiver.at("/owed")}
        return owed <= seen

    await eventually(arrived, timeout=60)


async def server_offer_id(server: ServerProcess) -> int:
    async with server.admin() as admin:
        answer = await admin.get("/offers")
        assert answer.status_code == 200, answer.text
        return int(answer.json()["items"][0]["id"])


async def start_network(server: ServerProcess, receiver: Receiver) -> Traffic:
    async with server.admin() as admin:
        net = await create_network(admin)
        await add_postback(
            admin,
            affiliate_id=net.affiliate["id"],
            url=receiver.url("/owed?t={txid}&s={status}"),
            statuses=["*"],
        )
    return Traffic(server.base_url, net, timeout=30).start()


@pytest.mark.postgres
async def test_postgres_outage_answers_503_and_recovers(
    pg_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    proxy = await TcpProxy("127.0.0.1", urlsplit(pg_url).port or 5432).start()
    server = ServerProcess(through(pg_url, proxy.port), tmp_path)
    # Started from a thread: the proxy lives on this event loop and must keep serving.
    await asyncio.to_thread(server.start)
    try:
        traffic = await start_network(server, receiver)
        await eventually(lambda: traffic.ledger.acked_postbacks > 20, timeout=20)
        pid = server.pid

        await proxy.cut()
        cut_at = time.monotonic()
        async with server.client() as client:
            await eventually(lambda: traffic.ledger.answers[503] > 5, timeout=20)
            during = await client.get("/healthz")
            assert during.status_code == 503
            assert is_unavailable_shape(during)
            await asyncio.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - cut_at)))
            acked_before = traffic.ledger.acked_postbacks
            await proxy.restore()

            # Recovery needs nobody: the same process answers again.
            await eventually(lambda: traffic.ledger.acked_postbacks > acked_before + 20, timeout=30)
            assert (await client.get("/healthz")).status_code == 200
        assert server.pid == pid and server.alive()
        ledger = await traffic.stop()

        assert ledger.answers[500] == 0
        assert set(ledger.answers) <= {200, 302, 503}, ledger.answers
        await settle(server, receiver, ledger, pg_url)
        record(
            "database",
            postgres_outages=1,
            answers_503=ledger.answers[503],
            acked_postbacks=ledger.acked_postbacks,
            lost=0,
        )
    finally:
        await asyncio.to_thread(server.stop)
        await proxy.stop()


def _largest_file(directory: Path) -> int:
    return max(path.stat().st_size for path in directory.iterdir() if path.is_file())


async def test_sqlite_disk_refusing_writes_answers_503_without_corruption(
    tmp_path: Path, receiver: Receiver
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    url = f"sqlite:///{data / 'postback.db'}"
    server = ServerProcess(url, tmp_path)
    server.start()
    assert server.pid is not None
    try:
        traffic = await start_network(server, receiver)
        await eventually(lambda: traffic.ledger.acked_postbacks > 20, timeout=20)

        # No file of the server may grow past its current size (+ a little): from the
        # database's point of view the disk is full.
        limit = _largest_file(data) + 32_768
        resource.prlimit(server.pid, resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
        await eventually(lambda: traffic.ledger.answers[503] > 5, timeout=30)
        async with server.client() as client:
            refused = await client.get(
                "/click",
                params={
                    "offer_id": traffic.network.offer["id"],
                    "aff_id": traffic.network.affiliate["id"],
                },
            )
            assert refused.status_code == 503
            assert refused.json()["error"]["message"].startswith("the database cannot write")

        # Space again: the same process recovers by itself.
        acked_before = traffic.ledger.acked_postbacks
        unlimited = (resource.RLIM_INFINITY, resource.RLIM_INFINITY)
        resource.prlimit(server.pid, resource.RLIMIT_FSIZE, unlimited)
        await eventually(lambda: traffic.ledger.acked_postbacks > acked_before + 20, timeout=30)
        ledger = await traffic.stop()
        assert server.alive()

        assert ledger.answers[500] == 0
        assert set(ledger.answers) <= {200, 302, 503}, ledger.answers
        await settle(server, receiver, ledger, url)
        with sqlite3.connect(data / "postback.db") as check:
            assert check.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        record("database", sqlite_disk_full=1, answers_503=ledger.answers[503], lost=0)
    finally:
        server.stop()


def hold_write_lock(path: Path) -> sqlite3.Connection:
    holder = sqlite3.connect(path, isolation_level=None, timeout=60, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    return holder


def release(holder: sqlite3.Connection) -> None:
    holder.execute("ROLLBACK")
    holder.close()


async def test_sqlite_locked_by_another_process_answers_503_and_recovers(
    tmp_path: Path, receiver: Receiver
) -> None:
    url = f"sqlite:///{tmp_path / 'postback.db'}"
    server = ServerProcess(url, tmp_path)
    server.start()
    try:
        traffic = await start_network(server, receiver)
        await eventually(lambda: traffic.ledger.acked_postbacks > 20, timeout=20)

        # Another program takes the write lock and sits on it past the busy timeout
        # (from a thread: taking it may wait for the server's own writes to finish).
        holder = await asyncio.to_thread(hold_write_lock, tmp_path / "postback.db")
        try:
            async with server.client() as client:
                refused = await client.get(
                    "/click",
                    params={
                        "offer_id": traffic.network.offer["id"],
                        "aff_id": traffic.network.affiliate["id"],
                    },
                    timeout=90,
                )
            assert refused.status_code == 503
            assert "locked" in refused.json()["error"]["message"]
            await eventually(lambda: traffic.ledger.answers[503] > 0, timeout=60)
        finally:
            await asyncio.to_thread(release, holder)

        acked_before = traffic.ledger.acked_postbacks
        await eventually(lambda: traffic.ledger.acked_postbacks > acked_before + 20, timeout=30)
        ledger = await traffic.stop()
        assert ledger.answers[500] == 0
        assert set(ledger.answers) <= {200, 302, 503}, ledger.answers
        await settle(server, receiver, ledger, url)
        with sqlite3.connect(tmp_path / "postback.db") as check:
            assert check.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        record("database", sqlite_locked=1, answers_503=ledger.answers[503], lost=0)
    finally:
        server.stop()
