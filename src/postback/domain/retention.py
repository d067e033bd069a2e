"""How long raw data is kept (the data lifecycle), and the moments before which it goes.

Conversions, their histories and the report rollups are never purged: a report for any
past period stays as it was. Raw clicks, the incoming log, delivery attempts (with the
Test button's sends) and delivered postbacks' bodies go after their retention.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

DAY = timedelta(days=1)
#: Without a setting, clicks stay this long after the longest attribution window ends.
CLICK_MARGIN_DAYS = 30
MAX_RETENTION_DAYS = 36_500


@dataclass(frozen=True, slots=True)
class Retention:
    """Days each kind of data is kept; 0 keeps it forever. `clicks_days` None: the
    longest attribution window of any offer plus CLICK_MARGIN_DAYS."""

    clicks_days: int | None = None
    incoming_days: int = 30
    attempts_days: int = 30

    def click_days(self, longest_window: int) -> int:
        """The days a click is kept, 0 for ever. Never less than a day past the longest
        attribution window: a click a postback may still turn into a conversion stays."""
        if self.clicks_days is None:
            return longest_window + CLICK_MARGIN_DAYS
        if self.clicks_days == 0:
            return 0
        return max(self.clicks_days, longest_window + 1)

    def cutoffs(self, now: datetime, longest_window: int) -> Cutoffs:
        return Cutoffs(
            clicks=_before(now, self.click_days(longest_window)),
            incoming=_before(now, self.incoming_days),
            attempts=_before(now, self.attempts_days),
        )


@dataclass(frozen=True, slots=True)
class Cutoffs:
    """What is older than these moments goes; None keeps that kind for ever."""

    clicks: datetime | None
    incoming: datetime | None
    attempts: datetime | None


def _before(now: datetime, days: int) -> datetime | None:
    return None if days == 0 else now - days * DAY
