"""Costs imported afterwards set the matching clicks' costs, and the reports' cost and ROI
follow at once, equal to the raw rows, on both backends."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from postback.domain.costs import CostRow
from postback.store.schema import clicks
from postback.store.sql import Store
from tests.store import factories as make
from tests.store.test_reports import check, post

pytestmark = pytest.mark.timeout(120)

DAY = date(2024, 6, 10)
NOON = datetime(2024, 6, 10, 12, tzinfo=UTC)
NO_SUBS: tuple[None, None, None, None, None] = (None, None, None, None, None)


def row(
    offer: int, affiliate: int, amount: str, day: date = DAY, sub1: str | None = None
) -> CostRow:
    return CostRow(day, offer, affiliate, (sub1, None, None, None, None), Decimal(amount))


async def costs(store: Store) -> dict[str, int | None]:
    async with store.engine.connect() as conn:
        found = await conn.execute(select(clicks.c.click_id, clicks.c.cost))
        return {click_id: cost for click_id, cost in found}


async def test_a_row_spreads_its_amount_over_the_days_clicks_exactly(store: Store) -> None:
    offer = await make.offer(store, revenue=Decimal("3"), payout=Decimal("1"))
    other_offer = await make.offer(store)
    mine, theirs = (await make.affiliate(store)).id, (await make.affiliate(store)).id
    times = [NOON + timedelta(hours=h) for h in (-12, -1, 0, 5, 11)]  # all of June 10, UTC
    made = [
        make.click(offer, mine, at, subs=(f"s{i % 2}", *NO_SUBS[1:])) for i, at in enumerate(times)
    ]
    outside = [
        make.click(offer, mine, NOON + timedelta(hours=12)),  # June 11
        make.click(offer, theirs, NOON),
        make.click(other_offer, mine, NOON),
    ]
    await store.insert_clicks([*made, *outside])
    await post(store, made[0], offer, "approved", NOON, txid="T1")

    assert await store.apply_costs([row(offer.id, mine, "1.0003")]) == [5]
    found = await costs(store)
    spread = sorted((found[c.click_id] or 0 for c in made), reverse=True)
    assert spread == [2001, 2001, 2001, 2000, 2000] and sum(spread) == 10_003
    assert all(found[c.click_id] is None for c in outside)
    mine_only = {"offer_id": [str(offer.id)], "affiliate_id": [str(mine)]}
    report = await check(
        store, first="2024-06-10", last="2024-06-11", group_by=["day", "sub1"], filters=mine_only
    )
    assert report.totals.cost == 10_003
    # ROI: (3 - 1 - 1.0003) / (1 + 1.0003) x 100 = 49.97750...
    assert report.totals.roi_units(admin=True) == 499_775

    # The same row again replaces; a smaller amount lowers the costs and the report.
    assert await store.apply_costs([row(offer.id, mine, "1.0003")]) == [5]
    assert {c: v for c, v in (await costs(store)).items() if c in found} == found
    assert await store.apply_costs([row(offer.id, mine, "0.5")]) == [5]
    now_set = await costs(store)
    assert sum(now_set[c.click_id] or 0 for c in made) == 5_000
    report = await check(
        store, first="2024-06-10", last="2024-06-10", group_by=["sub1"], filters=mine_only
    )
    assert report.totals.cost == 5_000

    # A row naming a sub sets only those clicks'; a day without clicks matches none.
    assert await store.apply_costs([row(offer.id, mine, "9", sub1="s1")]) == [2]
    assert await store.apply_costs([row(offer.id, mine, "9", day=date(2024, 6, 12))]) == [0]
    report = await check(
        store, first="2024-06-10", last="2024-06-10", group_by=["sub1"], filters=mine_only
    )
    assert {g.keys[0]: g.figures.cost for g in report.rows} == {"s0": 3_000, "s1": 90_000}


async def test_days_are_those_of_the_zone_asked(store: Store) -> None:
    offer = await make.offer(store)
    affiliate = (await make.affiliate(store)).id
    # 03:30 UTC on June 10 is still June 9 in New York.
    early = make.click(offer, affiliate, datetime(2024, 6, 10, 3, 30, tzinfo=UTC))
    late = make.click(offer, affiliate, datetime(2024, 6, 10, 23, 0, tzinfo=UTC))
    await store.insert_clicks([early, late])
    assert await store.apply_costs([row(offer.id, affiliate, "7")], "America/New_York") == [1]
    found = await costs(store)
    assert found[late.click_id] == 70_000 and found[early.click_id] is None
    await check(
        store, tz="America/New_York", first="2024-06-09", last="2024-06-10", group_by=["day"]
    )


async def test_a_click_cost_from_the_link_is_replaced_not_added(store: Store) -> None:
    offer = await make.offer(store)
    affiliate = (await make.affiliate(store)).id
    paid = replace(make.click(offer, affiliate, NOON), cost=Decimal("0.25"))
    await store.insert_clicks([paid])
    only = {"offer_id": [str(offer.id)]}
    day = {"first": "2024-06-10", "last": "2024-06-10", "filters": only}
    assert (await check(store, **day)).totals.cost == 2_500
    await store.apply_costs([row(offer.id, affiliate, "0.1")])
    assert (await check(store, **day)).totals.cost == 1_000
