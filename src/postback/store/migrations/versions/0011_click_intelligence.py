"""Click intelligence: each click's geo, device, bot flag, uniqueness and cost; the last
click of each visitor on each offer; an offer's URL for bots.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clicks") as batch:
        batch.add_column(sa.Column("region", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("city", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("device", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("os", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("browser", sa.String(length=64), nullable=True))
        batch.add_column(
            sa.Column("is_bot", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(
            sa.Column("is_unique", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch.add_column(sa.Column("cost", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("visitor", sa.String(length=32), nullable=True))
    with op.batch_alter_table("offers") as batch:
        batch.add_column(sa.Column("bot_url", sa.Text(), nullable=True))
    op.create_table(
        "click_visitors",
        sa.Column("visitor", sa.String(length=32), nullable=False),
        sa.Column("offer_id", sa.BigInteger(), nullable=False),
        sa.Column("last_at", sa.BigInteger(), nullable=False),
        sa.Column("previous_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("visitor", "offer_id"),
    )


def downgrade() -> None:
    op.drop_table("click_visitors")
    with op.batch_alter_table("offers") as batch:
        batch.drop_column("bot_url")
    with op.batch_alter_table("clicks") as batch:
        for name in (
            "visitor",
            "cost",
            "is_unique",
            "is_bot",
            "browser",
            "os",
            "device",
            "city",
            "region",
        ):
            batch.drop_column(name)
