"""Rollup changes appended by writers and folded into the rollups later (PostgreSQL).

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

from postback.store.schema import Id

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rollup_pending",
        sa.Column("id", Id, primary_key=True),
        sa.Column("cells", sa.LargeBinary(), nullable=False),
        postgresql_with={
            "autovacuum_vacuum_scale_factor": 0.0,
            "autovacuum_vacuum_threshold": 5000,
            "autovacuum_vacuum_insert_scale_factor": 0.0,
            "autovacuum_vacuum_insert_threshold": 5000,
        },
    )


def downgrade() -> None:
    # Folded first: what is pending is counted in no rollup yet.
    from postback.store.pending import fold_all

    fold_all(op.get_bind())
    op.drop_table("rollup_pending")
