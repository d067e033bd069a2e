"""A small time-bounded cache for the records every hot request reads (offers,
affiliates, advertisers). Writes through the same store drop the entry at once; other
processes see a change within the time-to-live."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

DEFAULT_TTL_SECONDS = 1.0
MAX_ENTRIES = 100_000


class TtlCache(Generic[K, V]):
    def __init__(self, ttl: float = DEFAULT_TTL_SECONDS) -> None:
        self._ttl = ttl
        self._entries: dict[K, tuple[float, V | None]] = {}
        # One load per key at a time: when an entry expires under load, every request
        # that wants it waits for the same query instead of each running its own.
        self._loading: dict[K, asyncio.Future[V | None]] = {}

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
        # A load already under way may have read the old row: its answer is not kept.
        self._loading.pop(key, None)

    async def get_or_load(self, key: K, load: Callable[[], Awaitable[V | None]]) -> V | None:
        """The cached value, or the value `load` finds (shared by concurrent callers)."""
        hit, value = self.get(key)
        if hit:
            return value
        pending = self._loading.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._load(key, load))
            self._loading[key] = pending
        # Shielded: a caller that gives up does not cancel the load the others wait for.
        return await asyncio.shield(pending)

    async def _load(self, key: K, load: Callable[[], Awaitable[V | None]]) -> V | None:
        this = asyncio.current_task()
        try:
            value = await load()
        finally:
            kept = self._loading.get(key) is this
            if kept:
                del self._loading[key]
        if kept:
            self.put(key, value)
        return value
