"""SIGKILL `postback purge` at random moments (both backends): no half state remains (a
click gone without the copy its conversion needs, a day partition half dropped, a report
changed), and the next purge finishes the job."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import ColumnElement, func, literal_column, select

from postback.domain.records import Click
from postback.settings import Settings
from postback.store import partitions
from postback.store.factory import open_store
from postback.store.schema import clicks, conversions
from postback.store.sql import Store
from tests.store import factories as make
from tests.store.test_purge import reports

KILLS = int(os.environ.get("POSTBACK_PURGE_KILLS", "8"))
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240 + KILLS * 10)]

DAY = timedelta(days=1)
OLD_DAYS = 6  # days of old clicks, 200 days back and more
PER_DAY = 4_000


async def seed(store: Store, now: datetime) -> tuple[Any, list[Click], set[str]]:
    offer = await make.offer(store, revenue=Decimal("2"), payout=Decimal("1"))
    aff = (await make.affiliate(store)).id
    first = now - (200 + OLD_DAYS) * DAY
    if store.engine.dialect.name == "postgresql":
        async with store.engine.begin() as conn:  # days made while they were current
            await conn.run_sync(
                partitions.ensure_days, "clicks", first.date(), (now - 201 * DAY).date()
            )
    old: list[Click] = []
    for day in range(OLD_DAYS + 1):  # the last day before the partitions: the default one
        start = first - DAY if day == OLD_DAYS else first + day * DAY
        batch = [make.click(offer, aff, start + timedelta(seconds=n * 20)) for n in range(PER_DAY)]
        await store.insert_clicks(batch)
        old.extend(batch)
    converted = set()
    for click in random.Random(7).sample(old, 60):
        await store.record_postback(
            make.command(click, offer, received_at=click.created_at + timedelta(hours=1))
        )
        converted.add(click.click_id)
    young = [make.click(offer, aff, now - n * DAY) for n in range(5)]
    await store.insert_clicks(young)
    return offer, old + young, converted


async def check_whole(store: Store, made: list[Click], converted: set[str]) -> Counter[str]:
    """Every converted click is found (stored or kept); each old day is whole or gone."""
    for click_id in converted:
        found = await store.get_click(click_id)
        assert found is not None, click_id
    day_of: ColumnElement[int] = literal_column(f"clicks.created_at / {partitions.DAY_US}")
    async with store.engine.connect() as conn:
        query = select(conversions.c.click_id).where(conversions.c.click_id.in_(list(converted)))
        assert set((await conn.execute(query)).scalars()) == converted
        per_day = Counter(
            {
                str(day): count
                for day, count in await conn.execute(
                    select(day_of, func.count()).select_from(clicks).group_by(day_of)
                )
            }
        )
    if store.engine.dialect.name == "postgresql":
        # A partition is there whole or not at all.
        async with store.engine.connect() as conn:
            spans = await conn.run_sync(partitions.partitions_of, "clicks")
        for span in spans:
            wanted = sum(span.start_us <= rows_us(c.created_at) < span.end_us for c in made)
            held = sum(
                count
                for day, count in per_day.items()
                if span.start_us <= int(day) * partitions.DAY_US < span.end_us
            )
            assert held == wanted, (span.name, held, wanted)
    return per_day


def rows_us(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


async def purge(store: Store, env: dict[str, str], now: datetime, kill_after: float | None) -> bool:
    """Run `postback purge`; with `kill_after`, SIGKILL it that many seconds after it
    has begun removing clicks. Whether it was killed."""
    process = subprocess.Popen(
        [sys.executable, "-m", "postback", "purge", "--batch", "50"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    if kill_after is not None:
        left = await old_clicks(store, now)
        deadline = time.monotonic() + 60
        while process.poll() is None and time.monotonic() < deadline:
            if await old_clicks(store, now) < left:
                await asyncio.sleep(kill_after)
                break
            await asyncio.sleep(0.01)
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=30)
            return True
    _, errors = process.communicate(timeout=180)
    assert process.returncode == 0, errors
    return False


async def test_purge_killed_at_random_leaves_no_half_state(database_url: str) -> None:
    settings = Settings(database_url=database_url)
    store = open_store(settings)
    await store.migrate()
    now = datetime.now(UTC)
    try:
        offer, made, converted = await seed(store, now)
        before = await reports(store, offer, now)
        env = {
            **os.environ,
            "POSTBACK_DATABASE_URL": database_url,
            "POSTBACK_RETAIN_CLICKS_DAYS": "90",
        }
        rng = random.Random(int(os.environ.get("POSTBACK_PURGE_SEED", "11")))
        killed = 0
        for _ in range(KILLS):
            killed += await purge(store, env, now, rng.uniform(0, 0.3))
            await check_whole(store, made, converted)
            assert await reports(store, offer, now) == before
            if not await old_clicks(store, now):
                break
        assert killed >= 1
        await purge(store, env, now, None)
        await check_whole(store, made, converted)
        assert await old_clicks(store, now) == 0
        assert await reports(store, offer, now) == before
        for click in made[-5:]:
            assert await store.get_click(click.click_id) == click
    finally:
        await store.close()


async def old_clicks(store: Store, now: datetime) -> int:
    async with store.engine.connect() as conn:
        query = select(func.count()).where(clicks.c.created_at < rows_us(now - 91 * DAY))
        return int((await conn.execute(query)).scalar_one())
