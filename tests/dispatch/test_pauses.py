"""Circuit-breaker pauses shared by the workers of several processes, on both backends:
two breakers (then two real Dispatchers) on two stores over one database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest
from aiohttp import web

from postback.dispatch.breaker import CircuitBreaker
from postback.dispatch.pauses import SharedPauses
from postback.dispatch.worker import endpoint_key
from postback.domain.records import Delivery
from postback.errors import StoreUnavailable
from postback.settings import Settings
from postback.store.factory import open_store
from postback.store.sql import Store

from .support import MakeReceiver, ManualClock, until
from .test_worker import CountingStore, Scene, dispatching, make_settings

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
async def stores(store: Store, database_url: str) -> AsyncIterator[tuple[Store, Store]]:
    """Two stores on one database: two worker processes."""
    second = open_store(Settings(database_url=database_url))
    yield store, second
    await second.close()


class Worker:
    """One worker's breaker and its sharing, on the test's clock."""

    def __init__(self, store: Store | Any, clock: ManualClock) -> None:
        self.breaker = CircuitBreaker(
            threshold=2, pause=10.0, max_pause=100.0, clock=clock.monotonic
        )
        self.pauses = SharedPauses(
            cast(Store, store), self.breaker, now=clock.now, probe_lease=12.0
        )

    def fail(self, endpoint: str) -> None:
        if self.breaker.failed(endpoint):
            self.pauses.changed(endpoint)

    def succeed(self, endpoint: str) -> None:
        if self.breaker.succeeded(endpoint):
            self.pauses.changed(endpoint)


async def test_a_pause_holds_every_worker_and_one_probes(stores: tuple[Store, Store]) -> None:
    clock = ManualClock()
    first, second = Worker(stores[0], clock), Worker(stores[1], clock)
    endpoint = "https://shared.example:443"
    first.fail(endpoint)
    first.fail(endpoint)
    await first.pauses.sync()
    await second.pauses.sync()
    # The second worker never saw a failure, and holds the endpoint all the same.
    assert second.breaker.wait_for(endpoint) == pytest.approx(10.0)

    # The pause is over: both would probe; one gets the right, the other holds on.
    clock.advance(10)
    assert first.breaker.wait_for(endpoint) is None
    assert second.breaker.wait_for(endpoint) is None
    allowed = await asyncio.gather(
        first.pauses.may_probe(endpoint), second.pauses.may_probe(endpoint)
    )
    assert sorted(allowed) == [False, True]
    prober, other = (first, second) if allowed[0] else (second, first)
    assert other.breaker.wait_for(endpoint) == pytest.approx(12.0)

    # The probe fails: a pause twice as long, for both.
    prober.fail(endpoint)
    await prober.pauses.sync()
    await other.pauses.sync()
    assert other.breaker.wait_for(endpoint) == pytest.approx(20.0)
    assert prober.breaker.wait_for(endpoint) == pytest.approx(20.0)

    # The next probe, whoever sends it, succeeds: the endpoint is open again everywhere.
    clock.advance(20)
    assert other.breaker.wait_for(endpoint) is None
    assert await other.pauses.may_probe(endpoint) is True
    other.succeed(endpoint)
    await other.pauses.sync()
    await prober.pauses.sync()
    for worker in (prober, other):
        assert worker.breaker.wait_for(endpoint) is None
        assert not worker.breaker.probing(endpoint)
    assert endpoint not in {p.endpoint for p in await stores[0].endpoint_pauses()}


async def test_a_retry_after_pauses_every_worker(stores: tuple[Store, Store]) -> None:
    clock = ManualClock()
    first, second = Worker(stores[0], clock), Worker(stores[1], clock)
    endpoint = "https://busy.example:443"
    first.fail(endpoint)
    await first.pauses.sync()
    await second.pauses.sync()
    assert second.breaker.wait_for(endpoint) is None  # one failure: below the threshold
    first.breaker.failed(endpoint, retry_after=120.0)
    first.pauses.changed(endpoint)
    await first.pauses.sync()
    await second.pauses.sync()
    assert second.breaker.wait_for(endpoint) == pytest.approx(120.0)


class Unreachable:
    """The real store behind a database that can be switched off."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.down = True

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._store, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            if self.down:
                raise StoreUnavailable("connection refused")
            return await found(*args, **kwargs)

        return call


async def test_without_the_database_each_breaker_goes_on_alone(
    stores: tuple[Store, Store],
) -> None:
    clock = ManualClock()
    database = Unreachable(stores[0])
    first, second = Worker(database, clock), Worker(stores[1], clock)
    endpoint = "https://alone.example:443"
    first.fail(endpoint)
    first.fail(endpoint)
    await first.pauses.sync()  # logged, not raised
    assert first.breaker.wait_for(endpoint) == pytest.approx(10.0)
    clock.advance(10)
    assert first.breaker.wait_for(endpoint) is None
    assert await first.pauses.may_probe(endpoint) is True  # the probe goes out
    first.fail(endpoint)
    # Back: what changed meanwhile is published, and the other worker holds on too.
    database.down = False
    await first.pauses.sync()
    await second.pauses.sync()
    assert second.breaker.wait_for(endpoint) == pytest.approx(20.0)


# ---- two real workers ------------------------------------------------------------------


