"""SMPP server for tenants: credentials, live binds, submits, the deliver_sm outbox; message
channel and receipt request.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_AUTO_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "smpp_credential",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("system_id", sa.String(length=15), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("allowed_sources", sa.JSON(), nullable=False),
        sa.Column("max_binds", sa.Integer(), nullable=False),
        sa.Column("messages_per_sec", sa.Float(), nullable=False),
        sa.Column("ip_allowlist", sa.JSON(), nullable=False),
        sa.Column("deliver_mo", sa.Boolean(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_bind_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_smpp_credential_tenant_id_tenant")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_smpp_credential")),
        sa.UniqueConstraint("system_id", name=op.f("uq_smpp_credential_system_id")),
    )
    op.create_index(
        "ix_smpp_credential_tenant_id_id", "smpp_credential", ["tenant_id", "id"], unique=False
    )
    op.create_table(
        "smpp_bind",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("credential_id", sa.String(length=32), nullable=False),
        sa.Column("server_id", sa.String(length=48), nullable=False),
        sa.Column("mode", sa.String(length=12), nullable=False),
        sa.Column("peer", sa.String(length=64), nullable=True),
        sa.Column("bound_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_smpp_bind")),
    )
    op.create_index("ix_smpp_bind_credential_id", "smpp_bind", ["credential_id"], unique=False)
    op.create_table(
        "smpp_submit",
        sa.Column("message_id", sa.String(length=32), nullable=False),
        sa.Column("credential_id", sa.String(length=32), nullable=False),
        sa.Column("source_addr", sa.String(length=21), nullable=False),
        sa.Column("source_addr_ton", sa.Integer(), nullable=False),
        sa.Column("source_addr_npi", sa.Integer(), nullable=False),
        sa.Column("destination_addr", sa.String(length=21), nullable=False),
        sa.Column("dest_addr_ton", sa.Integer(), nullable=False),
        sa.Column("dest_addr_npi", sa.Integer(), nullable=False),
        sa.Column("registered_delivery", sa.Integer(), nullable=False),
        sa.Column("parts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_smpp_submit")),
    )
    op.create_table(
        "smpp_outbox",
        sa.Column("id", _AUTO_ID, autoincrement=True, nullable=False),
        sa.Column("credential_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("ref_id", sa.String(length=32), nullable=False),
        sa.Column("pdu", sa.LargeBinary(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(length=48), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_smpp_outbox")),
    )
    op.create_index(
        "ix_smpp_outbox_credential_id_next_attempt_at",
        "smpp_outbox",
        ["credential_id", "next_attempt_at"],
        unique=False,
    )
    # Adding columns needs no table rebuild on SQLite, so batch mode keeps it an ALTER.
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("channel", sa.String(length=8), nullable=True))
        batch_op.add_column(
            sa.Column("receipt_requested", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.drop_column("receipt_requested")
        batch_op.drop_column("channel")
    op.drop_index("ix_smpp_outbox_credential_id_next_attempt_at", table_name="smpp_outbox")
    op.drop_table("smpp_outbox")
    op.drop_table("smpp_submit")
    op.drop_index("ix_smpp_bind_credential_id", table_name="smpp_bind")
    op.drop_table("smpp_bind")
    op.drop_index("ix_smpp_credential_tenant_id_id", table_name="smpp_credential")
    op.drop_table("smpp_credential")
