"""compliance: sensitive words (global and per tenant) and the revision of each list

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-25 18:32:00.918795
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "compliance_revision",
        sa.Column("scope", sa.String(length=32), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("scope", name=op.f("pk_compliance_revision")),
    )
    op.create_table(
        "sensitive_word",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=True),
        sa.Column("word", sa.String(length=100), nullable=False),
        sa.Column("normalized", sa.String(length=400), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_sensitive_word_tenant_id_tenant")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sensitive_word")),
        sa.UniqueConstraint(
            "tenant_id", "normalized", name=op.f("uq_sensitive_word_tenant_id_normalized")
        ),
    )
    with op.batch_alter_table("sensitive_word", schema=None) as batch_op:
        # NULL tenant_id (the global list) escapes the unique constraint above on both
        # backends, hence this partial index.
        batch_op.create_index(
            "uq_sensitive_word_global_normalized",
            ["normalized"],
            unique=True,
            sqlite_where=sa.text("tenant_id IS NULL"),
            postgresql_where=sa.text("tenant_id IS NULL"),
        )
        batch_op.create_index("ix_sensitive_word_tenant_id_id", ["tenant_id", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sensitive_word", schema=None) as batch_op:
        batch_op.drop_index("ix_sensitive_word_tenant_id_id")
        batch_op.drop_index(
            "uq_sensitive_word_global_normalized",
            sqlite_where=sa.text("tenant_id IS NULL"),
            postgresql_where=sa.text("tenant_id IS NULL"),
        )
    op.drop_table("sensitive_word")
    op.drop_table("compliance_revision")