async def deliveries_of(store: Store, config_id: int) -> list[Delivery]:
    page = await store.list_deliveries(filters={"postback_id": config_id})
    return sorted(page.items, key=lambda d: d.id)


class Watched(CountingStore):
    """The real store, counting claims; `gate` holds this worker's claims while it is
    clear, and each answer to its asks for a probe right is kept."""

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.gate = asyncio.Event()
        self.gate.set()
        self.probe_answers: list[bool] = []

    async def claim_deliveries(self, **kwargs: Any) -> list[Any]:
        await self.gate.wait()
        return await super().claim_deliveries(**kwargs)

    async def take_probe(self, *args: Any) -> bool:
        taken = bool(await self._store.take_probe(*args))
        self.probe_answers.append(taken)
        return taken


async def test_a_pause_published_by_one_worker_stops_the_others_sends(
    stores: tuple[Store, Store], database_url: str, receivers: MakeReceiver
) -> None:
    clock = ManualClock()

    async def down(_request: web.Request) -> web.StreamResponse:
        return web.Response(status=500)

    failing = await receivers(down, clock=clock.monotonic)
    healthy = await receivers(clock=clock.monotonic)
    scene = await Scene(stores[0]).setup([{"url": failing.url("/pb")}, {"url": healthy.url("/pb")}])
    for _ in range(2):
        await scene.convert(at=clock.now())
    settings = make_settings(
        database_url,
        retry_schedule="",
        breaker_threshold=2,
        breaker_pause=60.0,
        worker_per_endpoint=1,
    )
    endpoint = endpoint_key(failing.url())

    async with dispatching(stores[0], settings, clock=clock, worker_id="first") as first:
        await until(lambda: len(failing.requests) == 2, "two failures")
        await until(lambda: first.breaker.paused(endpoint), "the first worker's pause")

        async def published() -> bool:
            return endpoint in {p.endpoint for p in await stores[0].endpoint_pauses()}

        await until(published, "the pause published")

    # Another worker, which never saw the endpoint fail, gets new deliveries for it.
    for _ in range(2):
        await scene.convert(at=clock.now())
    polls = CountingStore(stores[1])
    async with dispatching(polls, settings, clock=clock, worker_id="second") as second:
        await until(lambda: len(healthy.requests) == 4, "the healthy partner served")
        await polls.more(5)
        assert second.breaker.paused(endpoint)
    assert len(failing.requests) == 2, "sent to an endpoint another worker paused"
    held = await deliveries_of(stores[0], scene.configs[0].id)
    assert [(d.state, d.attempts) for d in held] == [
        ("failed", 1),
        ("failed", 1),
        ("pending", 0),
        ("pending", 0),
    ]


async def test_one_probe_per_pause_across_workers_and_a_success_resumes_all(
    stores: tuple[Store, Store], database_url: str, receivers: MakeReceiver
) -> None:
    clock = ManualClock()
    up = asyncio.Event()
    back = asyncio.Event()

    async def partner(_request: web.Request) -> web.StreamResponse:
        if not up.is_set():
            return web.Response(status=500)
        await back.wait()  # the probe stays out until the test lets it answer
        return web.Response(text="ok")

    receiver = await receivers(partner, clock=clock.monotonic)
    scene = await Scene(stores[0]).setup([{"url": receiver.url("/pb")}])
    for _ in range(12):
        await scene.convert(at=clock.now())
    settings = make_settings(
        database_url,
        retry_schedule="1,1,1,1,1",
        breaker_threshold=1,
        breaker_pause=10.0,
        worker_concurrency=1,
        worker_per_endpoint=1,
    )
    endpoint = endpoint_key(receiver.url())
    watched = Watched(stores[0]), Watched(stores[1])

    async with (
        dispatching(
            watched[0], settings, clock=clock, worker_id="a", pause_sync_seconds=0.05
        ) as first,
        dispatching(
            watched[1], settings, clock=clock, worker_id="b", pause_sync_seconds=0.05
        ) as second,
    ):
        # Down: each worker pauses the endpoint after at most one failure of its own.
        await until(
            lambda: first.breaker.paused(endpoint) and second.breaker.paused(endpoint),
            "both workers pausing the endpoint",
        )
        for polls in watched:
            await polls.more(3)
        failures = len(receiver.requests)
        assert 1 <= failures <= 2

        # The pause is over for both. The second worker asks first and probes; the
        # first, let claim afterwards, is refused the right and holds its deliveries.
        up.set()
        watched[0].gate.clear()
        clock.advance(11)
        await until(lambda: len(receiver.requests) == failures + 1, "the probe")
        watched[0].gate.set()
        await until(lambda: False in watched[0].probe_answers, "the first worker refused")
        for polls in watched:
            await polls.more(5)
        assert len(receiver.requests) == failures + 1, "more than one probe for one pause"
        assert watched[1].probe_answers == [True]

        # The probe succeeds: both workers send again, everything is delivered once.
        back.set()
        await until(lambda: not first.breaker.paused(endpoint), "the pause lifted")
        clock.advance(13)
        # A busy endpoint's deliveries are handed back for a second: the clock moves on.
        for _ in range(100):
            found = await deliveries_of(stores[0], scene.configs[0].id)
            if {d.state for d in found} == {"delivered"}:
                break
            clock.advance(1)
            for polls in watched:
                await polls.more(2)
    assert {d.state for d in found} == {"delivered"}
    assert len(receiver.requests) == failures + 12
