"""Covering rollup keys on PostgreSQL: reports read the primary keys alone.

Revision ID: 0006
Revises: 0005

Each rollup table's primary key is rebuilt to carry the counters (INCLUDE), so a report's
range read is an index-only scan over a few contiguous leaf pages instead of a heap fetch
per row, and the rows an upsert rewrote lie scattered over the heap. An index-only scan
skips the heap only for pages the visibility map marks all-visible, so each table is
vacuumed after a small share of changed or inserted rows rather than the default fifth:
the recent buckets keep changing, the older ones go static and stay all-visible.

Reports add counters up with `rollup_sum(bigint)`, a plain bigint sum (int8pl, which
fails on overflow): PostgreSQL's own sum(bigint) accumulates in numeric and converts
every group's result back, which costs more than the reading when the groups number
tens of thousands.

SQLite keeps the rollups as WITHOUT ROWID tables, clustered on the key already: nothing to
do there. Rebuilding a key rewrites its index under an exclusive lock on the table.
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

COUNTERS = ("clicks", "conversions", "approved", "pending", "rejected", "revenue", "payout")
KEYS = {
    "rollup_base": ("grain", "bucket_at", "offer_id", "affiliate_id"),
    "rollup_events": ("grain", "bucket_at", "offer_id", "affiliate_id", "event"),
    "rollup_subs": ("slot", "grain", "bucket_at", "affiliate_id", "value"),
    "rollup_all": ("grain", "bucket_at", "offer_id", "affiliate_id", "event", "subs_key"),
}
# Kept in step with store/schema.py ROLLUP_STORAGE.
AUTOVACUUM = {
    "autovacuum_vacuum_scale_factor": "0.01",
    "autovacuum_vacuum_insert_scale_factor": "0.01",
    "autovacuum_analyze_scale_factor": "0.02",
}


def _rebuild_keys(covering: bool) -> None:
    include = f" INCLUDE ({', '.join(COUNTERS)})" if covering else ""
    for table, keys in KEYS.items():
        op.execute(
            f"ALTER TABLE {table} DROP CONSTRAINT {table}_pkey, "
            f"ADD CONSTRAINT {table}_pkey PRIMARY KEY ({', '.join(keys)}){include}"
        )


SUM = "rollup_sum(bigint)"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        f"CREATE AGGREGATE {SUM} "
        "(SFUNC = int8pl, STYPE = bigint, COMBINEFUNC = int8pl, PARALLEL = SAFE)"
    )
    _rebuild_keys(covering=True)
    settings = ", ".join(f"{name} = {value}" for name, value in AUTOVACUUM.items())
    for table in KEYS:
        op.execute(f"ALTER TABLE {table} SET ({settings})")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in KEYS:
        op.execute(f"ALTER TABLE {table} RESET ({', '.join(AUTOVACUUM)})")
    _rebuild_keys(covering=False)
    op.execute(f"DROP AGGREGATE {SUM}")
