"""PostgreSQL's day partitions: made ahead, old days dropped whole (a converted click
kept first), giving way to traffic holding the table, and the migration that makes them
from tables holding rows."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select, text

from postback.domain.conversion import Outcome
from postback.domain.retention import Retention
from postback.store import partitions
from postback.store.postgres import PostgresStore
from postback.store.schema import clicks, delivery_attempts, incoming_log, kept_clicks
from tests.store import factories as make
from tests.store.test_purge import reports

pytestmark = pytest.mark.timeout(120)

DAY = timedelta(days=1)


async def days_of(store: PostgresStore, table: str) -> list[partitions.Partition]:
    async with store.engine.connect() as conn:
        return await conn.run_sync(partitions.partitions_of, table)


async def make_days(store: PostgresStore, first: datetime, last: datetime) -> None:
    async with store.engine.begin() as conn:
        for table in partitions.PARTITIONED:
            await conn.run_sync(partitions.ensure_days, table, first.date(), last.date())


async def rows_in(store: PostgresStore, relation: str) -> int:
    async with store.engine.connect() as conn:
        return int((await conn.exec_driver_sql(f"SELECT count(*) FROM {relation}")).scalar_one())


async def test_the_growing_tables_are_partitioned_by_day_with_days_ahead(
    pg_store: PostgresStore,
) -> None:
    today = datetime.now(UTC).date()
    for table in partitions.PARTITIONED:
        async with pg_store.engine.connect() as conn:
            assert await conn.run_sync(partitions.is_partitioned, table)
        spans = [partition.first for partition in await days_of(pg_store, table)]
        ahead = [today + timedelta(days=n) for n in range(partitions.AHEAD_DAYS + 1)]
        assert {partitions.span_of(day) for day in ahead} <= set(spans)
        assert all((span - spans[0]).days % partitions.SPAN_DAYS == 0 for span in spans)
        assert await rows_in(pg_store, partitions.default_name(table)) >= 0


async def test_old_days_go_whole_and_a_converted_click_is_kept(pg_store: PostgresStore) -> None:
    store = pg_store
    now = make.now()
    await make_days(store, now - 203 * DAY, now - 198 * DAY)
    offer = await make.offer(store, revenue=Decimal("3"), payout=Decimal("1"))
    aff = (await make.affiliate(store)).id
    old = [make.click(offer, aff, now - 200 * DAY + n * timedelta(minutes=3)) for n in range(40)]
    young = [make.click(offer, aff, now - DAY) for _ in range(5)]
    await store.insert_clicks(old + young)
    made = await store.record_postback(
        make.command(old[3], offer, received_at=old[3].created_at + timedelta(hours=2))
    )
    assert made.outcome is Outcome.CREATED
    before = await reports(store, offer, now)
    old_days = {partitions.partition_name("clicks", click.created_at.date()) for click in old}
    assert sum([await rows_in(store, name) for name in old_days]) >= 40

    due = await store.purge(Retention(clicks_days=90), now, dry_run=True)
    assert due is not None and due.purged.clicks >= 40
    # What goes is older than the start of the week holding the cutoff.
    assert due.cutoffs.clicks == now - 90 * DAY and due.reach.clicks is not None
    assert due.cutoffs.clicks - partitions.SPAN_DAYS * DAY < due.reach.clicks <= due.cutoffs.clicks
    assert due.reach.clicks.time() == time(0)
    assert old_days <= {day.name for day in await days_of(store, "clicks")}

    done = await store.purge(Retention(clicks_days=90), now)
    assert done is not None and done.purged.clicks >= 40 and done.purged.kept_clicks >= 1
    names = {day.name for day in await days_of(store, "clicks")}
    assert not old_days & names
    async with store.engine.connect() as conn:
        for old_day in old_days:
            gone = await conn.execute(text("SELECT to_regclass(:name)"), {"name": old_day})
            assert gone.scalar() is None
        kept = select(func.count()).where(kept_clicks.c.click_id == old[3].click_id)
        assert (await conn.execute(kept)).scalar_one() == 1
    assert await store.get_click(old[1].click_id) is None
    found = await store.get_click(old[3].click_id)
    assert found is not None and (found.subs, found.created_at) == (old[3].subs, old[3].created_at)
    for click in young:
        assert await store.get_click(click.click_id) == click
    assert await reports(store, offer, now) == before
    # Days within retention stay.
    assert partitions.partition_name("clicks", now.date()) in names


async def test_a_drop_gives_way_to_traffic_holding_the_table(pg_store: PostgresStore) -> None:
    store = pg_store
    now = make.now()
    await make_days(store, now - 303 * DAY, now - 301 * DAY)
    offer = await make.offer(store)
    aff = (await make.affiliate(store)).id
    await store.insert_clicks([make.click(offer, aff, now - 302 * DAY)])
    old_day = partitions.partition_name("clicks", (now - 302 * DAY).date())
    async with store.engine.connect() as holder:
        await holder.execute(select(func.count()).select_from(clicks))  # a long read, open
        started = asyncio.get_running_loop().time()
        done = await store.purge(Retention(clicks_days=90), now)
        waited = asyncio.get_running_loop().time() - started
        assert done is not None
        assert old_day in {day.name for day in await days_of(store, "clicks")}
        # Meanwhile a click went in at once.
        await asyncio.wait_for(store.insert_clicks([make.click(offer, aff, now)]), 1.0)
        await holder.rollback()
    assert waited < 10
    again = await store.purge(Retention(clicks_days=90), now)
    assert again is not None and again.purged.clicks >= 1
    assert old_day not in {day.name for day in await days_of(store, "clicks")}


async def test_the_migration_partitions_tables_holding_rows(pg_store: PostgresStore) -> None:
    from alembic import command

    from postback.store.migrate import alembic_config

    store = pg_store
    now = make.now()
    offer = await make.offer(store)
    aff = (await make.affiliate(store)).id
    await make.postback(store, aff, offer.id, statuses=["*"])
    spread = [make.click(offer, aff, now - n * 7 * DAY) for n in range(30)]  # to 203 days
    await store.insert_clicks(spread)
    made = await store.record_postback(make.command(spread[0], offer))
    claims = await store.claim_deliveries(limit=50, lease_seconds=60, now=now)
    from tests.store.test_delivery_health import result

    for claim in claims:
        await store.finish_attempt(claim, result(claim, now, success=True))
    counted = {
        table: await rows_in(store, table.name)
        for table in (clicks, incoming_log, delivery_attempts)
    }
    last_log = await top_id(store, incoming_log)
    async with store.engine.begin() as conn:
        await conn.run_sync(lambda c: command.downgrade(alembic_config(c), "0014"))
        assert not await conn.run_sync(partitions.is_partitioned, "clicks")
    assert {t: await rows_in(store, t.name) for t in counted} == counted
    await store.migrate()
    assert {t: await rows_in(store, t.name) for t in counted} == counted
    async with store.engine.connect() as conn:
        for table in partitions.PARTITIONED:
            assert await conn.run_sync(partitions.is_partitioned, table)
    # Days with rows got their partitions (up to BACKFILL_DAYS back), older rows the default.
    oldest_day = partitions.partition_name("clicks", (now - 119 * DAY).date())
    assert oldest_day in {day.name for day in await days_of(store, "clicks")}
    assert await rows_in(store, "clicks_default") >= 12
    for click in spread:
        assert await store.get_click(click.click_id) == click
    # Ids go on from where they were.
    again = await store.record_postback(make.command(spread[1], offer))
    assert made.conversion.id < again.conversion.id
    assert await top_id(store, incoming_log) == last_log + 1


async def top_id(store: PostgresStore, table: Any) -> int:
    async with store.engine.connect() as conn:
        return int((await conn.execute(select(func.max(table.c.id)))).scalar_one())


async def test_a_week_whose_rows_are_in_the_default_partition_is_not_made(
    pg_store: PostgresStore,
) -> None:
    store = pg_store
    offer = await make.offer(store)
    aff = (await make.affiliate(store)).id
    far = make.now() + 400 * DAY  # a clock far ahead: past the weeks made
    click = make.click(offer, aff, far)
    await store.insert_clicks([click])
    assert await rows_in(store, "clicks_default") >= 1
    async with store.engine.begin() as conn:
        made = await conn.run_sync(
            partitions.ensure_days, "clicks", (far - DAY).date(), (far + 20 * DAY).date()
        )
    names = {day.name for day in await days_of(store, "clicks")}
    assert partitions.partition_name("clicks", far.date()) not in names
    assert made >= 2  # the weeks around it
    await store.migrate()  # and a start is not stopped by it
    assert await store.get_click(click.click_id) == click
