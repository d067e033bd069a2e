"""Repeated warnings, at most one a second: an outage must not bury the log.

While the database is away every request fails the same way; the log keeps one line a
second per kind, saying how many were left out since the last one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

INTERVAL_SECONDS = 1.0


class Throttled:
    def __init__(
        self,
        logger: logging.Logger,
        interval: float = INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.interval = interval
        self._clock = clock
        self._last: dict[str, float] = {}
        self._skipped: dict[str, int] = {}

    def warning(self, action: str, message: str, *args: object) -> None:
        """Log like logger.warning with extra={"action": action}, unless one was logged
        for this action less than `interval` ago (then only count it)."""
        now = self._clock()
        last = self._last.get(action)
        if last is not None and now - last < self.interval:
            self._skipped[action] = self._skipped.get(action, 0) + 1
            return
        self._last[action] = now
        skipped = self._skipped.pop(action, 0)
        if skipped:
            message += " (and %d more like it since the last report)"
            args = (*args, skipped)
        self.logger.warning(message, *args, extra={"action": action, "skipped": skipped})
