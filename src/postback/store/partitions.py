"""PostgreSQL's time partitions of the tables that grow with traffic: clicks, the incoming
log and delivery attempts (migration 0015). One partition per SPAN_DAYS UTC days, made
ahead of time, and a default partition that takes any row outside them (a clock far
off, a backfill), so no insert ever fails for want of one.

Old data goes as whole partitions: one whose end is past the retention cutoff is
detached and dropped in one transaction (for clicks, after copying those with a
conversion to `kept_clicks`, in that same transaction): it is there whole or gone,
whatever stops the process. Detaching takes the table's exclusive lock for an instant; a
short lock timeout makes the purge give way (and try again later) rather than keep
clicks or postbacks waiting behind it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Connection, text

from postback.store.purge import FORGOTTEN, Purged
from postback.store.schema import kept_clicks

DAY_US = 86_400_000_000
#: Days one partition holds. Every partition costs each lookup by click id a little (the
#: executor opens each one a cached plan may prune), so a week: about a dozen partitions
#: for the default retention, data kept up to a week past it (docs/BENCHMARKS.md).
SPAN_DAYS = 7
#: Days of partitions kept ready ahead of today.
AHEAD_DAYS = 14
#: How long dropping a partition may wait for the table's lock before giving way.
LOCK_TIMEOUT = "200ms"

#: Each partitioned table and the time column it is partitioned by.
PARTITIONED = {
    "clicks": "created_at",
    "incoming_log": "received_at",
    "delivery_attempts": "started_at",
}

_SPAN_NAME = re.compile(r"_p(\d{8})$")
_EPOCH = date(1970, 1, 1)

# A conversion's click, copied before its partition goes (store/purge.py says what is kept).
_KEEP_FROM = """
INSERT INTO kept_clicks ({columns})
SELECT {values} FROM {partition} AS c
WHERE EXISTS (SELECT 1 FROM conversions WHERE conversions.click_id = c.click_id)
ON CONFLICT (click_id) DO NOTHING
"""


@dataclass(frozen=True, slots=True)
class Partition:
    """One partition of `table`: SPAN_DAYS UTC days from `first`."""

    table: str
    name: str
    first: date

    @property
    def start_us(self) -> int:
        return day_us(self.first)

    @property
    def end_us(self) -> int:
        return day_us(self.first + timedelta(days=SPAN_DAYS))


def day_us(day: date) -> int:
    return (day - _EPOCH).days * DAY_US


def span_of(day: date) -> date:
    """The first day of the partition that holds `day`."""
    return _EPOCH + timedelta(days=(day - _EPOCH).days // SPAN_DAYS * SPAN_DAYS)


def partition_name(table: str, day: date) -> str:
    """The name of the partition of `table` that holds `day`."""
    return f"{table}_p{span_of(day):%Y%m%d}"


def default_name(table: str) -> str:
    return f"{table}_default"


def is_partitioned(conn: Connection, table: str) -> bool:
    found = conn.execute(
        text("SELECT relkind::text FROM pg_class WHERE relname = :t AND relkind IN ('p', 'r')"),
        {"t": table},
    ).scalar()
    return found == "p"


def partitions_of(conn: Connection, table: str) -> list[Partition]:
    """The table's attached time partitions, oldest first (not the default one)."""
    names = conn.execute(
        text(
            "SELECT child.relname FROM pg_inherits"
            " JOIN pg_class parent ON parent.oid = pg_inherits.inhparent"
            " JOIN pg_class child ON child.oid = pg_inherits.inhrelid"
            " WHERE parent.relname = :t"
        ),
        {"t": table},
    ).scalars()
    found = []
    for name in names:
        match = _SPAN_NAME.search(name)
        if match is not None:
            first = datetime.strptime(match.group(1), "%Y%m%d").replace(tzinfo=UTC).date()
            found.append(Partition(table, name, first))
    return sorted(found, key=lambda partition: partition.first)


def ensure_days(conn: Connection, table: str, first: date, last: date) -> int:
    """Partitions of `table` holding every day from `first` to `last` (each made empty,
    then attached, which keeps inserts going meanwhile); how many were made."""
    have = {partition.first for partition in partitions_of(conn, table)}
    made = 0
    span = span_of(first)
    while span <= last:
        end = span + timedelta(days=SPAN_DAYS)
        if span not in have and not _default_holds(conn, table, span, end):
            name = partition_name(table, span)
            conn.exec_driver_sql(
                f"CREATE TABLE IF NOT EXISTS {name}"
                f" (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
            )
            conn.exec_driver_sql(
                f"ALTER TABLE {table} ATTACH PARTITION {name}"
                f" FOR VALUES FROM ({day_us(span)}) TO ({day_us(end)})"
            )
            made += 1
        span += timedelta(days=SPAN_DAYS)
    return made


def _default_holds(conn: Connection, table: str, first: date, end: date) -> bool:
    """Whether the default partition already took rows of [first, end) (a clock ahead,
    say): such a span is not made (attaching it would fail); its rows stay where they are
    and go in batches when their time comes."""
    if conn.execute(text("SELECT to_regclass(:t)"), {"t": default_name(table)}).scalar() is None:
        return False
    column = PARTITIONED[table]
    found = conn.exec_driver_sql(
        f"SELECT 1 FROM {default_name(table)}"  # noqa: S608 - our table and column names
        f" WHERE {column} >= {day_us(first)} AND {column} < {day_us(end)} LIMIT 1"
    ).first()
    return found is not None


def ensure_ahead(conn: Connection, today: date, ahead: int = AHEAD_DAYS) -> None:
    """Every partitioned table has its partitions from today to `ahead` days on."""
    for table in PARTITIONED:
        if is_partitioned(conn, table):
            ensure_days(conn, table, today, today + timedelta(days=ahead))


def drop_partition(conn: Connection, partition: Partition) -> Purged:
    """Keep what conversions need of its clicks, then detach and drop it: all in the
    caller's one transaction. StoreError (LockNotAvailable) when the table's lock is
    not had within LOCK_TIMEOUT: nothing changed."""
    # Names here are ours: a table's and a day (from pg_inherits, matched by _SPAN_NAME).
    count = f"SELECT count(*) FROM {partition.name}"  # noqa: S608
    rows = int(conn.exec_driver_sql(count).scalar_one())
    kept = 0
    if partition.table == "clicks":
        kept = conn.exec_driver_sql(_keep_sql(partition.name)).rowcount
    conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
    conn.exec_driver_sql(f"ALTER TABLE {partition.table} DETACH PARTITION {partition.name}")
    conn.exec_driver_sql(f"DROP TABLE {partition.name}")
    if partition.table == "clicks":
        return Purged(clicks=rows, kept_clicks=kept)
    if partition.table == "incoming_log":
        return Purged(incoming=rows)
    return Purged(attempts=rows)


def _keep_sql(partition: str) -> str:
    names = [column.name for column in kept_clicks.columns]
    values = ", ".join("NULL" if name in FORGOTTEN else f"c.{name}" for name in names)
    return _KEEP_FROM.format(columns=", ".join(names), values=values, partition=partition)
