"""Report questions and answers: validation, figures, rounding, sorting, CSV."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from postback.domain.buckets import DAY, HOUR
from postback.domain.payload import dumps
from postback.domain.report import (
    MAX_DAYS,
    Figures,
    Group,
    ReportQuery,
    SortKey,
    build_report,
    conversion_figures,
    metric_values,
    parse_query,
    report_csv,
    report_fields,
    report_json,
)
from postback.errors import InvalidInput

NOW = datetime(2024, 6, 15, 22, 30, tzinfo=UTC)


def refused(param: str, **kwargs: Any) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        parse_query(now=NOW, **kwargs)
    assert caught.value.param == param, caught.value.message
    return caught.value


# ---- the question ---------------------------------------------------------------------


def test_defaults_are_today_in_the_zone() -> None:
    assert parse_query(now=NOW).first == date(2024, 6, 15)
    tokyo = parse_query(now=NOW, tz="Asia/Tokyo")
    assert (tokyo.first, tokyo.last, tokyo.tz) == (
        date(2024, 6, 16),
        date(2024, 6, 16),
        "Asia/Tokyo",
    )
    alone = parse_query(now=NOW, first="2024-06-01")
    assert (alone.first, alone.last) == (date(2024, 6, 1), date(2024, 6, 15))
    one = parse_query(now=NOW, last="2024-05-01")
    assert (one.first, one.last) == (date(2024, 5, 1), date(2024, 5, 1))


def test_group_by_accepts_commas_and_repeats_in_order() -> None:
    query = parse_query(now=NOW, group_by=["day,offer_id", " sub1 ", "day", "hour"])
    assert query.group_by == ("day", "offer_id", "sub1", "hour")
    assert query.period == HOUR
    assert parse_query(now=NOW, group_by=["day"]).period == DAY
    assert parse_query(now=NOW, group_by=["offer_id"]).period is None
    assert query.columns[:4] == ("day", "offer_id", "sub1", "hour")


def test_filters_parse_lists() -> None:
    query = parse_query(
        now=NOW,
        filters={
            "offer_id": ["1,2", "2", "3"],
            "event": ["sale,lead"],
            "sub1": ["a,b", ""],
            "sub2": [],
        },
    )
    assert query.filters == {"offer_id": (1, 2, 3), "event": ("sale", "lead"), "sub1": ("a,b", "")}
    assert query.dimensions == {"offer_id", "event", "sub1"}


@pytest.mark.parametrize(
    ("param", "kwargs"),
    [
        ("from", {"first": "2024-6-1"}),
        ("from", {"first": "2024-02-30"}),
        ("from", {"first": "1900-01-01"}),
        ("to", {"last": "tomorrow"}),
        ("to", {"first": "2024-06-02", "last": "2024-06-01"}),
        ("to", {"first": "2020-01-01", "last": "2024-01-01"}),
        ("tz", {"tz": "Mars/Olympus"}),
        ("tz", {"tz": "+05:30"}),
        ("group_by", {"group_by": ["day,week"]}),
        ("group_by", {"group_by": ["revenue"]}),
        ("offer_id", {"filters": {"offer_id": ["x"]}}),
        ("offer_id", {"filters": {"offer_id": ["0"]}}),
        ("affiliate_id", {"filters": {"affiliate_id": ["99999999999999999999"]}}),
        ("event", {"filters": {"event": ["no spaces"]}}),
        ("sub3", {"filters": {"sub3": ["x" * 256]}}),
        ("sub3", {"filters": {"sub3": ["nul\x00"]}}),
        ("day", {"filters": {"day": ["2024-01-01"]}}),
        ("sort", {"sort": ["-offer_id"]}),  # not grouped by offer_id
        ("sort", {"sort": ["bogus"]}),
        ("limit", {"limit": "0"}),
        ("limit", {"limit": "100001"}),
        ("limit", {"limit": "ten"}),
    ],
)
def test_bad_input_names_the_parameter(param: str, kwargs: dict[str, Any]) -> None:
    error = refused(param, **kwargs)
    assert error.message


def test_at_most_max_days() -> None:
    query = parse_query(now=NOW, first="2022-01-01", last="2023-12-31")
    assert (query.last - query.first).days + 1 == MAX_DAYS - 1
    refused("to", first="2022-01-01", last="2024-01-02")


def test_affiliates_see_only_their_rows_and_no_revenue() -> None:
    mine = parse_query(now=NOW, affiliate_id=7)
    assert mine.filters == {"affiliate_id": (7,)} and not mine.admin
    assert "revenue" not in mine.columns and "profit" not in mine.columns
    assert "payout" in mine.columns and "epc" in mine.columns
    other = parse_query(now=NOW, affiliate_id=7, filters={"affiliate_id": ["8"]})
    assert other.filters["affiliate_id"] == () and other.matches_nothing
    both = parse_query(now=NOW, affiliate_id=7, filters={"affiliate_id": ["7,8"]})
    assert both.filters["affiliate_id"] == (7,)
    with pytest.raises(InvalidInput) as caught:
        parse_query(now=NOW, affiliate_id=7, sort=["-revenue"])
    assert caught.value.param == "sort"


# ---- figures --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("approved", Figures(conversions=1, approved=1, revenue=100, payout=70)),
        ("pending", Figures(conversions=1, pending=1)),
        ("rejected", Figures(conversions=1, rejected=1)),
        ("refunded", Figures(conversions=1)),
        ("chargeback", Figures(conversions=1)),
    ],
)
def test_a_conversion_counts_by_its_status(status: str, expected: Figures) -> None:
    assert conversion_figures(status, 100, 70) == expected


def test_a_status_change_moves_between_columns() -> None:
    refund = conversion_figures("refunded", 100, 70) - conversion_figures("approved", 100, 70)
    assert refund == Figures(approved=-1, revenue=-100, payout=-70)
    total = conversion_figures("approved", 100, 70) + refund
    assert total == Figures(conversions=1)


@pytest.mark.parametrize(
    ("figures", "cr", "epc"),
    [
        (Figures(), "0", "0"),
        (Figures(conversions=3), "0", "0"),  # no clicks: 0, not a division by zero
        (Figures(clicks=3, conversions=1, payout=10_000), "33.3333", "0.3333"),
        (Figures(clicks=3, conversions=2, payout=20_000), "66.6667", "0.6667"),
        # Half rounds up: 1/160000 x 100 = 0.000625 -> 0.0006; 0.00005 -> 0.0001
        (Figures(clicks=160_000, conversions=1), "0.0006", "0"),
        (Figures(clicks=2, payout=1), "0", "0.0001"),
        (Figures(clicks=4, payout=2), "0", "0.0001"),
        (Figures(clicks=4, payout=1), "0", "0"),
    ],
)
def test_cr_and_epc_round_half_up_to_four_places(figures: Figures, cr: str, epc: str) -> None:
    values = metric_values(figures, admin=True)
    assert values["cr"] == Decimal(cr) and values["epc"] == Decimal(epc)


@given(
    st.integers(min_value=1, max_value=10**9),
    st.integers(min_value=0, max_value=10**9),
    st.integers(min_value=0, max_value=10**15),
)
def test_cr_and_epc_are_the_exact_quotient_rounded(clicks: int, conv: int, payout: int) -> None:
    values = metric_values(Figures(clicks=clicks, conversions=conv, payout=payout), admin=True)
    exact_cr = Decimal(conv * 100) / Decimal(clicks)
    exact_epc = Decimal(payout) / Decimal(10_000) / Decimal(clicks)
    for shown, exact in ((values["cr"], exact_cr), (values["epc"], exact_epc)):
        assert isinstance(shown, Decimal)
        assert abs(shown - exact) <= Decimal("0.00005")
        assert shown == shown.quantize(Decimal("0.0001"))


def test_money_is_decimal_and_profit_is_revenue_minus_payout() -> None:
    values = metric_values(Figures(clicks=1, revenue=123_456_789, payout=23_456_789), admin=True)
    assert values["revenue"] == Decimal("12345.6789")
    assert values["profit"] == Decimal("10000")
    assert set(metric_values(Figures(), admin=False)) == {
        "clicks",
        "unique_clicks",
        "bot_clicks",
        "conversions",
        "approved",
        "pending",
        "rejected",
        "payout",
        "cost",
        "cr",
        "epc",
        "roi",
    }


@pytest.mark.parametrize(
    ("figures", "admin_roi", "affiliate_roi"),
    [
        (Figures(), "0", "0"),  # nothing spent: 0, not a division by zero
        # admin: (100 - 40 - 10) / (40 + 10) = 100 %; affiliate: (40 - 10) / 10 = 300 %
        (Figures(revenue=1_000_000, payout=400_000, cost=100_000), "100", "300"),
        # A loss is negative; no cost for the affiliate is 0.
        (Figures(revenue=100_000, payout=300_000), "-66.6667", "0"),
        (Figures(cost=30_000), "-100", "-100"),
        # Half away from zero: 33.3333..; 66.6666..; +-1/2000000 x 100 = +-0.00005
        (Figures(revenue=40_000, payout=20_000, cost=10_000), "33.3333", "100"),
        (Figures(revenue=50_000, payout=20_000, cost=10_000), "66.6667", "100"),
        (Figures(revenue=2_000_001, payout=2_000_000), "0.0001", "0"),
        (Figures(revenue=1_999_999, payout=2_000_000), "-0.0001", "0"),
    ],
)
def test_roi_follows_the_contract(figures: Figures, admin_roi: str, affiliate_roi: str) -> None:
    assert metric_values(figures, admin=True)["roi"] == Decimal(admin_roi)
    assert metric_values(figures, admin=False)["roi"] == Decimal(affiliate_roi)


@given(
    st.integers(min_value=0, max_value=10**15),
    st.integers(min_value=0, max_value=10**15),
    st.integers(min_value=0, max_value=10**15),
)
def test_roi_is_the_exact_quotient_rounded_half_away_from_zero(
    revenue: int, payout: int, cost: int
) -> None:
    figures = Figures(revenue=revenue, payout=payout, cost=cost)
    for admin, gained, spent in (
        (True, revenue - payout - cost, payout + cost),
        (False, payout - cost, cost),
    ):
        shown = metric_values(figures, admin=admin)["roi"]
        if spent == 0:
            assert shown == 0
            continue
        exact = Decimal(gained) * 100 / Decimal(spent)
        expected = exact.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
        # Decimal's context keeps 28 digits: enough for these sizes, so this is exact.
        assert shown == expected


# ---- the answer -----------------------------------------------------------------------


def groups() -> list[Group]:
    return [
        Group(("2024-06-01", "b"), Figures(clicks=10, revenue=50_000, payout=20_000)),
        Group(("2024-06-01", None), Figures(clicks=5, revenue=90_000, payout=10_000)),
        Group(("2024-06-02", "a"), Figures(clicks=20, revenue=50_000, payout=40_000)),
        Group(("2024-06-02", "c"), Figures()),  # nothing counted: left out
    ]


def query(**kwargs: Any) -> ReportQuery:
    base: dict[str, Any] = {
        "first": date(2024, 6, 1),
        "last": date(2024, 6, 2),
        "tz": "UTC",
        "group_by": ("day", "sub1"),
    }
    return ReportQuery(**{**base, **kwargs})


def test_rows_sort_by_keys_by_default_missing_first() -> None:
    report = build_report(query(), groups())
    assert [g.keys for g in report.rows] == [
        ("2024-06-01", None),
        ("2024-06-01", "b"),
        ("2024-06-02", "a"),
    ]
    assert report.totals == Figures(clicks=35, revenue=190_000, payout=70_000)
    assert report.row_count == 3


def test_sort_by_figures_then_keys_and_limit() -> None:
    report = build_report(
        query(sort=(SortKey("profit", True),), limit=2), groups()
    )  # profits: 3, 8, 1
    assert [g.keys[1] for g in report.rows] == [None, "b"]
    assert report.row_count == 3 and report.totals.clicks == 35  # totals ignore the limit
    by_day_then_epc = build_report(query(sort=(SortKey("day", True), SortKey("epc"))), groups())
    assert [g.keys for g in by_day_then_epc.rows] == [
        ("2024-06-02", "a"),
        ("2024-06-01", None),
        ("2024-06-01", "b"),
    ]


def test_json_fields_for_admins_and_affiliates() -> None:
    admin = report_fields(build_report(query(), groups()))
    assert admin["rows"][0] == {
        "day": "2024-06-01",
        "sub1": None,
        "clicks": 5,
        "unique_clicks": 0,
        "bot_clicks": 0,
        "conversions": 0,
        "approved": 0,
        "pending": 0,
        "rejected": 0,
        "revenue": Decimal("9"),
        "payout": Decimal("1"),
        "cost": Decimal("0"),
        "profit": Decimal("8"),
        "cr": Decimal("0"),
        "epc": Decimal("0.2"),
        "roi": Decimal("800"),
    }
    assert admin["totals"]["revenue"] == Decimal("19") and admin["row_count"] == 3
    affiliate = report_fields(build_report(query(admin=False), groups()))
    for fields in (*affiliate["rows"], affiliate["totals"]):
        assert "revenue" not in fields and "profit" not in fields


def test_csv_has_the_same_columns_and_defuses_formulas() -> None:
    rows = [
        Group(("2024-06-01", "=HYPERLINK(1)"), Figures(clicks=3, conversions=1, payout=10_000)),
        Group(("2024-06-01", 'a,"b"'), Figures(clicks=1)),
    ]
    text = report_csv(build_report(query(sort=(SortKey("clicks", True),)), rows))
    parsed = list(csv.reader(io.StringIO(text)))
    assert parsed[0] == [
        "day",
        "sub1",
        "clicks",
        "unique_clicks",
        "bot_clicks",
        "conversions",
        "approved",
        "pending",
        "rejected",
        "revenue",
        "payout",
        "cost",
        "profit",
        "cr",
        "epc",
        "roi",
    ]
    assert parsed[1] == [
        "2024-06-01",
        "'=HYPERLINK(1)",
        "3",
        "0",
        "0",
        "1",
        "0",
        "0",
        "0",
        "0",
        "1",
        "0",
        "-1",
        "33.3333",
        "0.3333",
        "-100",
    ]
    assert parsed[2][1] == 'a,"b"'
    assert text.endswith("\r\n")
    affiliate = report_csv(build_report(query(admin=False), rows))
    assert "revenue" not in affiliate.splitlines()[0] and "profit" not in affiliate


@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=10**6),
            st.integers(min_value=0, max_value=10**4),
            st.integers(min_value=-(10**17), max_value=10**17),
            st.integers(min_value=-(10**17), max_value=10**17),
            st.integers(min_value=0, max_value=10**17),
            st.one_of(st.none(), st.text(max_size=8)),
        ),
        max_size=5,
    ),
    st.booleans(),
)
def test_fast_json_writes_what_the_decimals_say(
    values: list[tuple[int, int, int, int, int, str | None]], admin: bool
) -> None:
    rows = [
        Group(
            (f"2024-06-0{i % 9 + 1}", i % 2, sub),
            Figures(
                clicks=c,
                conversions=v,
                revenue=r,
                payout=p,
                unique_clicks=c // 2,
                bot_clicks=c // 3,
                cost=cost,
            ),
        )
        for i, (c, v, r, p, cost, sub) in enumerate(values)
    ]
    report = build_report(query(group_by=("day", "offer_id", "sub1"), admin=admin), rows)
    assert report_json(report) == dumps(report_fields(report))
    assert json.loads(report_json(report)) == json.loads(dumps(report_fields(report)))
