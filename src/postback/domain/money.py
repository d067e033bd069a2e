"""Exact money: Decimal in memory, integer ten-thousandths in storage, never binary float."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

SCALE = 10_000  # four decimals, the contract's precision
MAX_AMOUNT = Decimal("1000000000000")  # 1e12 in the currency's unit
_FOUR_PLACES = Decimal("0.0001")


def parse_amount(text: str | int | Decimal, *, allow_negative: bool = False) -> Decimal:
    """Parse a money amount with at most four decimals; ValueError explains a refusal."""
    if isinstance(text, bool):
        raise ValueError("must be a number")
    if isinstance(text, float):
        # JSON floats are re-read from their shortest repr, which is what the sender wrote.
        text = repr(text)
    text = str(text).strip()
    if "_" in text:
        raise ValueError("must be a decimal number")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError("must be a decimal number") from None
    if not value.is_finite():
        raise ValueError("must be a finite number")
    if abs(value) > MAX_AMOUNT:
        raise ValueError(f"must not exceed {MAX_AMOUNT}")
    if value != value.quantize(_FOUR_PLACES, rounding="ROUND_DOWN"):
        raise ValueError("at most 4 decimals")
    if value < 0 and not allow_negative:
        raise ValueError("must not be negative")
    return value.quantize(_FOUR_PLACES)


def to_units(amount: Decimal) -> int:
    return int(amount * SCALE)


def from_units(units: int) -> Decimal:
    return (Decimal(units) / SCALE).quantize(_FOUR_PLACES)


def format_amount(amount: Decimal) -> str:
    """Shortest plain decimal text: 12.5000 -> '12.5', 3.0000 -> '3'."""
    text = format(amount.quantize(_FOUR_PLACES), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text if text not in {"", "-0"} else "0"
