"""Kept clicks by time: `postback export clicks` reads a time range of them with the raw
clicks.

Revision ID: 0016
Revises: 0015
"""

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_kept_clicks_created_at", "kept_clicks", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_kept_clicks_created_at", "kept_clicks")
