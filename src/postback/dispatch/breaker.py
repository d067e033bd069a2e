"""A circuit breaker per endpoint: stop hammering a partner that keeps failing.

After `threshold` consecutive failed attempts an endpoint is paused: its deliveries are
handed back unsent (they stay pending; nothing is lost or counted as an attempt) until
the pause ends. Then one delivery goes out as a probe; if it succeeds the endpoint is
healthy again, if it fails the next pause is twice as long, up to `max_pause`. A
Retry-After from the partner pauses the endpoint at once for as long as it asks.

Each worker process counts failures in its own breaker, and shares its pauses with the
others through the database (pauses.py): a pause one worker's breaker opens, or a
Retry-After asks for, pauses the endpoint in every worker, a success anywhere ends it,
and one probe goes out per pause across all of them. The methods ending in `_elsewhere`
and `probe_refused` apply what other workers did; `failed` and `succeeded` say when this
breaker's own pause changed, so that it is shared.
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

    def probing(self, endpoint: str) -> bool:
        """Whether the send `wait_for` just let through is this endpoint's probe."""
        health = self._endpoints.get(endpoint)
        return health is not None and health.probing

    def succeeded(self, endpoint: str) -> bool:
        """The endpoint answered; True when that ended a pause."""
        health = self._endpoints.pop(endpoint, None)
        return health is not None and health.paused_until != 0.0

    def failed(self, endpoint: str, retry_after: float | None = None) -> bool:
        """The endpoint failed an attempt; True when that paused it, or paused it longer."""
        health = self._endpoints.setdefault(endpoint, EndpointHealth())
        before = health.paused_until
        health.failures += 1
        now = self._clock()
        if health.probing or (health.paused_until == 0.0 and health.failures >= self.threshold):
            health.probing = False
            health.pause = min(self.max_pause, health.pause * 2 or self.first_pause)
            health.paused_until = now + health.pause
        if retry_after is not None and retry_after > 0:
            health.paused_until = max(health.paused_until, now + retry_after)
        return health.paused_until > before

    def paused(self, endpoint: str) -> bool:
        health = self._endpoints.get(endpoint)
        return health is not None and health.paused_until > self._clock()

    def pause_of(self, endpoint: str) -> tuple[float, float] | None:
        """The seconds left of the endpoint's pause (0 or less: over, waiting for its
        probe) and the pause's length; None when it is not paused."""
        health = self._endpoints.get(endpoint)
        if health is None or health.paused_until == 0.0:
            return None
        return health.paused_until - self._clock(), health.pause

    def paused_endpoints(self) -> list[str]:
        """The endpoints paused, or waiting for their probe."""
        return [name for name, health in self._endpoints.items() if health.paused_until != 0.0]

    # ---- what other workers did ---------------------------------------------------------

    def paused_elsewhere(self, endpoint: str, seconds: float, pause: float) -> None:
        """Another worker paused the endpoint for `seconds` more (0 or less: the pause is
        over and its probe is due), after a pause of `pause` seconds. A pause here that
        ends later is kept, and so is a probe of this worker's under way."""
        health = self._endpoints.setdefault(endpoint, EndpointHealth())
        until = self._clock() + max(seconds, 0.0)
        if health.paused_until == 0.0 or until > health.paused_until:
            health.paused_until = until
        health.pause = max(health.pause, pause)

    def resumed_elsewhere(self, endpoint: str) -> None:
        """Another worker's success ended the endpoint's pause."""
        health = self._endpoints.get(endpoint)
        if health is not None and health.paused_until != 0.0:
            del self._endpoints[endpoint]

    def probe_refused(self, endpoint: str, wait: float) -> None:
        """Another worker sends this pause's probe: hold the endpoint for `wait` seconds
        (what that worker learns ends the wait sooner)."""
        health = self._endpoints.setdefault(endpoint, EndpointHealth())
        health.probing = False
        health.paused_until = max(health.paused_until, self._clock() + wait)
