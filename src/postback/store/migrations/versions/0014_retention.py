"""Retention: what a conversion keeps of a purged click (`kept_clicks`), when a delivered
postback's body was removed, and the indexes the purge reads old rows by.

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

DELIVERED_WITH_BODY = "state = 'delivered' AND body IS NOT NULL"


def upgrade() -> None:
    # The columns of `clicks` as they are at this revision.
    subs = [sa.Column(f"sub{n}", sa.String(255)) for n in range(1, 6)]
    op.create_table(
        "kept_clicks",
        sa.Column("click_id", sa.String(64), primary_key=True),
        sa.Column("offer_id", sa.BigInteger(), nullable=False),
        sa.Column("affiliate_id", sa.BigInteger(), nullable=False),
        *subs,
        sa.Column("ip", sa.String(45)),
        sa.Column("user_agent", sa.Text()),
        sa.Column("referrer", sa.Text()),
        sa.Column("country", sa.String(2)),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("region", sa.String(128)),
        sa.Column("city", sa.String(128)),
        sa.Column("device", sa.String(16)),
        sa.Column("os", sa.String(64)),
        sa.Column("browser", sa.String(64)),
        sa.Column("is_bot", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("is_unique", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("cost", sa.BigInteger()),
        sa.Column("visitor", sa.String(32)),
    )
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("body_purged_at", sa.BigInteger()))
    op.create_index(
        "ix_deliveries_delivered_body",
        "deliveries",
        ["updated_at"],
        sqlite_where=sa.text(DELIVERED_WITH_BODY),
        postgresql_where=sa.text(DELIVERED_WITH_BODY),
    )
    op.create_index("ix_delivery_attempts_started_at", "delivery_attempts", ["started_at"])
    op.create_index("ix_postback_tests_started_at", "postback_tests", ["started_at"])


def downgrade() -> None:
    op.drop_index("ix_postback_tests_started_at", "postback_tests")
    op.drop_index("ix_delivery_attempts_started_at", "delivery_attempts")
    op.drop_index("ix_deliveries_delivered_body", "deliveries")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("body_purged_at")
    op.drop_table("kept_clicks")
