"""Exact money: parsing limits, the four-decimal rule, storage units, formatting."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from postback.domain import money

AMOUNTS = st.decimals(
    min_value=Decimal("-1000000000000"),
    max_value=Decimal("1000000000000"),
    places=4,
    allow_nan=False,
    allow_infinity=False,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", Decimal("0")),
        ("12", Decimal("12")),
        ("12.5", Decimal("12.5")),
        ("0.0001", Decimal("0.0001")),
        ("999999.9999", Decimal("999999.9999")),
        ("1000000000000", Decimal("1000000000000")),
        ("1000000000000.0000", Decimal("1000000000000")),
        (" 7.25 ", Decimal("7.25")),
        ("0.10000", Decimal("0.1")),  # trailing zeros beyond four places are not precision
        ("1E+3", Decimal("1000")),
        (5, Decimal("5")),
        (Decimal("3.1415"), Decimal("3.1415")),
    ],
)
def test_parse_amount_accepts(text: str | int | Decimal, expected: Decimal) -> None:
    value = money.parse_amount(text)
    assert value == expected
    assert isinstance(value, Decimal)
    # Always carried at the contract's precision.
    assert value.as_tuple().exponent == -4


@pytest.mark.parametrize(
    "text",
    [
        "",
        "abc",
        "1,5",
        "1.2.3",
        "0x10",
        "NaN",
        "sNaN",
        "Infinity",
        "-Infinity",
        "1.00001",
        "0.00009",
        "12.34567",
        "1000000000000.0001",
        "1000000000001",
        "-1",
        "-0.0001",
    ],
)
def test_parse_amount_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        money.parse_amount(text)


def test_parse_amount_refuses_bool() -> None:
    with pytest.raises(ValueError, match="number"):
        money.parse_amount(True)


def test_negative_only_when_allowed() -> None:
    assert money.parse_amount("-12.5", allow_negative=True) == Decimal("-12.5")
    assert money.parse_amount("-1000000000000", allow_negative=True) == Decimal("-1000000000000")
    with pytest.raises(ValueError):
        money.parse_amount("-1000000000000.0001", allow_negative=True)


def test_refusal_messages_explain() -> None:
    with pytest.raises(ValueError, match="4 decimals"):
        money.parse_amount("1.23456")
    with pytest.raises(ValueError, match="negative"):
        money.parse_amount("-3")
    with pytest.raises(ValueError, match="exceed"):
        money.parse_amount("1000000000000.5")


@pytest.mark.parametrize("text", ["1e30", "9" * 40, "1E+100"])
def test_parse_amount_refuses_huge_values_with_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        money.parse_amount(text)


def test_no_binary_float_on_the_way() -> None:
    # 0.1 + 0.2 is the classic float trap; decimals must add up exactly.
    total = money.parse_amount("0.1") + money.parse_amount("0.2")
    assert total == Decimal("0.3")
    assert money.to_units(total) == 3000
    # Not the float value of 1.1 (1.100000000000000088817841970012523...)
    assert money.parse_amount("1.1") == Decimal("1.1")
    assert money.to_units(money.parse_amount("1.1")) == 11000


@pytest.mark.parametrize(
    ("amount", "units"),
    [
        (Decimal("0"), 0),
        (Decimal("0.0001"), 1),
        (Decimal("1"), 10_000),
        (Decimal("12.3456"), 123_456),
        (Decimal("999999.9999"), 9_999_999_999),
        (Decimal("1000000000000"), 10_000_000_000_000_000),
        (Decimal("-2.5"), -25_000),
    ],
)
def test_to_units_and_back(amount: Decimal, units: int) -> None:
    assert money.to_units(amount) == units
    assert isinstance(money.to_units(amount), int)
    assert money.from_units(units) == amount
    assert money.from_units(units).as_tuple().exponent == -4


@given(AMOUNTS)
def test_units_round_trip(amount: Decimal) -> None:
    units = money.to_units(amount)
    assert isinstance(units, int)
    assert money.from_units(units) == amount


@given(st.integers(min_value=-(10**16), max_value=10**16))
def test_from_units_round_trip(units: int) -> None:
    assert money.to_units(money.from_units(units)) == units


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (Decimal("12.5000"), "12.5"),
        (Decimal("3.0000"), "3"),
        (Decimal("0"), "0"),
        (Decimal("0.0000"), "0"),
        (Decimal("-0.0000"), "0"),
        (Decimal("0.0001"), "0.0001"),
        (Decimal("100"), "100"),
        (Decimal("1000000000000"), "1000000000000"),
        (Decimal("999999.9999"), "999999.9999"),
        (Decimal("-7.10"), "-7.1"),
        (Decimal("1E+3"), "1000"),
    ],
)
def test_format_amount(amount: Decimal, text: str) -> None:
    assert money.format_amount(amount) == text


@given(AMOUNTS)
def test_format_then_parse_is_identity(amount: Decimal) -> None:
    text = money.format_amount(amount)
    assert "E" not in text and "e" not in text
    assert money.parse_amount(text, allow_negative=True) == amount
