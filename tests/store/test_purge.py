"""Retention's purge: what is older than its retention goes, in batches, one process at a
time; conversions keep their clicks' subs, place and time, and reports stay exact."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select, update

from postback.domain.conversion import Outcome
from postback.domain.records import Click, Offer
from postback.domain.report import ReportQuery, parse_query
from postback.domain.retention import Retention
from postback.store.schema import click_visitors, clicks, deliveries, delivery_attempts, kept_clicks
from postback.store.sql import Store
from postback.store.sql_base import now_us
from tests.store import factories as make
from tests.store.test_delivery_health import result

pytestmark = pytest.mark.timeout(120)

DAY = timedelta(days=1)
KEEP_90 = Retention(clicks_days=90, incoming_days=30, attempts_days=30)


async def traffic(store: Store, now: datetime) -> tuple[Offer, int, list[Click], list[Click]]:
    """Old clicks (200 days), one of them converted, and young ones (10 days)."""
    offer = await make.offer(store, revenue=Decimal("12.5"), payout=Decimal("4"))
    aff = (await make.affiliate(store)).id
    old = [make.click(offer, aff, now - 200 * DAY + n * timedelta(minutes=1)) for n in range(5)]
    old = [
        Click(**{**vars_of(click), "country": "BR", "device": "mobile", "visitor": "v" * 32})
        for click in old
    ]
    young = [make.click(offer, aff, now - 10 * DAY) for _ in range(3)]
    await store.insert_clicks(old + young)
    within = old[0].created_at + timedelta(hours=1)
    made = await store.record_postback(
        make.command(old[0], offer, status="pending", txid="T1", received_at=within)
    )
    assert made.outcome is Outcome.CREATED
    await store.record_postback(make.command(young[0], offer, received_at=now - 9 * DAY))
    return offer, aff, old, young


def vars_of(click: Click) -> dict[str, Any]:
    return {name: getattr(click, name) for name in Click.__slots__}


def by_day(offer: Offer, now: datetime, group: tuple[str, ...] = ("day",)) -> ReportQuery:
    return parse_query(
        first=(now - 220 * DAY).date().isoformat(),
        last=now.date().isoformat(),
        group_by=group,
        filters={"offer_id": [str(offer.id)]},
        limit=1000,
    )


async def reports(store: Store, offer: Offer, now: datetime) -> list[Any]:
    found = []
    for group in (("day",), ("day", "country", "sub1"), ("device",)):
        report = await store.report(by_day(offer, now, group))
        found.append((report.rows, report.totals))
    return found


async def count(store: Store, table: Any, *where: Any) -> int:
    async with store.engine.connect() as conn:
        query = select(func.count()).select_from(table).where(*where)
        return int((await conn.execute(query)).scalar_one())


async def test_old_clicks_go_their_conversions_keep_them_and_reports_stay(store: Store) -> None:
    now = make.now()
    offer, _aff, old, young = await traffic(store, now)
    before = await reports(store, offer, now)

    due = await store.purge(KEEP_90, now, dry_run=True)
    assert due is not None and due.dry_run
    assert due.purged.clicks >= 5 and due.purged.kept_clicks >= 1
    assert await store.get_click(old[1].click_id) is not None  # a dry run changes nothing

    done = await store.purge(KEEP_90, now, limit=2)  # three batches for these five
    assert done is not None and not done.dry_run
    assert done.cutoffs.clicks == now - 90 * DAY
    assert done.purged.clicks >= 5 and done.purged.kept_clicks >= 1
    for click in old[1:]:
        assert await store.get_click(click.click_id) is None
    for click in young:
        assert await store.get_click(click.click_id) == click
    kept = await store.get_click(old[0].click_id)
    assert kept is not None
    assert (kept.subs, kept.country, kept.device, kept.created_at) == (
        old[0].subs,
        "BR",
        "mobile",
        old[0].created_at,
    )
    assert (kept.ip, kept.user_agent, kept.referrer, kept.visitor) == (None, None, None, None)
    assert await count(store, clicks, clicks.c.click_id == old[0].click_id) == 0
    assert await reports(store, offer, now) == before

    # Its conversion still changes, counted where it was: same sub, country and device.
    approved = await store.record_postback(
        make.command(kept, offer, status="approved", txid="T1", received_at=now)
    )
    assert approved.outcome is Outcome.UPDATED
    by_place = await store.report(by_day(offer, now, ("country", "sub1", "device")))
    brazil = [row for row in by_place.rows if row.keys[0] == "BR"]
    assert [(row.keys, row.figures.approved) for row in brazil] == [(("BR", "s1", "mobile"), 1)]
    assert brazil[0].figures.clicks == 5

    again = await store.purge(KEEP_90, now)
    assert again is not None and again.purged.clicks == 0
    assert await count(store, kept_clicks, kept_clicks.c.click_id == old[0].click_id) == 1


async def test_clicks_a_postback_may_still_convert_are_never_purged(store: Store) -> None:
    now = make.now()
    offer = await make.offer(store, attribution_days=120)
    aff = (await make.affiliate(store)).id
    click = await make.stored_click(store, offer, aff, created_at=now - 100 * DAY)
    # Asked for 7 days, the window of 120 wins: a day past it at the least.
    assert Retention(clicks_days=7).click_days(120) == 121
    done = await store.purge(Retention(clicks_days=7), now)
    assert done is not None and done.cutoffs.clicks == now - 121 * DAY
    assert await store.get_click(click.click_id) == click
    made = await store.record_postback(make.command(click, offer, received_at=now))
    assert made.outcome is Outcome.CREATED


async def test_zero_keeps_for_ever(store: Store) -> None:
    now = make.now()
    offer = await make.offer(store)
    aff = (await make.affiliate(store)).id
    click = await make.stored_click(store, offer, aff, created_at=now - 3000 * DAY)
    forever = Retention(clicks_days=0, incoming_days=0, attempts_days=0)
    done = await store.purge(forever, now)
    assert done is not None
    assert (done.cutoffs.clicks, done.cutoffs.incoming, done.cutoffs.attempts) == (None,) * 3
    assert await store.get_click(click.click_id) == click


async def test_logs_attempts_and_delivered_bodies_go_after_their_days(store: Store) -> None:
    now = make.now()
    offer = await make.offer(store)
    aff = (await make.affiliate(store)).id
    await make.postback(
        store, aff, offer.id, method="POST", body='{"cid":"{click_id}"}', statuses=["*"]
    )
    clicked = [await make.stored_click(store, offer, aff) for _ in range(3)]
    made = [
        await store.record_postback(make.command(click, offer, received_at=now - 40 * DAY))
        for click in clicked
    ]
    claims = await store.claim_deliveries(limit=10, lease_seconds=60, now=now)
    mine = [c for c in claims if c.delivery.conversion_id in {m.conversion.id for m in made}]
    assert len(mine) == 3
    for claim in mine:
        assert await store.finish_attempt(claim, result(claim, now, success=True))
    ids = [claim.delivery.id for claim in mine]
    old_ids, young_id = ids[:2], ids[2]
    async with store.engine.begin() as conn:
        old_us = now_us() - 40 * 86_400_000_000
        await conn.execute(
            update(deliveries).where(deliveries.c.id.in_(old_ids)).values(updated_at=old_us)
        )
        await conn.execute(
            update(delivery_attempts)
            .where(delivery_attempts.c.delivery_id.in_(old_ids))
            .values(started_at=old_us)
        )
    log_before = await make.incoming_for(store, clicked[0].click_id)
    assert len(log_before) == 1  # received 40 days ago

    done = await store.purge(KEEP_90, now)
    assert done is not None
    assert done.purged.bodies >= 2 and done.purged.attempts >= 2 and done.purged.incoming >= 3
    assert await make.incoming_for(store, clicked[0].click_id) == []
    for delivery_id in old_ids:
        delivery = await store.get_delivery(delivery_id)
        assert delivery is not None and delivery.body is None
        assert delivery.body_purged_at is not None and delivery.state == "delivered"
        assert (await store.list_attempts([delivery_id])).get(delivery_id, []) == []
        # Sent again as it was is no longer possible ...
        assert not await store.retry_delivery(delivery_id, now)
    young = await store.get_delivery(young_id)
    assert young is not None and young.body == f'{{"cid":"{clicked[2].click_id}"}}'
    assert len((await store.list_attempts([young_id]))[young_id]) == 1
    # ... but a replay renders the config's postback again, as a new delivery.
    config = (await store.get_delivery(old_ids[0])).postback_id  # type: ignore[union-attr]
    requeued, created = await store.replay(config, now - 50 * DAY, None, now)
    assert (requeued, created) == (1, 2)
    for conversion in made[:2]:
        fresh = [
            d
            for d in await make.deliveries_for(store, conversion.conversion.id)
            if d.body_purged_at is None
        ]
        assert [(d.state, d.body) for d in fresh] == [
            ("pending", f'{{"cid":"{conversion.conversion.click_id}"}}')
        ]


async def test_unique_click_memories_go_after_the_unique_window(store: Store) -> None:
    now = make.now()
    offer = await make.offer(store)
    aff = (await make.affiliate(store)).id
    seen = [
        Click(**{**vars_of(make.click(offer, aff, at)), "visitor": f"{n:032d}"})
        for n, at in enumerate((now - 3 * DAY, now - 2 * DAY, now - timedelta(hours=1)))
    ]
    await store.insert_clicks(seen)
    visitors = click_visitors.c.offer_id == offer.id
    assert await count(store, click_visitors, visitors) == 3
    done = await store.purge(KEEP_90, now, limit=1)  # pages of one
    assert done is not None and done.purged.visitors >= 2
    assert await count(store, click_visitors, visitors) == 1
    # The visitor of an hour ago is still remembered: not unique again within the window.
    again = Click(**{**vars_of(make.click(offer, aff, now)), "visitor": seen[2].visitor})
    await store.insert_clicks([again])
    async with store.engine.connect() as conn:
        unique = select(clicks.c.is_unique).where(clicks.c.click_id == again.click_id)
        assert (await conn.execute(unique)).scalar_one() is False


async def test_one_purge_at_a_time(database_url: str) -> None:
    from postback.settings import Settings
    from postback.store.factory import open_store

    settings = Settings(database_url=database_url)
    first, second = open_store(settings), open_store(settings)
    try:
        await first.migrate()
        async with first._purge_turn() as ours:
            assert ours
            assert await second.purge(KEEP_90, datetime.now(UTC)) is None
        assert await second.purge(KEEP_90, datetime.now(UTC)) is not None
    finally:
        await first.close()
        await second.close()


async def test_purge_beside_clicks_and_postbacks_takes_nothing_young(store: Store) -> None:
    now = make.now()
    offer, aff, _old, young = await traffic(store, now)
    more_old = [make.click(offer, aff, now - 150 * DAY) for _ in range(300)]
    await store.insert_clicks(more_old)
    before = await reports(store, offer, now - DAY)  # yesterday and before

    arriving: list[Click] = []

    async def clicks_and_postbacks() -> None:
        for n in range(20):
            batch = [make.click(offer, aff, make.now()) for _ in range(10)]
            await store.insert_clicks(batch)
            arriving.extend(batch)
            await store.record_postback(make.command(batch[0], offer))
            await asyncio.sleep(0.01 * (n % 3))

    done, _ = await asyncio.gather(
        store.purge(KEEP_90, now, limit=25, pause=0.001), clicks_and_postbacks()
    )
    assert done is not None and done.purged.clicks >= 304
    for click in arriving + young:
        assert await store.get_click(click.click_id) == click
    assert await reports(store, offer, now - DAY) == before
