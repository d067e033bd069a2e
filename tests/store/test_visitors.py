"""Unique clicks on both backends: the same visitor on the same offer within the window is
not unique again; the database decides, so two processes at once still count one."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import replace
from datetime import timedelta

from sqlalchemy import select

from postback.domain.records import Click
from postback.store.schema import clicks
from postback.store.sql import Store
from tests.store import factories as f

WINDOW_US = 3600 * 1_000_000


async def _flags(store: Store, made: list[Click]) -> list[bool]:
    ids = [click.click_id for click in made]
    async with store.engine.connect() as conn:
        found = {
            row.click_id: row.is_unique
            for row in await conn.execute(
                select(clicks.c.click_id, clicks.c.is_unique).where(clicks.c.click_id.in_(ids))
            )
        }
    return [bool(found[click_id]) for click_id in ids]


async def test_a_visitors_second_click_within_the_window_is_not_unique(store: Store) -> None:
    store.unique_window_us = WINDOW_US
    offer, other_offer = await f.offer(store), await f.offer(store)
    aff = (await f.affiliate(store)).id
    start = f.now() - timedelta(hours=3)

    def at(minutes: float, visitor: str | None = "v1", on: object = offer) -> Click:
        made = f.click(on, aff, created_at=start + timedelta(minutes=minutes))  # type: ignore[arg-type]
        return replace(made, visitor=visitor)

    first = [at(0), at(10), at(10, on=other_offer), at(20, visitor="v2"), at(30, visitor=None)]
    for click in first:
        await store.insert_clicks([click])
    # Within one batch too, in time order whatever the order in the batch.
    batch = [at(50), at(61 + 60), at(60 + 60)]
    await store.insert_clicks(batch)
    # A batch that arrives late (written after a later one) does not make either unique
    # twice: the latest click stays the latest.
    late = [at(100)]
    await store.insert_clicks(late)
    assert await _flags(store, first) == [True, False, True, True, True]
    assert await _flags(store, batch) == [False, False, True]
    assert await _flags(store, late) == [False]


async def test_a_zero_window_makes_every_click_unique(store: Store) -> None:
    store.unique_window_us = 0
    offer = await f.offer(store)
    aff = (await f.affiliate(store)).id
    made = [replace(f.click(offer, aff), visitor="same") for _ in range(3)]
    for click in made:
        await store.insert_clicks([click])
    assert await _flags(store, made) == [True, True, True]


WRITER = """
import asyncio, sys, time
from dataclasses import replace
from postback.store.postgres import PostgresStore
from postback.domain.records import Click
from postback.domain.ids import new_click_id
from datetime import UTC, datetime

async def main(url, offer_id, aff_id, start):
    store = PostgresStore(url)
    now = datetime.now(UTC)
    clicks = [Click(new_click_id(now), offer_id, aff_id, (None,) * 5, "203.0.113.9", "UA", None,
                    None, now, visitor="racer") for _ in range(5)]
    while time.time() < start:
        await asyncio.sleep(0.001)
    for click in clicks:
        await store.insert_clicks([replace(click, created_at=datetime.now(UTC))])
    print(" ".join(click.click_id for click in clicks))
    await store.close()

asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])))
"""


async def test_two_processes_clicking_one_visitor_at_once_count_one_unique(
    pg_store: Store, pg_url: str
) -> None:
    offer = await f.offer(pg_store)
    aff = (await f.affiliate(pg_store)).id
    start = str(time.time() + 2)
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, pg_url, str(offer.id), str(aff), start],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    ids = []
    for racer in racers:
        out, _ = racer.communicate(timeout=60)
        assert racer.returncode == 0
        ids += out.split()
    async with pg_store.engine.connect() as conn:
        found = [
            row.is_unique
            for row in await conn.execute(
                select(clicks.c.is_unique).where(clicks.c.click_id.in_(ids))
            )
        ]
    assert len(found) == 10 and sum(found) == 1
