"""limits: frequency-limit policies per tenant and their whitelists of exempt numbers

Revision ID: 0006
Revises: 0001
Create Date: 2026-11-25 18:42:05.686455
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "limit_policy",
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("rate_per_sec", sa.Integer(), nullable=True),
        sa.Column("daily_cap", sa.Integer(), nullable=True),
        sa.Column("monthly_cap", sa.Integer(), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_limit_policy_tenant_id_tenant")
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_limit_policy")),
    )
    op.create_table(
        "limit_whitelist",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("msisdn", sa.String(length=20), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_limit_whitelist_tenant_id_tenant")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_limit_whitelist")),
        sa.UniqueConstraint(
            "tenant_id", "msisdn", name=op.f("uq_limit_whitelist_tenant_id_msisdn")
        ),
    )
    with op.batch_alter_table("limit_whitelist", schema=None) as batch_op:
        batch_op.create_index("ix_limit_whitelist_tenant_id_id", ["tenant_id", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("limit_whitelist", schema=None) as batch_op:
        batch_op.drop_index("ix_limit_whitelist_tenant_id_id")
    op.drop_table("limit_whitelist")
    op.drop_table("limit_policy")
