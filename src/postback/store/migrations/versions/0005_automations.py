"""Automations: sale lifecycle and attributes, partner field maps, alerts and incidents.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("advertisers") as batch:
        batch.add_column(sa.Column("field_map", sa.Text(), nullable=False, server_default="{}"))
        batch.add_column(sa.Column("event_map", sa.Text(), nullable=False, server_default="{}"))
    with op.batch_alter_table("offers") as batch:
        batch.add_column(
            sa.Column("lifecycle_events", sa.Text(), nullable=False, server_default="[]")
        )
        batch.add_column(sa.Column("affiliate_events", sa.Text(), nullable=True))
        batch.add_column(
            sa.Column(
                "affiliate_personal_data", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
    with op.batch_alter_table("conversions") as batch:
        batch.add_column(sa.Column("stage", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("attributes", sa.Text(), nullable=True))
    with op.batch_alter_table("conversion_history") as batch:
        batch.add_column(sa.Column("stage", sa.String(length=64), nullable=True))
    op.create_index(
        "ix_conversion_history_created_at", "conversion_history", ["created_at", "to_status"]
    )
    op.create_table(
        "alerts",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("offer_id", sa.BigInteger(), nullable=True),
        sa.Column("postback_id", sa.BigInteger(), nullable=True),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("percent", sa.Integer(), nullable=False),
        sa.Column("window_seconds", sa.Integer(), nullable=False),
        sa.Column("webhook_url", sa.Text(), nullable=False),
        sa.Column("secret", sa.String(length=128), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("state_since", sa.BigInteger(), nullable=True),
        sa.Column("checked_at", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "alert_incidents",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("alert_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("notify_state", sa.String(length=16), nullable=False),
        sa.Column("notify_attempts", sa.Integer(), nullable=False),
        sa.Column("notify_next_at", sa.BigInteger(), nullable=True),
        sa.Column("claimed_until", sa.BigInteger(), nullable=True),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("notified_at", sa.BigInteger(), nullable=True),
    )
    op.create_index("ix_alert_incidents_alert_id", "alert_incidents", ["alert_id"])
    op.create_index(
        "ix_alert_incidents_notify", "alert_incidents", ["notify_state", "notify_next_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_alert_incidents_notify", table_name="alert_incidents")
    op.drop_index("ix_alert_incidents_alert_id", table_name="alert_incidents")
    op.drop_table("alert_incidents")
    op.drop_table("alerts")
    op.drop_index("ix_conversion_history_created_at", table_name="conversion_history")
    with op.batch_alter_table("conversion_history") as batch:
        batch.drop_column("stage")
    with op.batch_alter_table("conversions") as batch:
        batch.drop_column("attributes")
        batch.drop_column("stage")
    with op.batch_alter_table("offers") as batch:
        batch.drop_column("affiliate_personal_data")
        batch.drop_column("affiliate_events")
        batch.drop_column("lifecycle_events")
    with op.batch_alter_table("advertisers") as batch:
        batch.drop_column("event_map")
        batch.drop_column("field_map")
