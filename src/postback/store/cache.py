"""A small time-bounded cache for the records every hot request reads (offers,
affiliates, advertisers). Writes through the same store drop the entry at once; other
processes see a change within the time-to-live."""

from __future__ import annotations

import time
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

DEFAULT_TTL_SECONDS = 1.0
MAX_ENTRIES = 100_000


class TtlCache(Generic[K, V]):
    def __init__(self, ttl: float = DEFAULT_TTL_SECONDS) -> None:
        self._ttl = ttl
        self._entries: dict[K, tuple[float, V | None]] = {}

    def get(self, key: K) -> tuple[bool, V | None]:
        """(True, value) on a fresh hit, which may be a remembered None; else (False, None)."""
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return False, None
        return True, entry[1]

    def put(self, key: K, value: V | None) -> None:
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[key] = (time.monotonic() + self._ttl, value)

    def drop(self, key: K) -> None:
        self._entries.pop(key, None)
