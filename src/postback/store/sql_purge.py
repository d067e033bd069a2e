"""Retention (domain/retention.py): the purge, one process at a time, in small batches
(store/purge.py), and the loop the workers run it in."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from postback.domain.retention import Cutoffs, Retention
from postback.errors import StoreError
from postback.logthrottle import Throttled
from postback.store import rows
from postback.store.purge import (
    BATCH,
    Purged,
    VisitorKey,
    count_due,
    longest_window,
    purge_attempts,
    purge_bodies,
    purge_clicks,
    purge_incoming,
    purge_visitors,
    stale_visitors,
)
from postback.store.sql_base import SqlBase

log = logging.getLogger(__name__)
purge_failed = Throttled(log)

#: Seconds between two purges of a worker, and before its first.
PURGE_INTERVAL = 3600.0
FIRST_PURGE_AFTER = 60.0
#: Seconds between two batches, so clicks and postbacks take their turns meanwhile.
BATCH_PAUSE = 0.005
#: A unique-click memory is kept this long past the unique window (clocks of processes).
VISITOR_SLACK_US = 60_000_000


@dataclass(frozen=True, slots=True)
class PurgeReport:
    """What a purge removed (or would), by retention's `cutoffs`. `reach` is what went
    in fact: older than these. It is earlier than the cutoffs where a table goes by
    whole partitions (PostgreSQL), whose rows stay until their partition has passed."""

    cutoffs: Cutoffs
    reach: Cutoffs
    visitors_before: datetime
    purged: Purged
    dry_run: bool


class PurgeMixin(SqlBase):
    """Removing what retention lets go; conversions, their histories and the rollups
    are never touched."""

    unique_window_us: int
    #: Rows removed per transaction, unless the caller says.
    purge_batch = BATCH

    @contextlib.asynccontextmanager
    async def _purge_turn(self) -> AsyncIterator[bool]:
        """Whether this process may purge now (False: another one is at it); each
        backend says how (SqliteStore, PostgresStore)."""
        raise NotImplementedError
        yield False  # pragma: no cover

    async def _row_cutoffs(
        self, cutoffs: dict[str, int | None], purged: Purged | None
    ) -> dict[str, int | None]:
        """Per table, before when rows are deleted one batch at a time; a backend that
        drops old data some other way first (PostgreSQL's time partitions) adds what it
        dropped to `purged` (None: a dry run, drop nothing)."""
        return cutoffs

    async def _reclaim_space(self) -> None:
        """Give freed pages back where the backend does not on its own."""

    async def purge(
        self,
        retention: Retention,
        now: datetime,
        *,
        dry_run: bool = False,
        limit: int | None = None,
        pause: float = BATCH_PAUSE,
    ) -> PurgeReport | None:
        """Remove what is older than its retention at `now` (or, in a dry run, count it);
        None when another process is purging. Between two batches it waits at least as
        long as the last one held the write (and `pause`): it takes at most half the
        writer's time, whatever the disk."""
        limit = limit or self.purge_batch
        async with self._purge_turn() as ours:
            if not ours:
                return None
            async with self._read() as conn:
                window = await conn.run_sync(longest_window)
            cutoffs = retention.cutoffs(now, window)
            visitors_us = rows.to_us(now) - self.unique_window_us - VISITOR_SLACK_US
            before = {
                "clicks": _us(cutoffs.clicks),
                "incoming_log": _us(cutoffs.incoming),
                "delivery_attempts": _us(cutoffs.attempts),
            }
            # Each table's rows that go one batch at a time (what the backend drops
            # otherwise, it has dropped by now, unless this is a dry run).
            total = Purged()
            by_rows = await self._row_cutoffs(before, None if dry_run else total)
            reach = Cutoffs(
                clicks=_moment(by_rows["clicks"]),
                incoming=_moment(by_rows["incoming_log"]),
                attempts=_moment(by_rows["delivery_attempts"]),
            )
            report = PurgeReport(cutoffs, reach, rows.from_us(visitors_us), total, dry_run)
            attempts_us = before["delivery_attempts"]
            if dry_run:
                async with self._read() as conn:
                    due = await conn.run_sync(
                        count_due,
                        by_rows["clicks"],
                        visitors_us,
                        by_rows["incoming_log"],
                        by_rows["delivery_attempts"],
                        attempts_us,
                    )
                total.add(due)
                return report
            if by_rows["clicks"] is not None:
                await self._drain(total, pause, purge_clicks, by_rows["clicks"], limit)
            await self._drain_visitors(total, pause, visitors_us, limit)
            if by_rows["incoming_log"] is not None:
                await self._drain(total, pause, purge_incoming, by_rows["incoming_log"], limit)
            if attempts_us is not None:
                attempts = by_rows["delivery_attempts"]
                await self._drain(total, pause, purge_attempts, attempts, attempts_us, limit)
                await self._drain(total, pause, purge_bodies, attempts_us, rows.to_us(now), limit)
            if total.total:
                await self._reclaim_space()
            return report

    async def _drain(
        self, total: Purged, pause: float, step: Callable[..., Purged], *args: Any
    ) -> None:
        while True:
            began = time.monotonic()
            async with self._write() as conn:
                done = await conn.run_sync(step, *args)
            total.add(done)
            if not done.total:
                return
            await asyncio.sleep(max(pause, time.monotonic() - began))

    async def _drain_visitors(self, total: Purged, pause: float, before: int, limit: int) -> None:
        after: VisitorKey | None = None
        while True:
            async with self._read() as conn:
                stale, after = await conn.run_sync(stale_visitors, before, after, limit)
            if stale:
                began = time.monotonic()
                async with self._write() as conn:
                    total.add(await conn.run_sync(purge_visitors, stale, before))
                await asyncio.sleep(max(pause, time.monotonic() - began))
            if after is None:
                return

    async def keep_purged(self, retention: Retention, stop: asyncio.Event) -> None:
        """Until `stop`: purge FIRST_PURGE_AFTER seconds from now and then every
        PURGE_INTERVAL (a purge under way in another process is left to it)."""
        wait = FIRST_PURGE_AFTER
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)
            if stop.is_set():
                return
            wait = PURGE_INTERVAL
            try:
                report = await self.purge(retention, datetime.now(UTC))
            except StoreError as exc:
                purge_failed.warning("purge_failed", "purging old data failed: %s", exc)
                continue
            if report is not None and report.purged.total:
                log.info("purged", extra={"action": "purged", **vars(report.purged)})


def _moment(us: int | None) -> datetime | None:
    return None if us is None else rows.from_us(us)


def _us(moment: datetime | None) -> int | None:
    return None if moment is None else rows.to_us(moment)
