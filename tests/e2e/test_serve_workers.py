"""`postback serve --workers N`: N processes on one port, kept running, stopped together."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import Receiver, ServerProcess, eventually
from tests.e2e.network import add_postback, click, create_network

pytestmark = pytest.mark.e2e


def children(pid: int) -> list[int]:
    found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return sorted(int(child) for child in found)


@pytest.fixture
def two(database_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(database_url, tmp_path, args=("--workers", "2"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def test_two_processes_share_the_port_and_a_killed_one_comes_back(
    two: ServerProcess, receiver: Receiver
) -> None:
    assert two.pid is not None
    first = children(two.pid)
    assert len(first) == 2
    async with two.admin() as admin:
        net = await create_network(admin)
        await add_postback(
            admin,
            affiliate_id=net.affiliate["id"],
            url=receiver.url("/aff?cid={click_id}"),
            statuses=["approved"],
        )

    # Each request on a new connection: the kernel hands them to either process.
    async def convert() -> str:
        async with two.client() as client:
            click_id = await click(client, net)
        async with two.client() as client:
            answer = await client.get(
                "/postback", params={"click_id": click_id, "token": net.token}
            )
        assert answer.status_code == 200, answer.text
        return click_id

    sent = [await convert() for _ in range(10)]

    victim = first[0]
    os.kill(victim, signal.SIGKILL)
    await eventually(
        lambda: len(children(two.pid or 0)) == 2 and victim not in children(two.pid or 0),
        timeout=20,
    )
    sent += [await convert() for _ in range(10)]

    # Every delivery once: on SQLite one of the processes sends, on PostgreSQL each may.
    await eventually(lambda: len(receiver.at("/aff")) >= len(sent), timeout=30)
    await asyncio.sleep(1)
    assert sorted(r.query["cid"] for r in receiver.at("/aff")) == sorted(sent)

    async with two.admin() as admin:
        report = (await admin.get("/reports", params={"group_by": "offer_id"})).json()
    assert report["totals"]["clicks"] == len(sent)
    assert report["totals"]["conversions"] == len(sent)


def test_a_stop_stops_every_process(database_url: str, tmp_path: Path) -> None:
    server = ServerProcess(database_url, tmp_path, args=("--workers", "3"))
    server.start()
    assert server.pid is not None and server.process is not None
    kids = children(server.pid)
    assert len(kids) == 3
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(30) == 0
    for kid in kids:
        assert (
            not Path(f"/proc/{kid}").exists()
            or "Z" in Path(f"/proc/{kid}/stat").read_text().split()[2]
        )
