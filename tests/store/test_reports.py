"""Reports from rollups equal reports computed from the raw rows, on both backends.

The expected figures come from the clicks, conversions and conversion_history tables
read back and counted in Python with zoneinfo, one row at a time: no buckets, no rollups.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from postback.domain.records import Click, Offer
from postback.domain.report import (
    TEXTS,
    Figures,
    Group,
    Report,
    ReportQuery,
    build_report,
    click_figures,
    conversion_figures,
    parse_query,
)
from postback.errors import InvalidInput
from postback.store.schema import clicks, conversion_history, conversions, rollup_all
from postback.store.sql import Store
from tests.store import factories as make

pytestmark = pytest.mark.timeout(120)

NY_FALL_BACK = datetime(2024, 11, 3, 6, tzinfo=UTC)  # 02:00 EDT -> 01:00 EST


# ---- the independent computation --------------------------------------------------------


@dataclass
class Raw:
    clicks: list[Any]
    conversions: list[Any]
    history: list[Any]


async def read_raw(store: Store) -> Raw:
    assert isinstance(store, Store)
    async with store.engine.connect() as conn:
        found_clicks = list(await conn.execute(select(clicks)))
        found_conversions = list(await conn.execute(select(conversions)))
        found_history = list(
            await conn.execute(select(conversion_history).order_by(conversion_history.c.id))
        )
    return Raw(found_clicks, found_conversions, found_history)


def local(moment_us: int, zone: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(moment_us // 1_000_000, zone)


def expected(raw: Raw, query: ReportQuery) -> tuple[dict[tuple[Any, ...], Figures], Figures]:
    zone = ZoneInfo(query.tz)
    texts_by_click = {c.click_id: tuple(c._mapping[t] or None for t in TEXTS) for c in raw.clicks}
    # Current status and revenue: the last history entry of each conversion.
    last_change: dict[int, Any] = {}
    for change in raw.history:
        last_change[change.conversion_id] = change
    facts: list[tuple[int, dict[str, Any], Figures]] = []
    for click in raw.clicks:
        dims = {"offer_id": click.offer_id, "affiliate_id": click.affiliate_id, "event": None}
        dims.update(zip(TEXTS, texts_by_click[click.click_id], strict=True))
        figures = click_figures(click.is_unique, click.is_bot, click.cost or 0)
        facts.append((click.created_at, dims, figures))
    for conversion in raw.conversions:
        change = last_change[conversion.id]
        assert change.to_status == conversion.status
        dims = {
            "offer_id": conversion.offer_id,
            "affiliate_id": conversion.affiliate_id,
            "event": conversion.event,
        }
        dims.update(zip(TEXTS, texts_by_click[conversion.click_id], strict=True))
        figures = conversion_figures(change.to_status, change.revenue, conversion.payout)
        facts.append((conversion.created_at, dims, figures))

    groups: dict[tuple[Any, ...], Figures] = defaultdict(Figures)
    totals = Figures()
    for moment, dims, figures in facts:
        when = local(moment, zone)
        if not query.first <= when.date() <= query.last:
            continue
        if not all(_allowed(dims[name], values) for name, values in query.filters.items()):
            continue
        values = {"day": when.date().isoformat(), "hour": when.hour, **dims}
        key = tuple(values[name] for name in query.group_by)
        groups[key] += figures
        totals += figures
    return {k: v for k, v in groups.items() if not v.is_zero}, totals


def _allowed(value: Any, allowed: Sequence[Any]) -> bool:
    return (value if value is not None else "") in allowed


async def check(store: Store, **params: Any) -> Report:
    query = parse_query(**params)
    report = await store.report(query)
    want, want_totals = expected(await read_raw(store), query)
    assert {group.keys: group.figures for group in report.rows} == want
    assert report.totals == want_totals
    assert report.row_count == len(want)
    # In key order (missing values first, texts by code point) as the store hands them on.
    assert report.rows == build_report(query, report.rows).rows
    return report


# ---- the world ---------------------------------------------------------------------------


SUB_VALUES: list[tuple[str | None, ...]] = [
    ("s1-a", None, None, None, None),
    ("s1-b", "x", None, None, None),
    (None, "y", "z", None, None),
    ("", None, None, None, "five"),  # an empty sub counts as no sub
    ("s1-a", "x", "3", "4", "=5"),
    ("S1-c", "X", None, None, "Five"),  # before "s1-a" by code point, after it by locale
]


# Where and on what: country, device, os, browser, bot; cycled apart from the subs.
VISITORS: list[tuple[str | None, str | None, str | None, str | None, bool]] = [
    ("US", "desktop", "Windows", "Chrome", False),
    ("BR", "mobile", "Android", "Chrome Mobile", False),
    (None, None, None, None, False),  # nothing known
    ("US", "mobile", "iOS", "Mobile Safari", False),
    ("DE", "bot", "Other", "Googlebot", True),
    ("de", "tablet", "iOS", "Mobile Safari", False),  # stored as given: counted apart
    ("IN", "desktop", "Mac OS X", "Safari", False),
]


async def add_clicks(
    store: Store, offers: list[Offer], affiliates: list[int], start: datetime, count: int
) -> list[Click]:
    made = []
    for index in range(count):
        offer = offers[index % len(offers)]
        affiliate = affiliates[(index // 2) % len(affiliates)]
        click = make.click(offer, affiliate, start + timedelta(minutes=37 * index))
        country, device, os, browser, is_bot = VISITORS[index % len(VISITORS)]
        fields = {
            **_fields(click),
            "subs": SUB_VALUES[index % len(SUB_VALUES)],
            "country": country,
            "device": device,
            "os": os,
            "browser": browser,
            "is_bot": is_bot,
            "is_unique": index % 3 != 1,
            "cost": None if index % 4 == 3 else Decimal(index % 9 * 1237).scaleb(-4),
        }
        click = Click(**fields)
        made.append(click)
    for batch in range(0, len(made), 40):
        await store.insert_clicks(made[batch : batch + 40])
    return made


def _fields(click: Click) -> dict[str, Any]:
    return {name: getattr(click, name) for name in Click.__slots__}


async def post(
    store: Store,
    click: Click,
    offer: Offer,
    status: str,
    at: datetime,
    *,
    txid: str,
    event: str = "sale",
    revenue: str | None = None,
) -> None:
    await store.record_postback(
        make.command(
            click,
            offer,
            status=status,
            event=event,
            txid=txid,
            revenue=Decimal(revenue) if revenue else None,
            received_at=at,
        )
    )


# Status histories: each conversion's statuses in order.
HISTORIES = [
    ["approved"],
    ["approved", "refunded"],
    ["pending"],
    ["pending", "rejected"],
    ["rejected", "approved"],
    ["pending", "approved", "chargeback"],
    ["approved", "rejected", "approved"],
]


async def world(store: Store, start: datetime, count: int = 160) -> dict[str, Any]:
    offers = [
        await make.offer(store, revenue=Decimal("12.3456"), payout=Decimal("7.0001")),
        await make.offer(store, revenue=Decimal("0.0003"), payout=Decimal("0.0001")),
    ]
    affiliates = [(await make.affiliate(store)).id for _ in range(3)]
    made = await add_clicks(store, offers, affiliates, start, count)
    offer_of = {offer.id: offer for offer in offers}
    for index, click in enumerate(made[::4]):
        offer = offer_of[click.offer_id]
        history = HISTORIES[index % len(HISTORIES)]
        created = click.created_at + timedelta(minutes=11 * (index % 5))
        for step, status in enumerate(history):
            # Later changes arrive hours or days later; they still count at creation time.
            at = created + timedelta(hours=30 * step)
            revenue = "99.99" if step == 2 else ("1.5" if index % 3 == 0 else None)
            event = "lead" if index % 4 == 0 else "sale"
            await post(
                store, click, offer, status, at, txid=f"T{index}", event=event, revenue=revenue
            )
    return {"offers": offers, "affiliates": affiliates, "clicks": made}


# ---- the tests -----------------------------------------------------------------------------


async def test_reports_equal_the_raw_rows_across_zones_and_groupings(store: Store) -> None:
    start = NY_FALL_BACK - timedelta(days=2)
    await world(store, start)
    span = {"first": "2024-11-01", "last": "2024-11-06"}
    for tz in ["UTC", "America/New_York", "Asia/Kolkata", "Asia/Kathmandu"]:
        for group_by in [
            [],
            ["day"],
            ["day,hour"],
            ["hour"],
            ["day", "offer_id", "affiliate_id"],
            ["event"],
            ["sub1"],
            ["affiliate_id,sub2"],
            ["day,sub1,sub2"],
            ["event,sub5"],
            ["hour,offer_id,event,sub3"],
            ["country"],
            ["day,device"],
            ["affiliate_id,os"],
            ["browser,sub1"],
            ["day,country,device,os,browser"],
            ["offer_id,event,country"],
            # Kept in days and quarters only: hours are read as quarters.
            ["hour,country"],
            ["day,hour,device"],
            ["hour,sub1,os"],
        ]:
            await check(store, tz=tz, group_by=group_by, **span)
    report = await check(store, tz="America/New_York", group_by=["day", "hour"], **span)
    # The repeated hour of the fall-back day counts both of its hours.
    assert any(group.keys == ("2024-11-03", 1) for group in report.rows)


async def test_filters_and_single_days(store: Store) -> None:
    start = datetime(2024, 3, 9, tzinfo=UTC)  # New York springs forward on 2024-03-10
    w = await world(store, start, count=120)
    offer, affiliate = w["offers"][0].id, w["affiliates"][1]
    for tz in ["America/New_York", "Asia/Kathmandu"]:
        for day in ["2024-03-09", "2024-03-10", "2024-03-11"]:
            await check(store, tz=tz, first=day, last=day, group_by=["hour"])
        await check(
            store,
            tz=tz,
            first="2024-03-08",
            last="2024-03-12",
            group_by=["day"],
            filters={"offer_id": [str(offer)], "affiliate_id": [str(affiliate)]},
        )
        await check(
            store, tz=tz, first="2024-03-08", last="2024-03-12", filters={"sub1": ["", "s1-a"]}
        )
        await check(
            store,
            tz=tz,
            first="2024-03-08",
            last="2024-03-12",
            group_by=["event"],
            filters={"event": ["lead"]},
        )
        await check(
            store,
            tz=tz,
            first="2024-03-08",
            last="2024-03-12",
            group_by=["sub2", "day"],
            filters={"sub2": ["x"], "offer_id": [str(offer)]},
        )
        await check(
            store,
            tz=tz,
            first="2024-03-08",
            last="2024-03-12",
            group_by=["day", "device"],
            filters={"country": ["us", "", "DE"]},  # upper-cased: "de" clicks are not "DE"
        )
        await check(
            store,
            tz=tz,
            first="2024-03-08",
            last="2024-03-12",
            group_by=["country"],
            filters={"device": ["mobile"], "browser": ["Chrome Mobile"], "os": ["Android"]},
        )
        await check(
            store,
            tz=tz,
            first="2024-03-08",
            last="2024-03-12",
            group_by=["sub1", "os"],
            filters={"affiliate_id": [str(affiliate)], "country": ["US"]},
        )


async def test_affiliates_get_their_own_rows(store: Store) -> None:
    start = datetime(2024, 5, 1, tzinfo=UTC)
    w = await world(store, start, count=60)
    mine = w["affiliates"][0]
    report = await check(
        store,
        first="2024-05-01",
        last="2024-05-03",
        group_by=["affiliate_id", "sub1"],
        affiliate_id=mine,
    )
    assert report.rows and {group.keys[0] for group in report.rows} == {mine}
    empty = await store.report(
        parse_query(
            first="2024-05-01",
            last="2024-05-03",
            affiliate_id=mine,
            filters={"affiliate_id": ["999"]},
        )
    )
    assert empty.rows == [] and empty.totals == Figures()


async def test_status_changes_move_figures_at_once(store: Store) -> None:
    offer = await make.offer(store, revenue=Decimal("10.0001"), payout=Decimal("4"))
    affiliate = (await make.affiliate(store)).id
    created = datetime(2024, 7, 1, 23, 50, tzinfo=UTC)
    click = make.click(offer, affiliate, created - timedelta(minutes=1))
    await store.insert_clicks([click])
    query = parse_query(
        first="2024-07-01", last="2024-07-01", filters={"offer_id": [str(offer.id)]}
    )

    async def totals() -> Figures:
        return (await store.report(query)).totals

    assert await totals() == Figures(clicks=1, unique_clicks=1)
    await post(store, click, offer, "pending", created, txid="X")
    assert await totals() == Figures(clicks=1, unique_clicks=1, conversions=1, pending=1)
    # Two days later, approved with a new revenue: still in July 1st, now with money.
    await post(
        store, click, offer, "approved", created + timedelta(days=2), txid="X", revenue="20.5"
    )
    assert await totals() == Figures(
        clicks=1, unique_clicks=1, conversions=1, approved=1, revenue=205_000, payout=40_000
    )
    await post(store, click, offer, "refunded", created + timedelta(days=3), txid="X")
    assert await totals() == Figures(clicks=1, unique_clicks=1, conversions=1)
    # A duplicate and a refused change leave the figures alone.
    await post(store, click, offer, "refunded", created + timedelta(days=4), txid="X")
    with pytest.raises(Exception, match="refunded"):
        await post(store, click, offer, "approved", created + timedelta(days=5), txid="X")
    assert await totals() == Figures(clicks=1, unique_clicks=1, conversions=1)
    next_day = parse_query(
        first="2024-07-02", last="2024-07-05", filters={"offer_id": [str(offer.id)]}
    )
    assert (await store.report(next_day)).totals == Figures()


async def test_a_change_arriving_on_another_click_keeps_the_first_clicks_subs(
    store: Store,
) -> None:
    offer = await make.offer(store)
    affiliate = (await make.affiliate(store)).id
    at = datetime(2024, 8, 1, 12, tzinfo=UTC)
    first = make.click(offer, affiliate, at, subs=("first", None, None, None, None))
    second = make.click(offer, affiliate, at, subs=("second", None, None, None, None))
    await store.insert_clicks([first, second])
    await post(store, first, offer, "approved", at, txid="SAME")
    await post(store, second, offer, "refunded", at + timedelta(hours=1), txid="SAME")
    report = await check(
        store,
        first="2024-08-01",
        last="2024-08-01",
        group_by=["sub1"],
        filters={"offer_id": [str(offer.id)]},
    )
    assert {g.keys: g.figures.conversions for g in report.rows} == {("first",): 1, ("second",): 0}


async def test_money_sums_exactly(store: Store) -> None:
    offer = await make.offer(store, revenue=Decimal("0.0001"), payout=Decimal("0.0003"))
    affiliate = (await make.affiliate(store)).id
    at = datetime(2024, 9, 1, 6, tzinfo=UTC)
    amounts = ["0.1", "0.2", "0.3", "999999999.9999", "0.0001", "33.3333"]
    for index, amount in enumerate(amounts):
        click = make.click(offer, affiliate, at + timedelta(minutes=index))
        await store.insert_clicks([click])
        await post(store, click, offer, "approved", at, txid=f"M{index}", revenue=amount)
    report = await store.report(
        parse_query(first="2024-09-01", last="2024-09-01", filters={"offer_id": [str(offer.id)]})
    )
    total = sum((Decimal(a) for a in amounts), Decimal(0))
    assert report.totals.revenue == int(total * 10_000)
    assert report.totals.payout == 6 * 3


async def test_concurrent_writers_neither_lose_nor_double_count(store: Store) -> None:
    """Many click batches and postbacks at once, on the same rollup rows."""
    offer = await make.offer(store)
    affiliates = [(await make.affiliate(store)).id for _ in range(2)]
    at = datetime(2024, 10, 1, 12, tzinfo=UTC)
    seeds = [make.click(offer, affiliates[i % 2], at) for i in range(40)]
    await store.insert_clicks(seeds)
    batches = [
        [make.click(offer, affiliates[(i + j) % 2], at + timedelta(seconds=j)) for j in range(25)]
        for i in range(12)
    ]
    writes = [store.insert_clicks(batch) for batch in batches]
    writes += [post(store, c, offer, "approved", at, txid=f"C{i}") for i, c in enumerate(seeds)]
    await asyncio.gather(*writes)
    report = await check(
        store,
        first="2024-10-01",
        last="2024-10-01",
        group_by=["affiliate_id"],
        filters={"offer_id": [str(offer.id)]},
    )
    assert report.totals.clicks == 40 + 12 * 25 and report.totals.approved == 40


async def test_unsplittable_zones_are_refused(store: Store) -> None:
    with pytest.raises(InvalidInput) as refused:
        await store.report(parse_query(tz="Africa/Monrovia", first="1971-06-01", last="1971-06-01"))
    assert refused.value.param == "tz"


async def test_an_empty_range_has_zero_totals(store: Store) -> None:
    report = await store.report(
        parse_query(first="1999-01-01", last="1999-01-31", group_by=["day", "sub1"])
    )
    assert report.rows == [] and report.totals == Figures() and report.row_count == 0


def test_groups_are_plain_values() -> None:
    group = Group(("2024-01-01", 3, None), Figures(clicks=1))
    assert group.keys[2] is None and isinstance(date.fromisoformat(str(group.keys[0])), date)


# ---- report zones: local days kept in the rollups ---------------------------------------

ZONES = ["America/New_York", "Asia/Kolkata", "Asia/Kathmandu"]
DAY_GROUPINGS = [
    ["day"],
    ["day", "offer_id", "affiliate_id"],
    ["day,sub1"],
    ["day,event,sub5"],
    ["day,country"],
    ["day,device,browser"],
]


async def zone_rows(store: Store) -> int:
    assert isinstance(store, Store)
    async with store.engine.connect() as conn:
        found = await conn.execute(select(func.count()).where(rollup_all.c.grain < 0))
        return int(found.scalar_one())


async def check_zone_days(store: Store, zones: list[str], first: str, last: str) -> None:
    for tz in zones:
        for group_by in DAY_GROUPINGS:
            await check(store, tz=tz, first=first, last=last, group_by=group_by)
        # Reports without days still read the UTC buckets, and agree too.
        await check(store, tz=tz, first=first, last=last, group_by=["sub1"])


async def test_registered_zones_keep_local_days_that_equal_the_raw_rows(store: Store) -> None:
    assert await store.add_report_zones(["UTC", *ZONES]) == ZONES
    assert await store.add_report_zones(ZONES[:1]) == []
    await world(store, NY_FALL_BACK - timedelta(days=2))
    assert await zone_rows(store) > 0
    await check_zone_days(store, ZONES, "2024-11-01", "2024-11-06")


async def test_zones_added_later_are_backfilled_then_kept(store: Store) -> None:
    # Zones no other test registers (the module's tests share one database).
    later_zones = ["America/Chicago", "Australia/Lord_Howe", "Pacific/Chatham"]
    w = await world(store, datetime(2024, 3, 9, tzinfo=UTC), count=120)
    assert await store.add_report_zones(later_zones) == later_zones
    await check_zone_days(store, later_zones, "2024-03-08", "2024-03-13")
    # Writes after the backfill land in the zone days too: new clicks and status changes.
    offer = w["offers"][0]
    start = datetime(2024, 3, 10, 3, tzinfo=UTC)
    later = await add_clicks(store, [offer], w["affiliates"], start, 30)
    for index, click in enumerate(later[:10]):
        txid = f"L{index}"
        await post(store, click, offer, "approved", click.created_at, txid=txid)
        await post(store, click, offer, "refunded", click.created_at + timedelta(days=4), txid=txid)
    await check_zone_days(store, later_zones, "2024-03-08", "2024-03-13")


async def test_registering_a_zone_while_others_write_loses_nothing(store: Store) -> None:
    offer = await make.offer(store)
    affiliates = [(await make.affiliate(store)).id for _ in range(2)]
    at = datetime(2024, 10, 1, 22, tzinfo=UTC)
    batches = [
        [make.click(offer, affiliates[j % 2], at + timedelta(minutes=7 * i + j)) for j in range(20)]
        for i in range(30)
    ]
    writes: list[Awaitable[object]] = [store.insert_clicks(batch) for batch in batches]
    writes.insert(15, store.add_report_zones(["Australia/Eucla"]))
    await asyncio.gather(*writes)
    report = await check(
        store,
        tz="Australia/Eucla",
        first="2024-10-01",
        last="2024-10-03",
        group_by=["day"],
        filters={"offer_id": [str(offer.id)]},
    )
    assert report.totals.clicks == 30 * 20
    assert await zone_rows(store) > 0


def test_postgres_statement_text_depends_on_the_shape_only() -> None:
    """Pieces and filter values travel as arguments: one text (one prepared statement)
    serves every range, zone and filter value of a shape."""
    from sqlalchemy.dialects.postgresql import asyncpg

    from postback.domain.buckets import plan
    from postback.store.reports import postgres_report

    dialect = asyncpg.dialect()  # type: ignore[no-untyped-call]  # untyped in sqlalchemy

    def statement(
        tz: str, first: str, last: str, offers: list[str], group_by: str = "day,sub1"
    ) -> tuple[str, list[Any]]:
        query = parse_query(
            first=first, last=last, tz=tz, group_by=[group_by], filters={"offer_id": offers}
        )
        pieces = plan(query.tz, query.first, query.last, query.period)
        return postgres_report(query, pieces, dialect)

    # New York's days across its change to summer time: buckets of several offsets.
    spring, spring_arguments = statement("America/New_York", "2024-03-01", "2024-03-30", ["1"])
    week, week_arguments = statement("America/New_York", "2024-03-04", "2024-03-12", ["7", "2"])
    assert spring == week and spring_arguments != week_arguments
    assert [2, 7] in week_arguments and "$" in spring and "sub1" in spring
    # Rows come in key order, texts by code point whatever the database's locale.
    assert 'ORDER BY (r.bucket_at + pieces.offset_us) / $1::BIGINT, r.sub1 COLLATE "C"' in spring
    # UTC days are one piece (a range of day buckets): scalars instead of the arrays.
    utc, utc_arguments = statement("UTC", "2024-03-01", "2024-03-30", ["1"])
    utc_week, _ = statement("UTC", "2024-03-04", "2024-03-10", ["7", "2"])
    assert utc == utc_week != spring and "unnest" not in utc
    assert 86_400 in utc_arguments and [1] in utc_arguments
    # Buckets that subtract are summed times their sign; others are just summed.
    assert "* pieces.sign" in spring.split("FROM")[0] and "sign" not in utc.split("FROM")[0]


def test_one_piece_groups_that_are_rows_come_in_key_order() -> None:
    """Grouped by day and every key of the cube, in one piece: the rows are read in the
    order of the table's key (grain, bucket, offer, affiliate), so nothing sorts them."""
    from sqlalchemy.dialects.postgresql import asyncpg

    from postback.domain.buckets import plan
    from postback.store.reports import postgres_report

    def statement(group_by: list[str]) -> str:
        query = parse_query(first="2024-03-01", last="2024-03-30", tz="UTC", group_by=group_by)
        pieces = plan(query.tz, query.first, query.last, query.period)
        assert len(pieces) == 1
        dialect = asyncpg.dialect()  # type: ignore[no-untyped-call]  # untyped in sqlalchemy
        return postgres_report(query, pieces, dialect)[0]

    pairs = statement(["day", "offer_id", "affiliate_id"])
    assert "ORDER BY r.bucket_at, r.offer_id, r.affiliate_id \n LIMIT" in pairs
    # Summed groups are ordered by their day, not their buckets.
    offers = statement(["day", "offer_id"])
    assert "ORDER BY (r.bucket_at + $1::BIGINT) / $2::BIGINT, r.offer_id" in offers


