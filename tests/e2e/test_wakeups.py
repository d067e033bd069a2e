"""A worker in another process sends a new delivery at once, not at its next poll."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import Receiver, ServerProcess, WorkerProcess, eventually
from tests.e2e.network import add_postback, click, create_network

pytestmark = pytest.mark.e2e

POLL_SECONDS = 30
# Well under the poll interval: only a wake-up can bring a delivery this fast.
AT_ONCE_SECONDS = 5.0


@pytest.fixture
def split(database_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    """`serve --no-worker` and one `postback worker` polling every 30 s."""
    server = ServerProcess(
        database_url,
        tmp_path,
        args=("--no-worker",),
        POSTBACK_WORKER_POLL_INTERVAL=str(POLL_SECONDS),
    )
    server.start()
    worker = WorkerProcess(server)
    worker.start()
    try:
        yield server
    finally:
        worker.stop()
        server.stop()


async def test_a_worker_in_another_process_sends_new_deliveries_at_once(
    split: ServerProcess, receiver: Receiver
) -> None:
    async with split.admin() as admin, split.client() as client:
        net = await create_network(admin)
        await add_postback(
            admin,
            affiliate_id=net.affiliate["id"],
            url=receiver.url("/aff?cid={click_id}"),
            statuses=["approved"],
        )

        async def convert() -> str:
            click_id = await click(client, net)
            answer = await client.get(
                "/postback", params={"click_id": click_id, "token": net.token}
            )
            assert answer.status_code == 200, answer.text
            return click_id

        # The first may wait for the worker to start; it is running once this arrives.
        first = await convert()
        await eventually(lambda: receiver.at("/aff"), timeout=POLL_SECONDS + 15)
        assert [r.query["cid"] for r in receiver.at("/aff")] == [first]

        # The worker now waits out its poll interval: only a wake-up brings these.
        sent = [first]

        def arrived_all() -> bool:
            return len(receiver.at("/aff")) >= len(sent)

        for _ in range(3):
            sent.append(await convert())
            await eventually(arrived_all, timeout=AT_ONCE_SECONDS)
        assert [r.query["cid"] for r in receiver.at("/aff")] == sent
