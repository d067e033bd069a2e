"""Advertiser token rotation with a grace period; the log of test sends; incoming log
entries by conversion.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("advertisers") as batch:
        batch.add_column(sa.Column("previous_token", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("previous_token_until", sa.BigInteger(), nullable=True))
    op.create_table(
        "postback_tests",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("postback_id", sa.BigInteger(), nullable=False),
        sa.Column("conversion_id", sa.BigInteger(), nullable=True),
        sa.Column("started_at", sa.BigInteger(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("content_type", sa.String(length=64), nullable=True),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response_excerpt", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_postback_tests_postback_id", "postback_tests", ["postback_id"])
    op.create_index("ix_incoming_log_conversion_id", "incoming_log", ["conversion_id"])


def downgrade() -> None:
    op.drop_index("ix_incoming_log_conversion_id", table_name="incoming_log")
    op.drop_index("ix_postback_tests_postback_id", table_name="postback_tests")
    op.drop_table("postback_tests")
    with op.batch_alter_table("advertisers") as batch:
        batch.drop_column("previous_token_until")
        batch.drop_column("previous_token")
