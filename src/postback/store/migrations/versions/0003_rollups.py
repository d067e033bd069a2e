"""Report rollups: counters per time bucket, filled from the clicks and conversions there.

Revision ID: 0003
Revises: 0002

The existing rows are counted by the same code that keeps the rollups up to date
afterwards (postback.store.rollups), page by page, in the migration's transaction.
"""

import sqlalchemy as sa
from alembic import op

from postback.domain.report import CLICK, conversion_figures
from postback.store.rollups import Change, Deltas, subs_of

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

PAGE = 20_000
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


def _count_clicks(conn: sa.Connection) -> None:
    clicks = sa.table(
        "clicks",
        sa.column("click_id"),
        sa.column("offer_id"),
        sa.column("affiliate_id"),
        sa.column("created_at"),
        *(sa.column(name) for name in SUB_NAMES),
    )
    after = ""
    while True:
        page = conn.execute(
            sa.select(clicks)
            .where(clicks.c.click_id > after)
            .order_by(clicks.c.click_id)
            .limit(PAGE)
        ).all()
        if not page:
            return
        deltas = Deltas()
        for row in page:
            subs = subs_of([row.sub1, row.sub2, row.sub3, row.sub4, row.sub5])
            deltas.add(Change(row.offer_id, row.affiliate_id, "", subs, row.created_at, CLICK))
        deltas.write(conn, zones=())
        after = page[-1].click_id


def _count_conversions(conn: sa.Connection) -> None:
    conversions = sa.table(
        "conversions",
        sa.column("id"),
        sa.column("click_id"),
        sa.column("offer_id"),
        sa.column("affiliate_id"),
        sa.column("event"),
        sa.column("status"),
        sa.column("revenue"),
        sa.column("payout"),
        sa.column("created_at"),
    )
    clicks = sa.table("clicks", sa.column("click_id"), *(sa.column(n) for n in SUB_NAMES))
    after = 0
    while True:
        page = conn.execute(
            sa.select(conversions, *(clicks.c[name] for name in SUB_NAMES))
            .select_from(
                conversions.outerjoin(clicks, clicks.c.click_id == conversions.c.click_id)
            )
            .where(conversions.c.id > after)
            .order_by(conversions.c.id)
            .limit(PAGE)
        ).all()
        if not page:
            return
        deltas = Deltas()
        for row in page:
            subs = subs_of([row.sub1, row.sub2, row.sub3, row.sub4, row.sub5])
            figures = conversion_figures(row.status, row.revenue, row.payout)
            deltas.add(
                Change(row.offer_id, row.affiliate_id, row.event, subs, row.created_at, figures)
            )
        deltas.write(conn, zones=())
        after = page[-1].id


def upgrade() -> None:
    _create_tables()
    conn = op.get_bind()
    _count_clicks(conn)
    _count_conversions(conn)


def downgrade() -> None:
    for name in ("rollup_all", "rollup_subs", "rollup_events", "rollup_base"):
        op.drop_table(name)
