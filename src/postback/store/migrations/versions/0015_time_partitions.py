"""PostgreSQL: clicks, the incoming log and delivery attempts partitioned by UTC day
(store/partitions.py), so retention drops whole days instead of deleting rows. Each
table is made again as a partitioned one with the same columns, indexes and sequence,
and its rows copied over: days with rows (up to BACKFILL_DAYS back) get their own
partitions, older rows the default one. The primary key gains the time column, as
PostgreSQL requires of a partitioned table. Nothing changes on SQLite.

Revision ID: 0015
Revises: 0014
"""

from datetime import UTC, datetime, timedelta

from alembic import op
from sqlalchemy import Connection, text

from postback.store.partitions import AHEAD_DAYS, default_name, ensure_days

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

BACKFILL_DAYS = 120

# table: (time column, key, {index: columns}, foreign keys, its id sequence)
TABLES = {
    "clicks": ("created_at", "click_id", {
        "ix_clicks_created_at": "created_at",
        "ix_clicks_offer_affiliate_created": "offer_id, affiliate_id, created_at",
    }, [], None),
    "incoming_log": ("received_at", "id", {
        "ix_incoming_log_received_at": "received_at",
        "ix_incoming_log_conversion_id": "conversion_id",
    }, [], "incoming_log_id_seq"),
    "delivery_attempts": ("started_at", "id", {
        "ix_delivery_attempts_delivery_id": "delivery_id",
        "ix_delivery_attempts_started_at": "started_at",
    }, ["FOREIGN KEY (delivery_id) REFERENCES deliveries (id)"], "delivery_attempts_id_seq"),
}


def _free_names(conn: Connection, table: str) -> None:
    """The table's constraints and indexes go (it is copied, then dropped), so that the
    new table takes their names."""
    constraints = conn.execute(
        text("SELECT conname FROM pg_constraint WHERE conrelid = CAST(:t AS regclass)"
             " AND contype IN ('p', 'f', 'u')"),
        {"t": table},
    ).scalars()
    for name in list(constraints):
        conn.exec_driver_sql(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    indexes = conn.execute(
        text("SELECT indexname FROM pg_indexes WHERE tablename = :t"), {"t": table}
    ).scalars()
    for name in list(indexes):
        conn.exec_driver_sql(f'DROP INDEX "{name}"')


def _remake(conn: Connection, table: str, partitioned: bool) -> None:
    column, key, indexes, foreign, sequence = TABLES[table]
    old = f"{table}_before_0015"
    conn.exec_driver_sql(f"ALTER TABLE {table} RENAME TO {old}")
    _free_names(conn, old)
    how = f" PARTITION BY RANGE ({column})" if partitioned else ""
    conn.exec_driver_sql(f"CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS){how}")
    primary = f"{key}, {column}" if partitioned else key
    conn.exec_driver_sql(f"ALTER TABLE {table} ADD PRIMARY KEY ({primary})")
    for name, columns in indexes.items():
        conn.exec_driver_sql(f"CREATE INDEX {name} ON {table} ({columns})")
    for constraint in foreign:
        conn.exec_driver_sql(f"ALTER TABLE {table} ADD {constraint}")
    if partitioned:
        conn.exec_driver_sql(f"CREATE TABLE {default_name(table)} PARTITION OF {table} DEFAULT")
        today = datetime.now(UTC).date()
        oldest = conn.exec_driver_sql(f"SELECT min({column}) FROM {old}").scalar()
        first = today
        if oldest is not None:
            first = min(today, datetime.fromtimestamp(oldest / 1_000_000, UTC).date())
        first = max(first, today - timedelta(days=BACKFILL_DAYS))
        ensure_days(conn, table, first, today + timedelta(days=AHEAD_DAYS))
    conn.exec_driver_sql(f"INSERT INTO {table} SELECT * FROM {old}")
    if sequence is not None:
        conn.exec_driver_sql(f"ALTER SEQUENCE {sequence} OWNED BY {table}.{key}")
    conn.exec_driver_sql(f"DROP TABLE {old}")


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    for table in TABLES:
        _remake(conn, table, partitioned=True)


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    for table in TABLES:
        _remake(conn, table, partitioned=False)
