"""A bound on failed authentications per client address.

API keys and postback tokens are long random secrets, so guessing them is hopeless; the
limit keeps it that way cheaply and keeps a misconfigured client from flooding the
incoming log. A client address that failed `limit` times within a minute is answered 429
(with Retry-After) for any authenticated request until its oldest failure in the window
is a minute old, whether its next credentials are right or not: otherwise guessing could
go on. Successful requests cost nothing here: `retry_after` reads this process's memory.

On PostgreSQL (`SharedFailureLimiter`) the count is in the database, so it holds however
many server processes, on however many machines, share it: each failure appends a row
and counts its address's rows of the last minute (store/sql_limits.py); the failure that
reaches the limit blocks the address in the database at once, and every process reads
the blocked addresses every REFRESH_SECONDS, so within about a second all of them answer
429 with the same Retry-After. Rows older than the minute are purged once a minute.
While the database cannot be reached, failures are counted in the process, as below.

On SQLite (`FailureLimiter`) each process counts on its own, in memory: one writer at a
time would make every failed request an fsync'd write competing with clicks and
postbacks, and SQLite usually runs as one process (with `serve --workers N`, an address
may fail up to N x limit times a minute). Memory is bounded: at most `max_clients`
addresses are tracked, the least recently failing forgotten first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from datetime import UTC, datetime

from postback.errors import StoreError
from postback.logthrottle import Throttled
from postback.settings import Settings
from postback.store.schema import CLIENT_CHARS
from postback.store.sql import Store

log = logging.getLogger(__name__)
unshared = Throttled(log)

WINDOW_SECONDS = 60.0
MAX_CLIENTS = 100_000
UNKNOWN_CLIENT = "unknown"
#: How often each process reads the addresses blocked by any of them (seconds).
REFRESH_SECONDS = 1.0


def _key(client: str | None) -> str:
    # An address we cannot tell is one client, not a free pass.
    return (client or UNKNOWN_CLIENT)[:CLIENT_CHARS]


class FailureLimiter:
    """Failed authentications counted in this process's memory."""

    def __init__(
        self,
        limit: int,
        *,
        window: float = WINDOW_SECONDS,
        max_clients: int = MAX_CLIENTS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window = window
        self.max_clients = max_clients
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.limit > 0

    def retry_after(self, client: str | None) -> int | None:
        """Whole seconds this client must wait before authenticating again, or None."""
        if not self.enabled:
            return None
        failures = self._failures.get(_key(client))
        if failures is None or len(failures) < self.limit:
            return None
        return _seconds_until(failures[0] + self.window, self._clock())

    async def failed(self, client: str | None) -> None:
        """Count a failed authentication of this client."""
        self._count(client)

    async def run(self, stop: asyncio.Event) -> None:
        """Keep the limit up to date until `stop`: nothing to do for a count in memory."""

    def _count(self, client: str | None) -> None:
        if not self.enabled:
            return
        key = _key(client)
        now = self._clock()
        failures = self._failures.pop(key, None) or deque(maxlen=self.limit)
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        failures.append(now)
        self._failures[key] = failures  # now the most recently failing
        while len(self._failures) > self.max_clients:
            self._failures.popitem(last=False)


class SharedFailureLimiter(FailureLimiter):
    """Failed authentications counted in the database, for every process that shares it.

    `clock` is the wall clock (seconds since the epoch): processes on several machines
    compare their failures' times."""

    def __init__(
        self,
        store: Store,
        limit: int,
        *,
        window: float = WINDOW_SECONDS,
        max_clients: int = MAX_CLIENTS,
        clock: Callable[[], float] = time.time,
        refresh: float = REFRESH_SECONDS,
    ) -> None:
        super().__init__(limit, window=window, max_clients=max_clients, clock=clock)
        self._store = store
        self._refresh = refresh
        # Client address -> until when (the wall clock) it is blocked, as last read, or
        # as this process's own failures found it.
        self._blocked: dict[str, float] = {}

    def retry_after(self, client: str | None) -> int | None:
        if not self.enabled:
            return None
        # Failures counted here while the database could not be reached count too.
        local = super().retry_after(client)
        key = _key(client)
        until = self._blocked.get(key)
        shared = None if until is None else _seconds_until(until, self._clock())
        if until is not None and shared is None:
            del self._blocked[key]  # over
        return max(local or 0, shared or 0) or None

    async def failed(self, client: str | None) -> None:
        if not self.enabled:
            return
        key = _key(client)
        try:
            until = await self._store.record_auth_failure(
                key, _moment(self._clock()), self.window, self.limit
            )
        except StoreError as exc:
            unshared.warning(
                "auth_failures_unshared",
                "failed authentications counted in this process only: %s",
                exc,
            )
            self._count(client)
            return
        if until is not None:
            self._blocked[key] = max(self._blocked.get(key, 0.0), until.timestamp())

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop`: read the blocked addresses every `refresh` seconds, and purge the
        failures older than the window once a window."""
        if not self.enabled:
            return
        purge_at = self._clock()
        while not stop.is_set():
            await self.refresh()
            if self._clock() >= purge_at:
                purge_at = self._clock() + self.window
                await self.purge()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._refresh)

    async def refresh(self) -> None:
        """Read the addresses any process blocked."""
        try:
            found = await self._store.auth_blocks(_moment(self._clock()), self.max_clients)
        except StoreError as exc:
            unshared.warning(
                "auth_blocks_unread", "addresses blocked by other processes not read: %s", exc
            )
            return
        now = self._clock()
        # A block is never lifted early: one this process found and the read missed stays.
        blocked = {key: until for key, until in self._blocked.items() if until > now}
        for key, moment in found.items():
            blocked[key] = max(blocked.get(key, 0.0), moment.timestamp())
        self._blocked = blocked

    async def purge(self) -> None:
        """Delete the failures older than the window and the blocks that are over."""
        try:
            await self._store.forget_auth_failures(_moment(self._clock()), self.window)
        except StoreError as exc:
            unshared.warning("auth_failures_unpurged", "old failures not purged: %s", exc)


def failure_limiter(settings: Settings, store: Store) -> FailureLimiter:
    """The limit for a server process: shared through the store where it counts failures
    (PostgreSQL), in memory otherwise."""
    limit = settings.auth_failures_per_minute
    if store.counts_auth_failures:
        return SharedFailureLimiter(store, limit)
    return FailureLimiter(limit)


def _seconds_until(moment: float, now: float) -> int | None:
    # To the millisecond: the database keeps microseconds, a float clock has more.
    wait = round(moment - now, 3)
    return max(1, math.ceil(wait)) if wait > 0 else None


def _moment(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)
