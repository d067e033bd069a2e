"""Partner platforms: an advertiser's template and platform secret, signed postbacks as an
advertiser's choice, and tracker vocabularies on postback configs.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("advertisers") as batch:
        batch.add_column(sa.Column("template", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("partner_secret", sa.String(length=255), nullable=True))
        batch.add_column(
            sa.Column("signed_postbacks", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    # Signatures were recognised for every advertiser until now: those that exist keep them.
    op.execute(sa.text("UPDATE advertisers SET signed_postbacks = :on").bindparams(on=True))
    with op.batch_alter_table("postback_configs") as batch:
        batch.add_column(sa.Column("status_map", sa.Text(), nullable=False, server_default="{}"))
        batch.add_column(
            sa.Column("omit_empty", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(
            sa.Column(
                "status_changes_only", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("postback_configs") as batch:
        batch.drop_column("status_changes_only")
        batch.drop_column("omit_empty")
        batch.drop_column("status_map")
    with op.batch_alter_table("advertisers") as batch:
        batch.drop_column("signed_postbacks")
        batch.drop_column("partner_secret")
        batch.drop_column("template")
