"""Report zones: local days of named zones kept in the rollups.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "report_zones",
        sa.Column("id", sa.SmallInteger(), primary_key=True, autoincrement=False),
        sa.Column("name", sa.String(length=64), nullable=False, unique=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    for name in ("rollup_all", "rollup_subs", "rollup_events", "rollup_base"):
        op.execute(sa.text(f"DELETE FROM {name} WHERE grain < 0"))
    op.drop_table("report_zones")
