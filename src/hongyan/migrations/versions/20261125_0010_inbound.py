"""inbound

Revision ID: 0010
Revises: 0001
Create Date: 2026-11-25 18:43:39.097176
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbound_message",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=True),
        sa.Column("connector_id", sa.String(length=32), nullable=False),
        sa.Column("upstream_id", sa.String(length=100), nullable=True),
        sa.Column("msisdn", sa.String(length=20), nullable=False),
        sa.Column("to", sa.String(length=32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("opt_action", sa.String(length=8), nullable=True),
        sa.Column("message_id", sa.String(length=32), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_message")),
    )
    op.create_index(
        "ix_inbound_message_tenant_id_id", "inbound_message", ["tenant_id", "id"], unique=False
    )
    op.create_index(
        "ix_inbound_message_tenant_id_msisdn_id",
        "inbound_message",
        ["tenant_id", "msisdn", "id"],
        unique=False,
    )
    op.create_index(
        "uq_inbound_message_connector_id_upstream_id",
        "inbound_message",
        ["connector_id", "upstream_id"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("uq_inbound_message_connector_id_upstream_id", table_name="inbound_message")
    op.drop_index("ix_inbound_message_tenant_id_msisdn_id", table_name="inbound_message")
    op.drop_index("ix_inbound_message_tenant_id_id", table_name="inbound_message")
    op.drop_table("inbound_message")
