"""Traffic costs reported afterwards: what one day of an offer's traffic from one
affiliate (and, when named, some of its subs) cost, spread over the matching clicks.

A row sets the cost of every click it matches, so the same row again replaces, never
adds: `amount` is split into equal shares in ten-thousandths, the remainder one unit
each to the first clicks in click-id order, so the shares add up to the amount exactly
and the same clicks always get the same share.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from postback.domain import money
from postback.domain.buckets import load_zone
from postback.domain.report import FIRST_DATE, LAST_DATE, MAX_ID, MAX_SUB_LENGTH, SUBS
from postback.errors import InvalidInput

#: Rows one API request may hold: the most that stay under the API's body limit
#: (POSTBACK_MAX_API_BODY_BYTES, 1 MB by default) however short each row.
MAX_ROWS = 5_000
#: Rows one CSV file may hold (`postback import costs`), read whole before any applies.
MAX_FILE_ROWS = 100_000
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ID = re.compile(r"[0-9]{1,19}")
COLUMNS = ("day", "offer_id", "affiliate_id", *SUBS, "amount")


@dataclass(frozen=True, slots=True)
class CostRow:
    """One day's cost of an offer's traffic from one affiliate; `subs`: the sub values
    a click must have to match (None: any)."""

    day: date
    offer_id: int
    affiliate_id: int
    subs: tuple[str | None, str | None, str | None, str | None, str | None]
    amount: Decimal

    @property
    def key(self) -> tuple[Any, ...]:
        """Rows with the same key set the costs of the same clicks."""
        return (self.day, self.offer_id, self.affiliate_id, self.subs)

    def fields(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "offer_id": self.offer_id,
            "affiliate_id": self.affiliate_id,
            **dict(zip(SUBS, self.subs, strict=True)),
            "amount": self.amount,
        }


def day_span(day: date, zone_name: str) -> tuple[datetime, datetime]:
    """The day's first moment and the next day's, in `zone_name`."""
    zone = load_zone(zone_name)
    start = datetime.combine(day, time(), zone)
    end = datetime.combine(day + timedelta(days=1), time(), zone)
    return start, end


def shares(amount_units: int, count: int) -> list[int]:
    """`amount_units` split over `count` clicks: equal shares, the remainder one unit each
    to the first ones."""
    if count <= 0:
        return []
    base, extra = divmod(amount_units, count)
    return [base + 1] * extra + [base] * (count - extra)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal | float):
        return "\x00"  # refused below as malformed
    return str(value).strip()


def _id(name: str, value: Any) -> int:
    text = _text(value)
    if not _ID.fullmatch(text) or not 0 < int(text) <= MAX_ID:
        raise InvalidInput(name, f"{name} must be a positive integer")
    return int(text)


def _day(value: Any) -> date:
    text = _text(value)
    try:
        if not _DATE.fullmatch(text):
            raise ValueError
        found = date.fromisoformat(text)
    except ValueError:
        raise InvalidInput("day", "day must be a date as YYYY-MM-DD") from None
    if not FIRST_DATE <= found <= LAST_DATE:
        raise InvalidInput("day", f"day must be between {FIRST_DATE} and {LAST_DATE}")
    return found


def _sub(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str | int):
        raise InvalidInput(name, f"{name} must be text")
    text = str(value)
    if len(text) > MAX_SUB_LENGTH:
        raise InvalidInput(name, f"{name} is longer than {MAX_SUB_LENGTH} characters")
    if "\x00" in text:
        raise InvalidInput(name, f"{name} contains a NUL character")
    return text or None


def _amount(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise InvalidInput("amount", "amount must be a decimal >= 0, at most 4 decimals")
    try:
        return money.parse_amount(value if isinstance(value, Decimal) else str(value).strip())
    except ValueError as exc:
        raise InvalidInput("amount", f"amount {exc}") from None


def parse_row(fields: Mapping[str, Any]) -> CostRow:
    """A row as the API (JSON values) or a CSV file (texts) gives it; InvalidInput names
    the first bad field."""
    for name in fields:
        if name not in COLUMNS:
            raise InvalidInput(name, f"unknown field {name[:64]!r}", known=list(COLUMNS))
    for name in ("day", "offer_id", "affiliate_id", "amount"):
        if fields.get(name) in (None, ""):
            raise InvalidInput(name, f"{name} is required")
    a, b, c, d, e = (_sub(name, fields.get(name)) for name in SUBS)
    return CostRow(
        day=_day(fields["day"]),
        offer_id=_id("offer_id", fields["offer_id"]),
        affiliate_id=_id("affiliate_id", fields["affiliate_id"]),
        subs=(a, b, c, d, e),
        amount=_amount(fields["amount"]),
    )
