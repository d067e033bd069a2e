"""The store's reports: read from the rollups, in a registered zone's local days when
one is asked for."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import Iterator, Sequence
from typing import Any

from postback.domain.buckets import DAY, Piece, in_grains, plan, plan_zone_days
from postback.domain.report import Report, ReportQuery, build_report
from postback.errors import StoreError
from postback.logthrottle import Throttled
from postback.store import pending, zones
from postback.store.reports import read_groups, report_select
from postback.store.rollups import choose_cube
from postback.store.sql_base import SqlBase

log = logging.getLogger(__name__)
fold_failed = Throttled(log)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection inside. Reports overlapping in time may turn it back on
    early (the first to finish does), never leave it off."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class ReportsMixin(SqlBase):
    """Reports (sql.Store keeps the zones found)."""

    _report_zones_found: dict[str, zones.ReportZone]

    #: Writers leave their rollup changes pending, to be folded in (store/pending.py).
    folds_rollups = False

    # ---- pending rollup changes -------------------------------------------------------

    async def fold_rollups(self) -> None:
        """Fold every pending rollup change in (waiting for a fold under way)."""
        if self.folds_rollups:
            async with self._write() as conn:
                await conn.run_sync(pending.fold_all)

    async def keep_rollups_folded(self, stop: asyncio.Event) -> None:
        """Until `stop`: fold what is pending every FOLD_INTERVAL, and at once again while
        more is waiting; a fold under way in another process is left to it."""
        if not self.folds_rollups:
            await stop.wait()
            return
        while not stop.is_set():
            folded: pending.Folded | None = None
            try:
                async with self._write() as conn:
                    folded = await conn.run_sync(pending.fold, wait=False)
            except StoreError as exc:
                fold_failed.warning("fold_failed", "folding rollup changes failed: %s", exc)
            if folded is not None and folded.more:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), pending.FOLD_INTERVAL)

    # ---- reports --------------------------------------------------------------------

    async def report(self, query: ReportQuery) -> Report:
        """Figures grouped as asked, read from the rollups; InvalidInput when the time
        zone cannot be bucketed exactly over those dates or the answer is too large."""
        if query.matches_nothing:
            return build_report(query, [])
        zone = None
        if query.period == DAY and query.tz != "UTC":
            zone = await self._report_zone(query.tz)
        if zone is not None:
            pieces = plan_zone_days(query.tz, zone.grain, query.first, query.last)
        else:
            pieces = plan(query.tz, query.first, query.last, query.period)
        if not pieces:
            return build_report(query, [])
        pieces = in_grains(pieces, choose_cube(query.dimensions).grains, query.period)
        # Everything acknowledged before this report was asked for is counted.
        await self.fold_rollups()
        # Tens of thousands of small objects that all live on (the driver's records, then
        # the groups), and no cycles among them: meanwhile the cyclic collector would walk
        # them several times, and now and then the whole heap.
        with _collector_paused():
            found = await self._report_rows(query, pieces)
            groups, totals = read_groups(query, found)
            del found  # freed now, so the next collection does not walk the records
            return build_report(query, groups, in_key_order=True, totals=totals)

    async def _report_zone(self, name: str) -> zones.ReportZone | None:
        """The registered report zone `name`, if any. Zones are only ever added, so one
        found stays valid for the life of the process."""
        zone = self._report_zones_found.get(name)
        if zone is None:
            async with self._read() as conn:
                zone = await conn.run_sync(zones.zone_for_reading, name)
            if zone is not None:
                self._report_zones_found[name] = zone
        return zone

    async def _report_rows(self, query: ReportQuery, pieces: Sequence[Piece]) -> Sequence[Any]:
        """The grouped rows of report_select: group_by keys, then the counters."""
        async with self._read() as conn:
            found: Sequence[Any] = (await conn.execute(report_select(query, pieces))).all()
        return found
