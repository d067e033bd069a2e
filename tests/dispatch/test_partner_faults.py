"""Partners that misbehave in every way we know, against the real Dispatcher and store.

Each fault sits on its own port (its own endpoint): HTTP errors, Retry-After, redirects,
410 Gone, a reset connection, a connection that is accepted and never answered, an
answer trickling in one byte a second, a 50 MB answer. Every delivery must end as the
contract says (retried on schedule, or given up with the reason recorded), no worker may
stay stuck, and nothing more than a short excerpt of any answer is read.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from aiohttp import web

from postback.app import create_web
from postback.dispatch.sender import EXCERPT_BYTES
from postback.domain.ids import hash_key
from postback.domain.records import Delivery
from postback.store.sql import Store
from tests.reliability_report import record

from .support import Handler, MakeReceiver
from .test_worker import CountingStore, Scene, dispatching, make_settings

HUGE = 50 * 1024 * 1024
ADMIN_KEY = "faults-admin-key-0123456789"


@dataclass
class RawPartner:
    """A TCP server speaking just enough HTTP to misbehave in one particular way."""

    behaviour: str
    port: int = 0
    connections: int = 0
    written: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)
    _server: asyncio.Server | None = None

    async def start(self) -> RawPartner:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        self.release.set()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def url(self, path: str = "/pb") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await reader.readuntil(b"\r\n\r\n")
            await getattr(self, f"_{self.behaviour}")(writer)
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.transport.abort()

    async def _reset(self, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    async def _silent(self, writer: asyncio.StreamWriter) -> None:
        await self.release.wait()

    async def _trickle(self, writer: asyncio.StreamWriter) -> None:
        for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok":
            if self.release.is_set():
                return
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(1.0)

    async def _huge(self, writer: asyncio.StreamWriter) -> None:
        writer.write(f"HTTP/1.1 200 OK\r\nContent-Length: {HUGE}\r\n\r\n".encode())
        chunk = b"x" * 65_536
        while self.written < HUGE:
            writer.write(chunk)
            await writer.drain()
            self.written += len(chunk)


def scripted(*answers: tuple[int, dict[str, str]]) -> Handler:
    """A handler answering with each (status, headers) in turn, then the last forever."""
    queue = list(answers)

    async def handle(_request: web.Request) -> web.StreamResponse:
        status, headers = queue.pop(0) if len(queue) > 1 else queue[0]
        return web.Response(status=status, headers=headers, text=f"answer {status}")

    return handle


@pytest.fixture
async def raw_partners() -> AsyncIterator[Callable[[str], Awaitable[RawPartner]]]:
    started: list[RawPartner] = []

    async def make(behaviour: str) -> RawPartner:
        partner = await RawPartner(behaviour).start()
        started.append(partner)
        return partner

    yield make
    for partner in started:
        await partner.stop()


async def wait_settled(scene: Scene, held: set[int], timeout: float = 45.0) -> list[Delivery]:
    """Until every delivery is delivered or failed, except those of `held` configs."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = await scene.deliveries()
        if all(d.state != "pending" or d.postback_id in held for d in found):
            return found
        assert asyncio.get_running_loop().time() < deadline, [
            (d.url, d.state) for d in found if d.state == "pending"
        ]
        await asyncio.sleep(0.05)


