"""Recording attempts: a config's run of failures begins at its first failure and ends at a
success; on PostgreSQL a worker never waits for another's hold on the config row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text, update

from postback.domain.records import ClaimedDelivery
from postback.store.attempts import record_attempt
from postback.store.postgres import PostgresStore
from postback.store.schema import postback_configs
from postback.store.sql import Store
from tests.store import factories as make
from tests.store.test_delivery_health import result

pytestmark = pytest.mark.timeout(60)


async def claimed(store: Store, count: int = 2) -> list[ClaimedDelivery]:
    offer = await make.offer(store)
    affiliate = await make.affiliate(store)
    await make.postback(store, affiliate.id, None)
    for _ in range(count):
        click = await make.stored_click(store, offer, affiliate.id)
        await store.record_postback(make.command(click, offer))
    return await store.claim_deliveries(limit=count, lease_seconds=60, now=datetime.now(UTC))


async def failing_since(store: Store, config_id: int) -> int | None:
    async with store.engine.connect() as conn:
        found = select(postback_configs.c.failing_since).where(postback_configs.c.id == config_id)
        value = (await conn.execute(found)).scalar_one()
    return None if value is None else int(value)


async def test_a_run_of_failures_begins_at_the_first_and_ends_at_a_success(store: Store) -> None:
    first, second = await claimed(store)
    config_id = first.delivery.postback_id
    at = datetime(2024, 5, 1, 12, tzinfo=UTC)
    retry = at + timedelta(hours=1)
    assert await store.finish_attempt(
        first, result(first, at, success=False, next_attempt_at=retry)
    )
    began = await failing_since(store, config_id)
    assert began == int(at.timestamp() * 1_000_000)
    later = at + timedelta(minutes=5)
    assert await store.finish_attempt(
        second, result(second, later, success=False, next_attempt_at=retry)
    )
    assert await failing_since(store, config_id) == began  # the run began at the first
    again = await store.claim_deliveries(limit=1, lease_seconds=60, now=retry)
    assert await store.finish_attempt(again[0], result(again[0], retry, success=True))
    assert await failing_since(store, config_id) is None


@pytest.mark.postgres
async def test_a_worker_does_not_wait_for_another_holding_the_config_row(
    pg_store: PostgresStore,
) -> None:
    (claim,) = await claimed(pg_store, 1)
    config_id = claim.delivery.postback_id
    at = datetime.now(UTC)
    async with pg_store.engine.connect() as holder, pg_store.engine.connect() as worker:
        # Another worker's transaction moving the same config's run of failures.
        await holder.execute(
            update(postback_configs)
            .where(postback_configs.c.id == config_id)
            .values(failing_since=1)
        )
        await worker.execute(text("SET lock_timeout = '2s'"))
        failed = result(claim, at, success=False, next_attempt_at=at + timedelta(hours=1))
        # Blocked on the row, this would fail after lock_timeout.
        assert await worker.run_sync(record_attempt, claim, failed)
        await worker.commit()
        await holder.rollback()
    assert await failing_since(pg_store, config_id) is None  # left to the next attempt
