"""The retry schedule: delays with jitter, exhaustion, Retry-After."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime

import pytest

from postback.domain.retry import (
    JITTER,
    MAX_RETRY_AFTER,
    max_attempts,
    next_delay,
    parse_retry_after,
)
from postback.settings import DEFAULT_RETRY_SCHEDULE, parse_retry_schedule

SCHEDULE = (5.0, 300.0, 1800.0, 7200.0)
NOW = datetime(2024, 5, 6, 12, 0, 0, tzinfo=UTC)


def test_max_attempts_is_schedule_length_plus_one() -> None:
    assert max_attempts(()) == 1
    assert max_attempts(SCHEDULE) == 5
    assert max_attempts(parse_retry_schedule(DEFAULT_RETRY_SCHEDULE)) == 10


@pytest.mark.parametrize("made", [1, 2, 3, 4])
def test_delay_is_within_jitter_bounds(made: int) -> None:
    base = SCHEDULE[made - 1]
    rng = random.Random(made)
    delays = [next_delay(SCHEDULE, made, rng=rng) for _ in range(500)]
    assert all(d is not None for d in delays)
    values = [d for d in delays if d is not None]
    assert all(base * (1 - JITTER) <= d <= base * (1 + JITTER) for d in values)
    # Jitter really spreads: both sides of the base are used.
    assert min(values) < base < max(values)
    assert len(set(values)) > 400


def test_jitter_is_ten_percent() -> None:
    assert pytest.approx(0.1) == JITTER


def test_delay_follows_the_schedule_in_order() -> None:
    rng = random.Random(0)
    delays = [next_delay(SCHEDULE, made, rng=rng) for made in range(1, 5)]
    assert all(d is not None for d in delays)
    mids = [d / base for d, base in zip(delays, SCHEDULE, strict=True) if d is not None]
    assert all(0.9 <= m <= 1.1 for m in mids)


def test_jitter_uses_the_given_rng() -> None:
    a = [next_delay(SCHEDULE, 2, rng=random.Random(42)) for _ in range(3)]
    assert a[0] == a[1] == a[2]


@pytest.mark.parametrize("made", [0, -1, 5, 6, 100])
def test_exhaustion_and_nonsense_give_none(made: int) -> None:
    assert next_delay(SCHEDULE, made, rng=random.Random(1)) is None


def test_attempt_count_matches_max_attempts() -> None:
    """Attempt 1 is free; after each failed attempt ask for a delay until none is given."""
    rng = random.Random(3)
    attempts = 1
    while next_delay(SCHEDULE, attempts, rng=rng) is not None:
        attempts += 1
    assert attempts == max_attempts(SCHEDULE)


def test_empty_schedule_never_retries() -> None:
    assert next_delay((), 1) is None


def test_retry_after_longer_than_schedule_wins() -> None:
    assert next_delay(SCHEDULE, 1, retry_after=120.0, rng=random.Random(1)) == 120.0


def test_retry_after_shorter_than_schedule_does_not_shorten() -> None:
    delay = next_delay(SCHEDULE, 2, retry_after=1.0, rng=random.Random(1))
    assert delay is not None
    assert 270.0 <= delay <= 330.0


def test_retry_after_is_capped() -> None:
    assert next_delay(SCHEDULE, 1, retry_after=10 * MAX_RETRY_AFTER) == MAX_RETRY_AFTER


def test_retry_after_does_not_extend_the_attempt_budget() -> None:
    assert next_delay(SCHEDULE, len(SCHEDULE) + 1, retry_after=60.0) is None


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("0", 0.0), ("120", 120.0), (" 30 ", 30.0), ("86400", 86400.0), ("999999999", 86400.0)],
)
def test_parse_retry_after_seconds(header: str, seconds: float) -> None:
    assert parse_retry_after(header, now=NOW) == seconds


def test_parse_retry_after_http_date() -> None:
    later = NOW + timedelta(seconds=90)
    header = format_datetime(later, usegmt=True)  # e.g. "Mon, 06 May 2024 12:01:30 GMT"
    assert header.endswith("GMT")
    assert parse_retry_after(header, now=NOW) == pytest.approx(90.0)


def test_parse_retry_after_http_date_with_numeric_zone() -> None:
    # 14:00 at +02:00 is 12:00 UTC; one hour later than NOW is 15:00 +02:00.
    header = format_datetime(NOW.astimezone(timezone(timedelta(hours=2))) + timedelta(hours=1))
    assert parse_retry_after(header, now=NOW) == pytest.approx(3600.0)


def test_parse_retry_after_date_without_zone_is_utc() -> None:
    assert parse_retry_after("Mon, 06 May 2024 12:00:10 -0000", now=NOW) == pytest.approx(10.0)


def test_parse_retry_after_past_date_is_zero() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=NOW) == 0.0


def test_parse_retry_after_far_date_is_capped() -> None:
    header = format_datetime(NOW + timedelta(days=30), usegmt=True)
    assert parse_retry_after(header, now=NOW) == MAX_RETRY_AFTER


def test_parse_retry_after_uses_current_time_by_default() -> None:
    header = format_datetime(datetime.now(UTC) + timedelta(seconds=600), usegmt=True)
    seconds = parse_retry_after(header)
    assert seconds is not None
    assert 595.0 <= seconds <= 600.0


@pytest.mark.parametrize("header", [None, "", "   ", "soon", "-5", "1.5", "12abc", "Mon, 99 Foo"])
def test_parse_retry_after_unreadable_is_none(header: str | None) -> None:
    assert parse_retry_after(header, now=NOW) is None
