"""TtlCache: fresh hits, expiry, and one load shared by concurrent misses."""

from __future__ import annotations

import asyncio

import pytest

from postback.store.cache import TtlCache

pytestmark = pytest.mark.timeout(10)


async def test_concurrent_misses_share_one_load() -> None:
    cache: TtlCache[int, str] = TtlCache()
    loads = 0
    release = asyncio.Event()

    async def load() -> str:
        nonlocal loads
        loads += 1
        await release.wait()
        return "offer"

    waiters = [asyncio.create_task(cache.get_or_load(1, load)) for _ in range(20)]
    await asyncio.sleep(0)
    release.set()
    assert await asyncio.gather(*waiters) == ["offer"] * 20
    assert loads == 1
    assert await cache.get_or_load(1, load) == "offer"
    assert loads == 1


async def test_a_value_dropped_during_its_load_is_not_kept() -> None:
    cache: TtlCache[int, str] = TtlCache()
    release = asyncio.Event()

    async def stale() -> str:
        await release.wait()
        return "old"

    async def fresh() -> str:
        return "new"

    first = asyncio.create_task(cache.get_or_load(1, stale))
    await asyncio.sleep(0)
    cache.drop(1)  # the row changed while it was being read
    release.set()
    assert await first == "old"
    assert cache.get(1) == (False, None)
    assert await cache.get_or_load(1, fresh) == "new"


async def test_a_failed_load_is_raised_to_every_waiter_and_not_kept() -> None:
    cache: TtlCache[int, str] = TtlCache()

    async def broken() -> str:
        await asyncio.sleep(0)
        raise RuntimeError("database gone")

    results = await asyncio.gather(
        *(cache.get_or_load(1, broken) for _ in range(3)), return_exceptions=True
    )
    assert all(isinstance(r, RuntimeError) for r in results)
    assert cache.get(1) == (False, None)


async def test_a_remembered_none_is_a_hit_until_it_expires() -> None:
    cache: TtlCache[int, str] = TtlCache(ttl=0.05)
    loads = 0

    async def missing() -> None:
        nonlocal loads
        loads += 1

    assert await cache.get_or_load(7, missing) is None
    assert await cache.get_or_load(7, missing) is None
    assert loads == 1
    await asyncio.sleep(0.06)
    assert await cache.get_or_load(7, missing) is None
    assert loads == 2
