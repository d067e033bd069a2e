"""Rollup changes pending on PostgreSQL: writers share no row, reports stay exact while
changes are pending, half folded, or after a fold that died part-way."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from postback.store import pending
from postback.store.postbacks import apply_batch
from postback.store.postgres import PostgresStore
from postback.store.schema import rollup_base, rollup_pending
from postback.store.sql_traffic import write_clicks
from tests.store import factories as make
from tests.store.test_reports import check, post

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(120)]

AT = datetime(2024, 10, 1, 12, tzinfo=UTC)
DAY = {"first": "2024-10-01", "last": "2024-10-01"}


@pytest.fixture
def store(pg_store: PostgresStore) -> PostgresStore:
    return pg_store


async def pending_rows(store: PostgresStore) -> int:
    async with store.engine.connect() as conn:
        return int(
            (await conn.execute(select(func.count()).select_from(rollup_pending))).scalar_one()
        )


async def traffic(store: PostgresStore, clicks: int = 30) -> int:
    """Clicks and postbacks of a new offer; its id."""
    offer = await make.offer(store)
    affiliate = await make.affiliate(store)
    made = [make.click(offer, affiliate.id, AT + timedelta(minutes=n)) for n in range(clicks)]
    await store.insert_clicks(made[: clicks // 2])
    await store.insert_clicks(made[clicks // 2 :])
    for n, click in enumerate(made[::3]):
        await post(store, click, offer, "pending", AT, txid=f"T{n}")
        if n % 2:
            await post(store, click, offer, "approved", AT, txid=f"T{n}")
    return offer.id


async def test_writers_append_and_a_report_folds_before_it_reads(store: PostgresStore) -> None:
    offer_id = await traffic(store)
    assert await pending_rows(store) > 0
    async with store.engine.connect() as conn:
        folded_clicks = (await conn.execute(select(func.sum(rollup_base.c.clicks)))).scalar()
    assert folded_clicks is None  # nothing folded yet: only pending changes
    mine = {"offer_id": [str(offer_id)]}
    report = await check(store, **DAY, group_by=["affiliate_id", "event"], filters=mine)
    assert report.totals.clicks == 30
    assert await pending_rows(store) == 0


async def test_a_report_after_part_of_the_changes_were_folded_is_exact(
    store: PostgresStore,
) -> None:
    await traffic(store)
    before = await pending_rows(store)
    async with store.engine.begin() as conn:
        folded = await conn.run_sync(pending.fold, wait=True, limit=2)
        assert folded == pending.Folded(2, more=True)
    assert await pending_rows(store) == before - 2
    await check(store, **DAY, group_by=["day", "offer_id"])
    await check(store, **DAY, group_by=["sub1"])


async def test_one_fold_at_a_time_and_the_others_do_not_wait(store: PostgresStore) -> None:
    await traffic(store)
    async with store.engine.begin() as first, store.engine.begin() as second:
        assert await first.run_sync(pending.fold, wait=False, limit=1) is not None
        assert await second.run_sync(pending.fold, wait=False) is None


async def test_a_fold_killed_before_its_commit_leaves_every_change_pending(
    store: PostgresStore, pg_url: str
) -> None:
    await traffic(store)
    before = await pending_rows(store)
    # A fold in another process, killed after folding and before committing.
    script = textwrap.dedent(
        f"""
        import asyncio, sys
        from postback.store import pending
        from postback.store.postgres import PostgresStore

        async def main():
            store = PostgresStore({pg_url!r})
            async with store.engine.begin() as conn:
                await conn.run_sync(pending.fold, wait=True)
                print("folded", flush=True)
                await asyncio.sleep(60)

        asyncio.run(main())
        """
    )
    with subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE) as child:
        try:
            assert child.stdout is not None
            line = await asyncio.to_thread(child.stdout.readline)
            assert line.strip() == b"folded"
            os.kill(child.pid, signal.SIGKILL)
        finally:
            child.kill()
    assert await pending_rows(store) == before
    await check(store, **DAY, group_by=["affiliate_id", "event"])
    assert await pending_rows(store) == 0


async def test_concurrent_writers_of_the_same_rollup_rows_do_not_wait_for_each_other(
    store: PostgresStore,
) -> None:
    """Two open transactions write clicks and postbacks of one affiliate, offer and day:
    neither waits for the other (with a rollup row in common, the second would)."""
    offer = await make.offer(store)
    affiliate = await make.affiliate(store)
    seeds = [make.click(offer, affiliate.id, AT) for _ in range(2)]
    await store.insert_clicks(seeds)
    commands = [
        make.command(click, offer, txid=f"W{n}", received_at=AT) for n, click in enumerate(seeds)
    ]
    async with store.engine.connect() as first, store.engine.connect() as second:
        for conn in (first, second):
            await conn.execute(text("SET lock_timeout = '2s'"))  # begins the transaction
        await first.run_sync(write_clicks, [make.click(offer, affiliate.id, AT)])
        await first.run_sync(apply_batch, commands[:1], True)
        # Blocked on a row lock, this would fail after lock_timeout.
        await second.run_sync(write_clicks, [make.click(offer, affiliate.id, AT)])
        await second.run_sync(apply_batch, commands[1:], True)
        await second.commit()
        await first.commit()
    mine = {"offer_id": [str(offer.id)]}
    report = await check(store, **DAY, group_by=["affiliate_id"], filters=mine)
    assert report.totals.clicks == 4 and report.totals.conversions == 2


async def test_the_background_fold_empties_what_is_pending(store: PostgresStore) -> None:
    offer_id = await traffic(store)
    stop = asyncio.Event()
    folding = asyncio.create_task(store.keep_rollups_folded(stop))
    try:
        for _ in range(100):
            if await pending_rows(store) == 0:
                break
            await asyncio.sleep(0.05)
        assert await pending_rows(store) == 0
    finally:
        stop.set()
        await folding
    async with store.engine.connect() as conn:
        folded_clicks = (
            await conn.execute(
                select(func.sum(rollup_base.c.clicks)).where(
                    rollup_base.c.grain == 86400, rollup_base.c.offer_id == offer_id
                )
            )
        ).scalar()
    assert folded_clicks == 30


async def test_a_backlog_folds_in_bounded_pieces_and_nothing_is_left_out(
    store: PostgresStore,
) -> None:
    """A fold takes at most `max_bytes` of changes (at least one row) and says whether
    more wait; folding until nothing waits counts everything, as the raw rows say."""
    await traffic(store)
    waiting = await pending_rows(store)
    assert waiting > 3
    pieces = []
    while True:
        async with store.engine.begin() as conn:
            folded = await conn.run_sync(pending.fold, wait=True, max_bytes=1)
        assert folded is not None
        pieces.append(folded)
        if not folded.more:
            break
    assert [piece.rows for piece in pieces] == [1] * waiting
    assert await pending_rows(store) == 0
    await check(store, **DAY, group_by=["day", "offer_id", "sub1"])
