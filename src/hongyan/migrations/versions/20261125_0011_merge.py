"""Join the domain branches into one head; index messages by number for inbound replies.

Revision ID: 0011
Revises: 0002, 0003, 0005, 0006, 0007, 0008, 0009, 0010
Create Date: 2026-11-25
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = ("0002", "0003", "0005", "0006", "0007", "0008", "0009", "0010")
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.create_index("ix_message_msisdn_id", ["msisdn", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.drop_index("ix_message_msisdn_id")