def test_one_rollup_row_per_group_is_read_without_grouping() -> None:
    """Whole UTC days by every key of the cube: each group is one rollup row."""
    from sqlalchemy.dialects.postgresql import asyncpg

    from postback.domain.buckets import plan
    from postback.store.reports import postgres_report

    def statement(tz: str, group_by: list[str]) -> str:
        query = parse_query(first="2024-03-01", last="2024-03-30", tz=tz, group_by=group_by)
        pieces = plan(query.tz, query.first, query.last, query.period)
        dialect = asyncpg.dialect()  # type: ignore[no-untyped-call]  # untyped in sqlalchemy
        return postgres_report(query, pieces, dialect)[0]

    assert "GROUP BY" not in statement("UTC", ["day", "offer_id", "affiliate_id"])
    assert "GROUP BY" not in statement("UTC", ["affiliate_id", "day", "sub2"])
    # Several rows per group: other offers, local days of several buckets, hours of days.
    assert "GROUP BY" in statement("UTC", ["day", "affiliate_id"])
    assert "GROUP BY" in statement("America/New_York", ["day", "offer_id", "affiliate_id"])
    assert "GROUP BY" in statement("UTC", ["hour", "offer_id", "affiliate_id"])
    assert "GROUP BY" in statement("UTC", ["offer_id", "affiliate_id"])
