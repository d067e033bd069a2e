"""One warning a second per kind, with the count of those left out."""

from __future__ import annotations

import logging

import pytest

from postback.logthrottle import Throttled


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


def test_repeats_within_a_second_are_counted_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    throttled = Throttled(logging.getLogger("test.throttle"), clock=clock)
    with caplog.at_level(logging.WARNING, logger="test.throttle"):
        for _ in range(50):
            throttled.warning("store_down", "database unavailable: %s", "refused")
        throttled.warning("other", "something else")
        clock.now += 1.0
        throttled.warning("store_down", "database unavailable: %s", "refused")
    messages = [record.getMessage() for record in caplog.records]
    assert messages == [
        "database unavailable: refused",
        "something else",
        "database unavailable: refused (and 49 more like it since the last report)",
    ]
    assert [getattr(r, "action", None) for r in caplog.records] == [
        "store_down",
        "other",
        "store_down",
    ]
