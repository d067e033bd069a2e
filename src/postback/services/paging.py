"""Pages, cursors and time ranges of the list use cases, whatever adapter asks."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from postback.errors import InvalidInput
from postback.services.schemas import MAX_ID

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# A '+' in a query string arrives as a space: "...T10:00:00 02:00".
_SPACED_OFFSET = re.compile(r" (\d{2}(?::?\d{2})?)$")


@dataclass(frozen=True, slots=True)
class PageParams:
    limit: int
    cursor: str | None


def checked_cursor(cursor: str | None) -> str | None:
    if cursor is not None and int(cursor) > MAX_ID:
        raise InvalidInput("cursor", "malformed cursor")
    return cursor


@dataclass(frozen=True, slots=True)
class TimeRange:
    start: datetime | None  # inclusive
    end: datetime | None  # exclusive

    def filters(self) -> dict[str, datetime]:
        found: dict[str, datetime] = {}
        if self.start is not None:
            found["from"] = self.start
        if self.end is not None:
            found["to"] = self.end
        return found


def parse_time(text: str, param: str, *, end: bool) -> datetime:
    """An ISO date or date-time; a bare date as `to` includes that whole day (UTC)."""
    text = _SPACED_OFFSET.sub(r"+\1", text.strip())
    problem = "must be an ISO 8601 date (YYYY-MM-DD) or date-time (YYYY-MM-DDTHH:MM:SSZ)"
    try:
        if _DATE.fullmatch(text):
            moment = datetime.combine(date.fromisoformat(text), time(), UTC)
            if end:
                # The whole day; the last day there is runs to the end of time.
                if moment.date() == date.max:
                    return datetime.max.replace(tzinfo=UTC)
                return moment + timedelta(days=1)
            return moment
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise InvalidInput(param, problem) from None


def period(start: str | None, end: str | None) -> TimeRange:
    """The range between `from` and `to` as typed; `to` before `from` is refused."""
    first = None if start is None else parse_time(start, "from", end=False)
    last = None if end is None else parse_time(end, "to", end=True)
    if first is not None and last is not None and last < first:
        raise InvalidInput("to", "must not be before from")
    return TimeRange(first, last)
