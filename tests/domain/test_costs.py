"""Costs reported afterwards: rows checked field by field, amounts split to the unit."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from postback.domain.costs import day_span, parse_row, shares
from postback.errors import InvalidInput

GOOD = {"day": "2024-05-01", "offer_id": 3, "affiliate_id": "4", "amount": "12.5"}


def test_a_row_from_json_or_csv() -> None:
    row = parse_row({**GOOD, "sub1": "fb", "sub3": ""})
    assert (row.day, row.offer_id, row.affiliate_id) == (date(2024, 5, 1), 3, 4)
    assert row.subs == ("fb", None, None, None, None) and row.amount == Decimal("12.5")
    assert parse_row({**GOOD, "amount": 0}).amount == 0
    assert row.fields()["amount"] == Decimal("12.5") and row.fields()["day"] == "2024-05-01"


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"day": "2024-5-1"}, "day"),
        ({"day": "2024-02-30"}, "day"),
        ({"day": None}, "day"),
        ({"offer_id": "0"}, "offer_id"),
        ({"offer_id": "x"}, "offer_id"),
        ({"affiliate_id": 2**63}, "affiliate_id"),
        ({"amount": "-1"}, "amount"),
        ({"amount": "1.00001"}, "amount"),
        ({"amount": "NaN"}, "amount"),
        ({"amount": "1e400"}, "amount"),
        ({"amount": True}, "amount"),
        ({"amount": ""}, "amount"),
        ({"sub1": "x" * 256}, "sub1"),
        ({"sub2": "a\x00b"}, "sub2"),
        ({"sub6": "x"}, "sub6"),
    ],
)
def test_bad_fields_are_named(change: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_row({**GOOD, **change})
    assert refused.value.param == param


def test_days_start_at_local_midnight() -> None:
    start, end = day_span(date(2024, 11, 3), "America/New_York")  # 25 hours long
    assert start.astimezone(UTC) == datetime(2024, 11, 3, 4, tzinfo=UTC)
    assert end.timestamp() - start.timestamp() == 25 * 3600
    with pytest.raises(InvalidInput):
        day_span(date(2024, 1, 1), "Mars/Olympus")


@given(st.integers(min_value=0, max_value=10**16), st.integers(min_value=1, max_value=5000))
def test_shares_add_up_and_differ_by_one_unit_at_most(amount: int, count: int) -> None:
    found = shares(amount, count)
    assert len(found) == count and sum(found) == amount
    assert max(found) - min(found) <= 1 and found == sorted(found, reverse=True)


def test_no_clicks_no_shares() -> None:
    assert shares(100, 0) == []
