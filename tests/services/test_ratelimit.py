"""The failed-authentication limit, on a clock the test moves: counted in memory, and
counted in the database for every process that shares it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from sqlalchemy import func, select

from postback.errors import StoreUnavailable
from postback.services.ratelimit import FailureLimiter, SharedFailureLimiter, failure_limiter
from postback.settings import Settings
from postback.store.factory import open_store
from postback.store.schema import auth_failures
from postback.store.sql import Store


class Clock:
    def __init__(self, now: float = 500.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_blocks_after_the_limit_within_a_minute_then_lets_go() -> None:
    clock = Clock()
    limiter = FailureLimiter(3, clock=clock)
    for _ in range(2):
        await limiter.failed("198.51.100.1")
        clock.now += 10
    assert limiter.retry_after("198.51.100.1") is None
    await limiter.failed("198.51.100.1")
    # The oldest of the three failures was 20 s ago: 40 s to wait.
    assert limiter.retry_after("198.51.100.1") == 40
    assert limiter.retry_after("198.51.100.2") is None
    clock.now += 39.5
    assert limiter.retry_after("198.51.100.1") == 1
    clock.now += 0.5
    assert limiter.retry_after("198.51.100.1") is None
    # One more failure: the window now holds the two later ones and this one.
    await limiter.failed("198.51.100.1")
    assert limiter.retry_after("198.51.100.1") == 10


async def test_failures_older_than_a_minute_are_forgotten() -> None:
    clock = Clock()
    limiter = FailureLimiter(2, clock=clock)
    await limiter.failed("a")
    clock.now += 61
    await limiter.failed("a")
    assert limiter.retry_after("a") is None


async def test_zero_turns_it_off_and_memory_is_bounded() -> None:
    off = FailureLimiter(0)
    for _ in range(100):
        await off.failed("a")
    assert off.retry_after("a") is None

    clock = Clock()
    limiter = FailureLimiter(1, max_clients=3, clock=clock)
    for client in ("a", "b", "c", "d"):
        await limiter.failed(client)
    assert limiter.retry_after("a") is None  # the least recently failing was forgotten
    assert all(limiter.retry_after(c) == 60 for c in ("b", "c", "d"))
    # An address we cannot tell is one client, not a free pass.
    await limiter.failed(None)
    assert limiter.retry_after(None) == 60


# ---- shared through the database -------------------------------------------------------


class Watched:
    """The real store, noting which of its methods the limiter calls; `down` makes the
    database unreachable."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.calls: list[str] = []
        self.down = False

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._store, name)
        if not callable(found):
            return found

        async def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            if self.down:
                raise StoreUnavailable("connection refused")
            return await found(*args, **kwargs)

        return call


@pytest.fixture
async def stores(database_url: str) -> AsyncIterator[tuple[Store, Store]]:
    """Two stores on one database: two server processes."""
    first = open_store(Settings(database_url=database_url))
    second = open_store(Settings(database_url=database_url))
    await first.migrate()
    yield first, second
    await first.close()
    await second.close()


def shared(store: Store | Watched, clock: Clock, limit: int = 3) -> SharedFailureLimiter:
    return SharedFailureLimiter(cast(Store, store), limit, clock=clock, refresh=0.02)


async def test_processes_share_the_count_and_answer_alike(stores: tuple[Store, Store]) -> None:
    clock = Clock(time.time())
    first, second = shared(stores[0], clock), shared(stores[1], clock)
    client = "198.51.100.50"
    await first.failed(client)
    clock.now += 10
    await first.failed(client)
    clock.now += 10
    assert first.retry_after(client) is None and second.retry_after(client) is None
    # The third failure in a minute, in the other process: that is the limit, in both.
    await second.failed(client)
    assert second.retry_after(client) == 40
    await first.refresh()
    assert first.retry_after(client) == 40
    clock.now += 25.5
    assert first.retry_after(client) == second.retry_after(client) == 15
    assert first.retry_after("198.51.100.51") is None
    clock.now += 15
    assert first.retry_after(client) is None and second.retry_after(client) is None


async def test_a_block_reaches_every_process_within_a_refresh(
    stores: tuple[Store, Store],
) -> None:
    clock = Clock(time.time())
    first, second = shared(stores[0], clock, limit=2), shared(stores[1], clock, limit=2)
    stop = asyncio.Event()
    keeping = asyncio.create_task(first.run(stop))
    try:
        client = "198.51.100.60"
        await second.failed(client)
        await second.failed(client)
        assert second.retry_after(client) == 60
        async with asyncio.timeout(10):
            while first.retry_after(client) is None:
                await asyncio.sleep(0.01)
        assert first.retry_after(client) == 60
    finally:
        stop.set()
        await keeping


async def test_successes_do_not_touch_the_database(stores: tuple[Store, Store]) -> None:
    watched = Watched(stores[0])
    limiter = shared(watched, Clock(time.time()))
    for _ in range(1000):
        assert limiter.retry_after("198.51.100.70") is None
    assert watched.calls == []
    await limiter.failed("198.51.100.70")
    assert watched.calls == ["record_auth_failure"]


async def failures_kept(store: Store) -> int:
    async with store.engine.connect() as conn:
        found = await conn.execute(select(func.count()).select_from(auth_failures))
        return int(found.scalar_one())


async def test_failures_are_purged_after_the_window(stores: tuple[Store, Store]) -> None:
    clock = Clock(time.time() + 3600)
    limiter = shared(stores[0], clock, limit=1)
    await limiter.purge()  # what earlier tests left
    for n in range(20):
        await limiter.failed(f"203.0.113.{n}")
    clock.now += 30
    await limiter.purge()
    assert await failures_kept(stores[0]) == 20
    assert len(await stores[0].auth_blocks(datetime.fromtimestamp(clock.now, UTC))) == 20
    clock.now += 30
    await limiter.purge()
    assert await failures_kept(stores[0]) == 0
    assert await stores[0].auth_blocks(datetime.fromtimestamp(clock.now - 1, UTC)) == {}


async def test_an_unreachable_database_leaves_the_count_in_the_process(
    stores: tuple[Store, Store],
) -> None:
    watched = Watched(stores[0])
    watched.down = True
    clock = Clock(time.time())
    limiter = shared(watched, clock, limit=2)
    await limiter.failed("198.51.100.80")
    await limiter.refresh()
    await limiter.purge()
    assert limiter.retry_after("198.51.100.80") is None
    await limiter.failed("198.51.100.80")
    assert limiter.retry_after("198.51.100.80") == 60


async def test_shared_where_the_store_counts_failures(stores: tuple[Store, Store]) -> None:
    store = stores[0]
    limiter = failure_limiter(Settings(auth_failures_per_minute=7), store)
    assert limiter.limit == 7
    assert isinstance(limiter, SharedFailureLimiter) is (store.engine.dialect.name == "postgresql")
