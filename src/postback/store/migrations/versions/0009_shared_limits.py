"""Limits shared by every process: failed authentications and paused partner endpoints.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

from postback.store.schema import Id

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "auth_failures",
        sa.Column("id", Id, primary_key=True),
        sa.Column("client", sa.String(length=255), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_auth_failures_client_at", "auth_failures", ["client", "at"])
    op.create_table(
        "auth_blocks",
        sa.Column("client", sa.String(length=255), primary_key=True),
        sa.Column("blocked_until", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "endpoint_pauses",
        sa.Column("endpoint", sa.String(length=512), primary_key=True),
        sa.Column("paused_until", sa.BigInteger(), nullable=False),
        sa.Column("pause_ms", sa.BigInteger(), nullable=False),
        sa.Column("probe_until", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("endpoint_pauses")
    op.drop_table("auth_blocks")
    op.drop_index("ix_auth_failures_client_at", table_name="auth_failures")
    op.drop_table("auth_failures")
