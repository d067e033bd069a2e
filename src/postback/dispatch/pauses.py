"""The circuit breaker's pauses, shared by every worker process through the store.

Each worker counts an endpoint's failures in its own breaker (breaker.py), so nothing
is written for an attempt's result. When the breaker pauses an endpoint (its threshold,
a failed probe, a Retry-After) or a success ends a pause, the change is published: one
row per paused endpoint, until when and how long the pause was (store/sql_limits.py).
Every SYNC_SECONDS each worker reads the rows and pauses its own breaker likewise, and
lets go of the pauses whose row is gone. When a pause is over, the worker whose send is
due takes the probe right (an atomic UPDATE: at most one holds it, for an attempt's
lease); the others wait for what the probe shows. Writes come with a breaker's changes
of state only; the reading is one small query a second.

The store failing costs nothing but the sharing: each breaker goes on on its own, and a
probe whose right cannot be asked for is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from postback.dispatch.breaker import CircuitBreaker
from postback.errors import StoreError
from postback.logthrottle import Throttled
from postback.store.schema import ENDPOINT_CHARS
from postback.store.sql import Store

log = logging.getLogger(__name__)
unshared = Throttled(log)

#: How often each worker reads the pauses the others published (seconds).
SYNC_SECONDS = 1.0
#: A pause over for this long whose probe never came (nothing was due for the endpoint)
#: is forgotten; each worker looks for such rows every FORGET_EVERY_SECONDS.
FORGET_AFTER = timedelta(days=1)
FORGET_EVERY_SECONDS = 3600.0


class SharedPauses:
    """Publishes one breaker's pauses and applies the others' to it."""

    def __init__(
        self,
        store: Store,
        breaker: CircuitBreaker,
        *,
        now: Callable[[], datetime],
        probe_lease: float,
        interval: float = SYNC_SECONDS,
    ) -> None:
        self._store = store
        self._breaker = breaker
        self._now = now
        self._probe_lease = probe_lease
        self._interval = interval
        # Endpoints whose pause changed here and is not published yet.
        self._changed: set[str] = set()
        self._signal = asyncio.Event()
        self._lock = asyncio.Lock()

    def changed(self, endpoint: str) -> None:
        """This worker's breaker paused the endpoint, paused it longer, or ended its pause."""
        if len(endpoint) <= ENDPOINT_CHARS:
            self._changed.add(endpoint)
            self._signal.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop` (or cancelled): publish each change at once, and read the others'
        every interval (the worker reads them once itself before its first claim)."""
        loop = asyncio.get_running_loop()
        forget_at = loop.time()
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._signal.wait(), self._interval)
            self._signal.clear()
            await self.sync()
            if loop.time() >= forget_at:
                forget_at = loop.time() + FORGET_EVERY_SECONDS
                await self._forget()

    async def sync(self) -> None:
        """Publish what changed here, then apply what every worker published."""
        async with self._lock:
            try:
                await self._publish()
                published = await self._store.endpoint_pauses()
            except StoreError as exc:
                unshared.warning(
                    "pauses_unshared", "endpoint pauses not shared with other workers: %s", exc
                )
                return
        now = self._now()
        seen: set[str] = set()
        for pause in published:
            seen.add(pause.endpoint)
            if pause.endpoint not in self._changed:  # changed meanwhile: published next
                left = (pause.paused_until - now).total_seconds()
                self._breaker.paused_elsewhere(pause.endpoint, left, pause.pause)
        for endpoint in self._breaker.paused_endpoints():
            if endpoint not in seen and endpoint not in self._changed:
                self._breaker.resumed_elsewhere(endpoint)

    async def publish(self) -> None:
        """Publish what changed here (the last changes, when the worker stops)."""
        async with self._lock:
            with contextlib.suppress(StoreError):
                await self._publish()

    async def _publish(self) -> None:
        while self._changed:
            endpoint = self._changed.pop()
            # Read when written: a change made meanwhile marks the endpoint again.
            state = self._breaker.pause_of(endpoint)
            try:
                if state is None:
                    await self._store.clear_endpoint_pause(endpoint)
                else:
                    left, pause = state
                    until = self._now() + timedelta(seconds=left)
                    await self._store.publish_endpoint_pause(endpoint, until, pause)
            except BaseException:
                self._changed.add(endpoint)  # for the next try (or the last, at the stop)
                raise
            log.debug(
                "endpoint %s %s for every worker",
                endpoint,
                "resumed" if state is None else "paused",
                extra={"action": "endpoint_pause_shared", "endpoint": endpoint},
            )

    async def may_probe(self, endpoint: str) -> bool:
        """Whether this worker sends the probe of the endpoint's pause now; if another
        worker holds that right, the breaker holds the endpoint meanwhile."""
        if len(endpoint) > ENDPOINT_CHARS:
            return True
        try:
            taken = await self._store.take_probe(endpoint, self._now(), self._probe_lease)
        except StoreError as exc:
            unshared.warning("probe_unshared", "probe right not asked for: %s", exc)
            return True  # one more probe is harmless; none at all would hold the endpoint
        if not taken:
            self._breaker.probe_refused(endpoint, self._probe_lease)
        return taken

    async def _forget(self) -> None:
        with contextlib.suppress(StoreError):
            await self._store.forget_endpoint_pauses(self._now() - FORGET_AFTER)
