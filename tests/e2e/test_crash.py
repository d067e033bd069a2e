"""SIGKILL the server while postbacks arrive and partners are down; nothing accepted is lost."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.e2e.harness import Receiver, ServerProcess, eventually, free_port
from tests.e2e.network import add_postback, click, create_network

pytestmark = pytest.mark.e2e

KILLS = 3
SENDERS = 6


async def send_postbacks(
    server: ServerProcess,
    clicks: list[str],
    token: str,
    accepted: dict[str, str],
    stop: asyncio.Event,
) -> None:
    """Keep sending postbacks with fresh txids; remember every one that got a 2xx."""
    counter = 0

    async def sender(worker: int) -> None:
        nonlocal counter
        async with httpx.AsyncClient(base_url=server.base_url, timeout=5) as client:
            while not stop.is_set():
                counter += 1
                txid = f"tx-{worker}-{counter}"
                params = {"click_id": random.choice(clicks), "txid": txid, "token": token}
                try:
                    answer = await client.get("/postback", params=params)
                except httpx.HTTPError:
                    await asyncio.sleep(0.05)
                    continue
                if answer.status_code == 200:
                    accepted[txid] = answer.json()["result"]
                await asyncio.sleep(0.005)

    await asyncio.gather(*(sender(n) for n in range(SENDERS)))


async def test_sigkill_loses_nothing(database_url: str, tmp_path: Path) -> None:
    receiver = Receiver(port=free_port())
    server = ServerProcess(
        database_url,
        tmp_path,
        POSTBACK_RETRY_SCHEDULE=",".join(["1"] * 50),
        POSTBACK_DELIVERY_TIMEOUT="2",
    )
    server.start()
    try:
        async with server.admin() as admin, server.client() as client:
            net = await create_network(admin)
            await add_postback(
                admin,
                affiliate_id=net.affiliate["id"],
                url=receiver.url("/owed?t={txid}&c={click_id}"),
            )
            clicks = [await click(client, net) for _ in range(10)]

        accepted: dict[str, str] = {}
        stop = asyncio.Event()
        traffic = asyncio.create_task(send_postbacks(server, clicks, net.token, accepted, stop))
        for _ in range(KILLS):
            await asyncio.sleep(random.uniform(0.5, 1.5))
            server.kill()
            await asyncio.sleep(0.2)
            await asyncio.to_thread(server.start)
        await asyncio.sleep(0.5)
        stop.set()
        await traffic
        assert len(accepted) > 50, "too little traffic got through to test anything"
        assert set(accepted.values()) == {"created"}

        await receiver.start()
        await eventually(
            lambda: {r.query["t"] for r in receiver.at("/owed")} >= set(accepted), timeout=60
        )

        async with server.admin() as admin:
            answer = await admin.get(
                "/conversions", params={"offer_id": net.offer["id"], "limit": 1000}
            )
            assert answer.status_code == 200, answer.text
            stored = Counter(item["txid"] for item in answer.json()["items"])
        # Every acknowledged postback is stored exactly once.
        for txid in accepted:
            assert stored[txid] == 1, txid
    finally:
        server.stop()
        await receiver.stop()
