"""Postback configs: secret rotation, signed GET postbacks, disabling unhealthy partners.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("postback_configs") as batch:
        batch.add_column(sa.Column("previous_secret", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("previous_secret_until", sa.BigInteger(), nullable=True))
        batch.add_column(
            sa.Column("sign_get", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("disabled_reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("disabled_at", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("failing_since", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("postback_configs") as batch:
        batch.drop_column("failing_since")
        batch.drop_column("disabled_at")
        batch.drop_column("disabled_reason")
        batch.drop_column("sign_get")
        batch.drop_column("previous_secret_until")
        batch.drop_column("previous_secret")
