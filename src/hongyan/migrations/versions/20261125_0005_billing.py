"""billing: prices, billing accounts (balances), the ledger and the price revision

Revision ID: 0005
Revises: 0001
Create Date: 2026-11-25 18:45:02.213291
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "billing_revision",
        sa.Column("scope", sa.String(length=32), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("scope", name=op.f("pk_billing_revision")),
    )
    op.create_table(
        "price",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("unit_price", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("unit_price >= 0", name=op.f("ck_price_unit_price_not_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_price")),
        sa.UniqueConstraint("country", "kind", name=op.f("uq_price_country_kind")),
    )
    op.create_table(
        "billing_account",
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("charge_policy", sa.String(length=16), nullable=False),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.Column("held", sa.BigInteger(), nullable=False),
        sa.Column("low_balance_threshold", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "charge_policy IN ('on_send', 'on_delivery')",
            name=op.f("ck_billing_account_charge_policy"),
        ),
        sa.CheckConstraint("balance >= 0", name=op.f("ck_billing_account_balance_not_negative")),
        sa.CheckConstraint("held >= 0", name=op.f("ck_billing_account_held_not_negative")),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_billing_account_tenant_id_tenant")
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_billing_account")),
    )
    op.create_table(
        "ledger_entry",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("balance_after", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.String(length=32), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("idempotency_key", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('topup', 'hold', 'confirm', 'refund', 'adjustment')",
            name=op.f("ck_ledger_entry_kind"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entry")),
    )
    with op.batch_alter_table("ledger_entry", schema=None) as batch_op:
        batch_op.create_index("ix_ledger_entry_message_id", ["message_id"], unique=False)
        batch_op.create_index("ix_ledger_entry_tenant_id_id", ["tenant_id", "id"], unique=False)
        # At most one hold and one final entry (confirm or refund) per message.
        batch_op.create_index(
            "uq_ledger_entry_final_message_id",
            ["message_id"],
            unique=True,
            sqlite_where=sa.text("kind IN ('confirm', 'refund')"),
            postgresql_where=sa.text("kind IN ('confirm', 'refund')"),
        )
        batch_op.create_index(
            "uq_ledger_entry_hold_message_id",
            ["message_id"],
            unique=True,
            sqlite_where=sa.text("kind = 'hold'"),
            postgresql_where=sa.text("kind = 'hold'"),
        )
        batch_op.create_index(
            "uq_ledger_entry_tenant_id_idempotency_key",
            ["tenant_id", "idempotency_key"],
            unique=True,
            sqlite_where=sa.text("idempotency_key IS NOT NULL"),
            postgresql_where=sa.text("idempotency_key IS NOT NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("ledger_entry", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_ledger_entry_tenant_id_idempotency_key",
            sqlite_where=sa.text("idempotency_key IS NOT NULL"),
            postgresql_where=sa.text("idempotency_key IS NOT NULL"),
        )
        batch_op.drop_index(
            "uq_ledger_entry_hold_message_id",
            sqlite_where=sa.text("kind = 'hold'"),
            postgresql_where=sa.text("kind = 'hold'"),
        )
        batch_op.drop_index(
            "uq_ledger_entry_final_message_id",
            sqlite_where=sa.text("kind IN ('confirm', 'refund')"),
            postgresql_where=sa.text("kind IN ('confirm', 'refund')"),
        )
        batch_op.drop_index("ix_ledger_entry_tenant_id_id")
        batch_op.drop_index("ix_ledger_entry_message_id")
    op.drop_table("ledger_entry")
    op.drop_table("billing_account")
    op.drop_table("price")
    op.drop_table("billing_revision")
