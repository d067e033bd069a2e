"""Report rollups: counters per time bucket, filled from the clicks and conversions there.

Revision ID: 0003
Revises: 0002

The tables start empty: migration 0012 makes them again with the visitor's dimensions
and counts every stored click and conversion into them (store/recount.py).
"""

import sqlalchemy as sa
from alembic import op


revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SUB_NAMES = ("sub1", "sub2", "sub3", "sub4", "sub5")


def _counters() -> list[sa.Column[int]]:
    names = ("clicks", "conversions", "approved", "pending", "rejected", "revenue", "payout")
    return [sa.Column(name, sa.BigInteger(), nullable=False) for name in names]


def _create_tables() -> None:
    op.create_table(
        "rollup_base",
        sa.Column("grain", sa.Integer(), nullable=False),
        sa.Column("bucket_at", sa.BigInteger(), nullable=False),
        sa.Column("offer_id", sa.BigInteger(), nullable=False),
        sa.Column("affiliate_id", sa.BigInteger(), nullable=False),
        *_counters(),
        sa.PrimaryKeyConstraint("grain", "bucket_at", "offer_id", "affiliate_id"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "rollup_events",
        sa.Column("grain", sa.Integer(), nullable=False),
        sa.Column("bucket_at", sa.BigInteger(), nullable=False),
        sa.Column("offer_id", sa.BigInteger(), nullable=False),
        sa.Column("affiliate_id", sa.BigInteger(), nullable=False),
        sa.Column("event", sa.String(length=64), nullable=False),
        *_counters(),
        sa.PrimaryKeyConstraint("grain", "bucket_at", "offer_id", "affiliate_id", "event"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "rollup_subs",
        sa.Column("slot", sa.SmallInteger(), nullable=False),
        sa.Column("grain", sa.Integer(), nullable=False),
        sa.Column("bucket_at", sa.BigInteger(), nullable=False),
        sa.Column("affiliate_id", sa.BigInteger(), nullable=False),
        sa.Column("value", sa.String(length=255), nullable=False),
        *_counters(),
        sa.PrimaryKeyConstraint("slot", "grain", "bucket_at", "affiliate_id", "value"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "rollup_all",
        sa.Column("grain", sa.Integer(), nullable=False),
        sa.Column("bucket_at", sa.BigInteger(), nullable=False),
        sa.Column("offer_id", sa.BigInteger(), nullable=False),
        sa.Column("affiliate_id", sa.BigInteger(), nullable=False),
        sa.Column("event", sa.String(length=64), nullable=False),
        sa.Column("subs_key", sa.String(length=32), nullable=False),
        *(sa.Column(name, sa.String(length=255), nullable=False) for name in SUB_NAMES),
        *_counters(),
        sa.PrimaryKeyConstraint(
            "grain", "bucket_at", "offer_id", "affiliate_id", "event", "subs_key"
        ),
        sqlite_with_rowid=False,
    )


def upgrade() -> None:
    _create_tables()


def downgrade() -> None:
    for name in ("rollup_all", "rollup_subs", "rollup_events", "rollup_base"):
        op.drop_table(name)
