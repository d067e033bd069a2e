"""Report zones: local days of named time zones kept in the rollups beside the UTC grains.

A day in New York or Kathmandu is several UTC buckets; once the zone is registered here,
every rollup write also adds to the zone's local day (grain `-id`), so a report grouped
by day there reads one row per day, as in UTC.

Registering backfills the zone's days from the 15-minute buckets, which is exact since
every local midnight in use falls on a quarter hour. It must not race a writer that read
the list of zones before the zone existed and adds to the 15-minute buckets after the
backfill read them: on PostgreSQL writers take a ROW SHARE lock on report_zones before
reading it and registering takes an EXCLUSIVE one, so each waits for the other to commit
(reports, which only read the table, never wait); on SQLite every write transaction
holds the database's write lock from its start.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Connection,
    Insert,
    Integer,
    Table,
    and_,
    column,
    func,
    insert,
    literal,
    select,
    values,
)

from postback.domain.buckets import QUARTER, US, local_days, zone_grain
from postback.domain.report import COUNTERS
from postback.store.schema import (
    report_zones,
    rollup_all,
    rollup_base,
    rollup_events,
    rollup_subs,
)

#: Days per backfill statement (two bound values each).
_DAYS_PER_STATEMENT = 2_000


@dataclass(frozen=True, slots=True)
class ReportZone:
    """A registered zone: its local days are kept under `grain`."""

    id: int
    name: str

    @property
    def grain(self) -> int:
        return zone_grain(self.id)


def _read(conn: Connection) -> tuple[ReportZone, ...]:
    found = conn.execute(select(report_zones.c.id, report_zones.c.name).order_by(report_zones.c.id))
    return tuple(ReportZone(row.id, row.name) for row in found)


def zones_for_writing(conn: Connection) -> tuple[ReportZone, ...]:
    """The zones a rollup write in this transaction must keep days for."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("LOCK TABLE report_zones IN ROW SHARE MODE")
    return _read(conn)


def zone_for_reading(conn: Connection, name: str) -> ReportZone | None:
    row = conn.execute(
        select(report_zones.c.id, report_zones.c.name).where(report_zones.c.name == name)
    ).first()
    return ReportZone(row.id, row.name) if row else None


def register(conn: Connection, names: Iterable[str], now_us: int) -> list[str]:
    """Register the zones among `names` not yet registered, each with its backfill, in
    the caller's (write) transaction; returns the names added."""
    wanted = list(dict.fromkeys(name for name in names if name != "UTC"))
    if not wanted:
        return []
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("LOCK TABLE report_zones IN EXCLUSIVE MODE")
    known = _read(conn)
    next_id = max((zone.id for zone in known), default=0) + 1
    added = []
    for name in wanted:
        if any(zone.name == name for zone in known):
            continue
        zone = ReportZone(next_id, name)
        next_id += 1
        conn.execute(insert(report_zones).values(id=zone.id, name=name, created_at=now_us))
        _backfill(conn, zone)
        added.append(name)
    return added


def _backfill(conn: Connection, zone: ReportZone) -> None:
    """The zone's local days summed from the 15-minute buckets of every rollup table."""
    first, last = conn.execute(
        select(func.min(rollup_base.c.bucket_at), func.max(rollup_base.c.bucket_at)).where(
            rollup_base.c.grain == QUARTER
        )
    ).one()
    if first is None:
        return
    days = local_days(zone.name, first // US, last // US + QUARTER)
    for index in range(0, len(days), _DAYS_PER_STATEMENT):
        chunk = [(start * US, end * US) for start, end in days[index : index + _DAYS_PER_STATEMENT]]
        for table in (rollup_base, rollup_events, rollup_subs, rollup_all):
            conn.execute(_backfill_days(table, zone.grain, chunk))


def _backfill_days(table: Table, grain: int, days: Sequence[tuple[int, int]]) -> Insert:
    spans = (
        values(column("day_start", BigInteger), column("day_end", BigInteger), name="days")
        .data(list(days))
        .cte("days")
    )
    dimensions = [c for c in table.c if c.name not in ("grain", "bucket_at", *COUNTERS)]
    sums = [func.sum(table.c[name]) for name in COUNTERS]
    rows = (
        select(literal(grain, Integer), spans.c.day_start, *dimensions, *sums)
        .select_from(
            table.join(
                spans,
                and_(table.c.bucket_at >= spans.c.day_start, table.c.bucket_at < spans.c.day_end),
            )
        )
        .where(table.c.grain == QUARTER)
        .group_by(spans.c.day_start, *dimensions)
    )
    names = ["grain", "bucket_at", *(c.name for c in dimensions), *COUNTERS]
    return insert(table).from_select(names, rows)
