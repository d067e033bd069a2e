"""Limits shared by every process, on both backends: failed authentications per client
address and the pauses of partner endpoints (store/sql_limits.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Table, func, select

from postback.settings import Settings
from postback.store.factory import open_store
from postback.store.schema import auth_blocks, auth_failures
from postback.store.sql import Store

pytestmark = pytest.mark.timeout(60)

AT = datetime(2024, 10, 1, 12, tzinfo=UTC)


def later(seconds: float) -> datetime:
    return AT + timedelta(seconds=seconds)


@pytest.fixture
async def other(database_url: str) -> AsyncIterator[Store]:
    """A second store on the same database: another process."""
    opened = open_store(Settings(database_url=database_url))
    yield opened
    await opened.close()


async def count(store: Store, table: Table) -> int:
    async with store.engine.connect() as conn:
        found = await conn.execute(select(func.count()).select_from(table))
        return int(found.scalar_one())


# ---- failed authentications ------------------------------------------------------------


async def test_the_failure_that_reaches_the_limit_blocks_for_every_process(
    store: Store, other: Store
) -> None:
    client = "198.51.100.10"
    assert await store.record_auth_failure(client, later(0), 60, 3) is None
    assert await other.record_auth_failure(client, later(10), 60, 3) is None
    assert await other.auth_blocks(later(10)) == {}
    # The third within a minute, in either process: blocked until the first is a minute old.
    assert await store.record_auth_failure(client, later(20), 60, 3) == later(60)
    assert await other.auth_blocks(later(20)) == {client: later(60)}
    assert await other.auth_blocks(later(60)) == {}
    # Another address is not concerned.
    assert await store.record_auth_failure("198.51.100.11", later(20), 60, 3) is None


async def test_only_failures_within_the_window_count(store: Store) -> None:
    client = "198.51.100.20"
    await store.record_auth_failure(client, later(0), 60, 2)
    # A minute later the first is out of the window: one failure, no block.
    assert await store.record_auth_failure(client, later(60), 60, 2) is None
    # Past the limit the block runs from the oldest of the last `limit` failures.
    assert await store.record_auth_failure(client, later(70), 60, 2) == later(120)
    assert await store.record_auth_failure(client, later(80), 60, 2) == later(130)
    assert (await store.auth_blocks(later(80)))[client] == later(130)


async def test_a_block_is_never_shortened(store: Store) -> None:
    client = "198.51.100.30"
    for at in (0, 1, 50):
        await store.record_auth_failure(client, later(at), 60, 2)
    assert (await store.auth_blocks(later(50)))[client] == later(61)
    # A process counting to a higher limit finds an earlier end: the later one is kept.
    assert await store.record_auth_failure(client, later(52), 60, 4) == later(60)
    assert (await store.auth_blocks(later(52)))[client] == later(61)


async def test_old_failures_and_blocks_that_are_over_are_purged(store: Store) -> None:
    start = later(3600)
    await store.forget_auth_failures(start, 60)  # what earlier tests left
    for n in range(50):
        await store.record_auth_failure(f"203.0.113.{n}", start, 60, 1)
    await store.record_auth_failure("203.0.113.200", start + timedelta(seconds=30), 60, 5)
    assert await count(store, auth_failures) == 51
    assert await count(store, auth_blocks) == 50

    # Half a minute on, nothing is old yet.
    assert await store.forget_auth_failures(start + timedelta(seconds=30), 60) == 0
    # A minute on, the fifty failures are out of the window and their blocks over.
    assert await store.forget_auth_failures(start + timedelta(seconds=60), 60) == 100
    assert await count(store, auth_failures) == 1
    assert await count(store, auth_blocks) == 0


async def test_concurrent_failures_of_one_address_all_count(store: Store, other: Store) -> None:
    client = "198.51.100.40"
    found = await asyncio.gather(
        *(
            (store if n % 2 else other).record_auth_failure(client, later(n), 60, 10)
            for n in range(10)
        )
    )
    # Each failure counted the committed ones: the last to count saw all ten.
    assert later(60) in found
    assert (await store.auth_blocks(later(10)))[client] == later(60)


# ---- endpoint pauses -------------------------------------------------------------------

ENDPOINT = "https://partner.example:443"


async def test_a_published_pause_is_read_by_every_worker_and_cleared(
    store: Store, other: Store
) -> None:
    endpoint = "https://read.example:443"
    await store.publish_endpoint_pause(endpoint, later(30), 30.0)
    [pause] = [p for p in await other.endpoint_pauses() if p.endpoint == endpoint]
    assert (pause.paused_until, pause.pause, pause.probe_until) == (later(30), 30.0, None)

    # A shorter pause from another worker leaves the later end and the longer length.
    await other.publish_endpoint_pause(endpoint, later(10), 5.0)
    [pause] = [p for p in await store.endpoint_pauses() if p.endpoint == endpoint]
    assert (pause.paused_until, pause.pause) == (later(30), 30.0)
    # A longer one extends it.
    await other.publish_endpoint_pause(endpoint, later(90), 60.0)
    [pause] = [p for p in await store.endpoint_pauses() if p.endpoint == endpoint]
    assert (pause.paused_until, pause.pause) == (later(90), 60.0)

    await other.clear_endpoint_pause(endpoint)
    assert endpoint not in {p.endpoint for p in await store.endpoint_pauses()}


async def test_one_worker_takes_the_probe_right(store: Store, other: Store) -> None:
    endpoint = "https://probe.example:443"
    # Nothing published: nothing to share, so nothing to wait for.
    assert await store.take_probe(endpoint, later(0), 12.0) is True
    await store.publish_endpoint_pause(endpoint, later(30), 30.0)
    # Not before the pause is over.
    assert await store.take_probe(endpoint, later(29), 12.0) is False
    # Then one of the workers asking at once gets it, for its lease.
    taken = await asyncio.gather(
        *(db.take_probe(endpoint, later(30), 12.0) for db in (store, other, store, other))
    )
    assert sorted(taken) == [False, False, False, True]
    [pause] = [p for p in await store.endpoint_pauses() if p.endpoint == endpoint]
    assert pause.probe_until == later(42)
    assert await other.take_probe(endpoint, later(41), 12.0) is False
    # A prober that never reported back: another worker takes over after the lease.
    assert await other.take_probe(endpoint, later(42), 12.0) is True

    # The probe failed: a longer pause, and the right is free again once it is over.
    await other.publish_endpoint_pause(endpoint, later(100), 60.0)
    [pause] = [p for p in await store.endpoint_pauses() if p.endpoint == endpoint]
    assert (pause.paused_until, pause.pause, pause.probe_until) == (later(100), 60.0, None)
    assert await store.take_probe(endpoint, later(100), 12.0) is True


async def test_pauses_over_long_ago_are_forgotten(store: Store) -> None:
    old, recent = "https://old.example:443", "https://recent.example:443"
    await store.publish_endpoint_pause(old, later(0), 30.0)
    await store.publish_endpoint_pause(recent, later(86_400), 30.0)
    assert await store.forget_endpoint_pauses(later(86_400)) >= 1
    left = {p.endpoint for p in await store.endpoint_pauses()}
    assert old not in left and recent in left