async def test_every_partner_fault_ends_as_the_contract_says(
    store: Store,
    database_url: str,
    receivers: MakeReceiver,
    raw_partners: Callable[[str], Awaitable[RawPartner]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    after = {"Retry-After": "1"}
    http = {
        "500": await receivers(scripted((500, {}))),
        "503": await receivers(scripted((503, after), (200, {}))),
        "429": await receivers(scripted((429, after), (200, {}))),
        "301": await receivers(scripted((301, {"Location": "/elsewhere"}))),
        "302": await receivers(scripted((302, {"Location": "/elsewhere"}))),
        "410": await receivers(scripted((410, {}))),
        "200": await receivers(scripted((200, {}))),
    }
    raw = {name: await raw_partners(name) for name in ("reset", "silent", "trickle", "huge")}
    urls = {name: r.url("/pb") for name, r in http.items()}
    urls.update({name: r.url() for name, r in raw.items()})
    names = list(urls)
    scene = await Scene(store).setup([{"url": urls[name]} for name in names])
    config_of = {name: scene.configs[i].id for i, name in enumerate(names)}
    await scene.convert()
    settings = make_settings(database_url, retry_schedule="0.05,0.05", delivery_timeout=1.0)

    with caplog.at_level("INFO", logger="postback.dispatch.worker"):
        async with dispatching(store, settings) as dispatcher:
            found = await wait_settled(scene, held={config_of["410"]})
            # Nothing is left in flight: no worker is stuck on a partner.
            assert dispatcher.in_flight == 0
    by_name = {name: d for d in found for name in names if d.postback_id == config_of[name]}
    attempts = await store.list_attempts([d.id for d in found])

    def ended(name: str, state: str, tries: int, error: str | None) -> None:
        delivery = by_name[name]
        assert (delivery.state, delivery.attempts) == (state, tries), (name, delivery)
        if error is not None:
            assert delivery.last_error is not None and error in delivery.last_error, name

    ended("200", "delivered", 1, None)
    ended("500", "failed", 3, "HTTP 500 Internal Server Error")
    for name in ("503", "429"):
        ended(name, "delivered", 2, None)
        first, second = attempts[by_name[name].id]
        assert (second.started_at - first.started_at).total_seconds() >= 1.0  # Retry-After
    for name in ("301", "302"):
        ended(name, "failed", 3, f"redirect {name} not followed")
        assert [r.path_qs for r in http[name].requests] == ["/pb"] * 3
    ended("reset", "failed", 3, "reset the connection")
    ended("silent", "failed", 3, "timeout after 1s")
    ended("trickle", "failed", 3, "timeout after 1s")

    # 50 MB answered: a 2 KB excerpt read, and the partner could not push the rest.
    ended("huge", "delivered", 1, None)
    [huge_attempt] = attempts[by_name["huge"].id]
    assert huge_attempt.response_excerpt == "x" * EXCERPT_BYTES
    assert raw["huge"].written < HUGE // 4

    # 410 Gone: one attempt, the config switched off with the reason, the delivery held.
    gone = by_name["410"]
    assert (gone.state, gone.attempts, gone.next_attempt_at) == ("pending", 1, None)
    assert len(http["410"].requests) == 1
    config = await store.get_postback(config_of["410"])
    assert config is not None and not config.active
    assert config.disabled_reason is not None and "410 Gone" in config.disabled_reason

    # Every give-up and the switch-off are logged with their reason.
    logged = {(getattr(r, "action", ""), getattr(r, "delivery_id", None)) for r in caplog.records}
    for delivery in found:
        if delivery.state == "failed":
            assert ("delivery_failed", delivery.id) in logged
    assert any(getattr(r, "action", "") == "config_disabled" for r in caplog.records)
    record("partner_faults", faults=len(names) - 1)


async def test_a_config_switched_off_shows_why_and_resends_when_switched_on(
    store: Store, database_url: str, receivers: MakeReceiver
) -> None:
    state = {"status": 500}

    async def partner(_request: web.Request) -> web.StreamResponse:
        return web.Response(status=state["status"])

    receiver = await receivers(partner)
    scene = await Scene(store).setup([{"url": receiver.url("/pb")}])
    for _ in range(3):
        await scene.convert()
    config_id = scene.configs[0].id
    # Failing without a success for 1.5 s counts as failing for good (5 days in production).
    settings = make_settings(
        database_url,
        retry_schedule=",".join(["0.2"] * 40),
        disable_failing_after=1.5,
        breaker_pause=0.2,
    )
    app = create_web(settings, store, admin_key_hash=lambda: hash_key(ADMIN_KEY))
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    polls = CountingStore(store)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://api", headers=headers) as api,
        dispatching(polls, settings),
    ):

        async def switched_off() -> dict[str, Any] | None:
            shown = (await api.get(f"/api/v1/postbacks/{config_id}")).json()
            return shown if shown["disabled_reason"] else None

        shown = await eventually(switched_off)
        assert shown["active"] is False
        assert shown["disabled_reason"].startswith("failing without a success since")
        assert "HTTP 500" in shown["disabled_reason"]
        assert shown["disabled_at"] is not None
        held = await scene_deliveries(store, config_id)
        assert {(d.state, d.next_attempt_at) for d in held} == {("pending", None)}
        requests_when_off = len(receiver.requests)
        await polls.more(10)
        assert len(receiver.requests) == requests_when_off  # nothing goes out while off

        state["status"] = 200
        answer = await api.patch(f"/api/v1/postbacks/{config_id}", json={"active": True})
        assert answer.status_code == 200, answer.text
        assert answer.json()["disabled_reason"] is None
        assert answer.json()["active"] is True

        async def all_delivered() -> bool:
            found = await scene_deliveries(store, config_id)
            return {d.state for d in found} == {"delivered"}

        await eventually(all_delivered)
    record("partner_faults", faults=1)


async def test_a_failing_endpoint_is_paused_and_probed(
    store: Store, database_url: str, receivers: MakeReceiver
) -> None:
    # Down for its first five requests, then back.
    receiver = await receivers(scripted(*[(500, {})] * 5, (200, {})))
    scene = await Scene(store).setup([{"url": receiver.url("/pb")}])
    for _ in range(6):
        await scene.convert()
    settings = make_settings(
        database_url,
        retry_schedule="0.01,0.01,0.01,0.01,0.01",
        worker_per_endpoint=1,
        breaker_threshold=3,
        breaker_pause=0.2,
    )
    async with dispatching(store, settings):
        page = await store.list_deliveries(filters={"postback_id": scene.configs[0].id})

        async def all_delivered() -> bool:
            found = await store.list_deliveries(filters={"postback_id": scene.configs[0].id})
            return {d.state for d in found.items} == {"delivered"}

        await eventually(all_delivered)
    # Three failures open the breaker; then one probe per pause, each pause twice as long.
    times = [seen.at for seen in receiver.requests]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert gaps[2] >= 0.2 and gaps[3] >= 0.4 and gaps[4] >= 0.8, gaps
    # Nothing was lost: held deliveries kept their attempts for when the partner is back.
    assert len(page.items) == 6
    assert len(receiver.requests) == 5 + 6
    record("partner_faults", faults=1)


async def scene_deliveries(store: Store, config_id: int) -> list[Delivery]:
    page = await store.list_deliveries(filters={"postback_id": config_id})
    return list(page.items)


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 45.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = await check()
        if found:
            return found
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)
