"""When to try a failed delivery again."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

JITTER = 0.1  # +-10% spreads retries of a burst of failures
MAX_RETRY_AFTER = 86_400.0


def max_attempts(schedule: Sequence[float]) -> int:
    return len(schedule) + 1


def next_delay(
    schedule: Sequence[float],
    attempts_made: int,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float | None:
    """Seconds until the next attempt after `attempts_made` failures; None when spent."""
    if attempts_made < 1 or attempts_made > len(schedule):
        return None
    base = schedule[attempts_made - 1]
    jittered = base * (1 + (rng or random).uniform(-JITTER, JITTER))
    if retry_after is not None:
        return max(jittered, min(retry_after, MAX_RETRY_AFTER))
    return jittered


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(min(int(text), int(MAX_RETRY_AFTER)))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = (when - (now or datetime.now(UTC))).total_seconds()
    return max(0.0, min(delta, MAX_RETRY_AFTER))
