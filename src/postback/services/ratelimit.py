"""A bound on failed authentications per client address.

API keys and postback tokens are long random secrets, so guessing them is hopeless; the
limit keeps it that way cheaply and keeps a misconfigured client from flooding the
incoming log. A client address that failed `limit` times within a minute is answered 429
(with Retry-After) for any authenticated request until its oldest failure in the window
is a minute old, whether its next credentials are right or not: otherwise guessing could
go on. Successful requests cost nothing here.

Each server process counts on its own, so with N processes behind a load balancer an
address may fail up to N x limit times a minute. Memory is bounded: at most
`max_clients` addresses are tracked, the least recently failing forgotten first.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable

WINDOW_SECONDS = 60.0
MAX_CLIENTS = 100_000
UNKNOWN_CLIENT = "unknown"


class FailureLimiter:
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
        failures = self._failures.get(client or UNKNOWN_CLIENT)
        if failures is None or len(failures) < self.limit:
            return None
        wait = failures[0] + self.window - self._clock()
        return max(1, math.ceil(wait)) if wait > 0 else None

    def failed(self, client: str | None) -> None:
        if not self.enabled:
            return
        key = client or UNKNOWN_CLIENT
        now = self._clock()
        failures = self._failures.pop(key, None) or deque(maxlen=self.limit)
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        failures.append(now)
        self._failures[key] = failures  # now the most recently failing
        while len(self._failures) > self.max_clients:
            self._failures.popitem(last=False)
