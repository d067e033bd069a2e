"""How long each kind of raw data is kept, and the moments before which it goes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from postback.domain.retention import CLICK_MARGIN_DAYS, Retention

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def test_the_defaults() -> None:
    retention = Retention()
    assert retention.click_days(30) == 30 + CLICK_MARGIN_DAYS == 60
    assert retention.click_days(400) == 430  # follows the longest window
    cutoffs = retention.cutoffs(NOW, 30)
    assert cutoffs.clicks == NOW - timedelta(days=60)
    assert cutoffs.incoming == cutoffs.attempts == NOW - timedelta(days=30)


@pytest.mark.parametrize(
    ("asked", "window", "kept"),
    [(90, 30, 90), (7, 30, 31), (31, 30, 31), (1, 1, 2), (0, 30, 0), (3650, 3650, 3651)],
)
def test_clicks_stay_at_least_a_day_past_the_longest_window(
    asked: int, window: int, kept: int
) -> None:
    assert Retention(clicks_days=asked).click_days(window) == kept


def test_zero_keeps_for_ever() -> None:
    cutoffs = Retention(clicks_days=0, incoming_days=0, attempts_days=0).cutoffs(NOW, 30)
    assert (cutoffs.clicks, cutoffs.incoming, cutoffs.attempts) == (None, None, None)
    mixed = Retention(incoming_days=0, attempts_days=7).cutoffs(NOW, 30)
    assert mixed.incoming is None and mixed.attempts == NOW - timedelta(days=7)
