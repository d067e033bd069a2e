"""A circuit breaker per endpoint: stop hammering a partner that keeps failing.

After `threshold` consecutive failed attempts an endpoint is paused: its deliveries are
handed back unsent (they stay pending; nothing is lost or counted as an attempt) until
the pause ends. Then one delivery goes out as a probe; if it succeeds the endpoint is
healthy again, if it fails the next pause is twice as long, up to `max_pause`. A
Retry-After from the partner pauses the endpoint at once for as long as it asks.

Each worker process keeps its own breaker; the database stays the only shared state.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

# How soon a delivery handed back while a probe is out is due again.
PROBE_WAIT_SECONDS = 1.0


@dataclass
class EndpointHealth:
    failures: int = 0
    paused_until: float = 0.0
    pause: float = 0.0
    probing: bool = False


class CircuitBreaker:
    def __init__(
        self,
        threshold: int,
        pause: float,
        max_pause: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold = threshold
        self.first_pause = pause
        self.max_pause = max(pause, max_pause)
        self._clock = clock
        self._endpoints: dict[str, EndpointHealth] = {}

    def wait_for(self, endpoint: str) -> float | None:
        """None: send now. Otherwise the seconds to hold a delivery for this endpoint.

        A None for a paused endpoint whose pause is over makes that send the probe."""
        health = self._endpoints.get(endpoint)
        if health is None or health.paused_until == 0.0:
            return None
        now = self._clock()
        if now < health.paused_until:
            return health.paused_until - now
        if health.probing:
            return PROBE_WAIT_SECONDS
        health.probing = True
        return None

    def succeeded(self, endpoint: str) -> None:
        self._endpoints.pop(endpoint, None)

    def failed(self, endpoint: str, retry_after: float | None = None) -> None:
        health = self._endpoints.setdefault(endpoint, EndpointHealth())
        health.failures += 1
        now = self._clock()
        if health.probing or (health.paused_until == 0.0 and health.failures >= self.threshold):
            health.probing = False
            health.pause = min(self.max_pause, health.pause * 2 or self.first_pause)
            health.paused_until = now + health.pause
        if retry_after is not None and retry_after > 0:
            health.paused_until = max(health.paused_until, now + retry_after)

    def paused(self, endpoint: str) -> bool:
        health = self._endpoints.get(endpoint)
        return health is not None and health.paused_until > self._clock()
