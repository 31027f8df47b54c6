"""Leases on connector binds, messages pinned to the worker owning a connector.

Revision ID: 0014
Revises: 0012
Create Date: 2026-11-25

The claim index gains ``pinned_connector_id`` after ``status``: the general claim asks for
``pinned_connector_id = ''`` and the owner's claim for its connector, both equalities, so
either reads due rows in (priority, due_at) order straight from the index.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "connector_bind_lease",
        sa.Column("connector_id", sa.String(length=32), nullable=False),
        sa.Column("bind_index", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("bound", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("connector_id", "bind_index", name=op.f("pk_connector_bind_lease")),
    )
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "pinned_connector_id", sa.String(length=32), nullable=False, server_default=""
            )
        )
        batch_op.drop_index("ix_message_status_priority_due_at")
        batch_op.create_index(
            "ix_message_status_pinned_connector_id_priority_due_at",
            ["status", "pinned_connector_id", "priority", "due_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.drop_index("ix_message_status_pinned_connector_id_priority_due_at")
        batch_op.create_index(
            "ix_message_status_priority_due_at", ["status", "priority", "due_at"], unique=False
        )
        batch_op.drop_column("pinned_connector_id")
    op.drop_table("connector_bind_lease")
