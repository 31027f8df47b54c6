"""routing: connectors and their settings, routes, connector health, the routing revision

Revision ID: 0007
Revises: 0001
Create Date: 2026-11-25 18:42:18.816349
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "connector",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connector")),
        sa.UniqueConstraint("name", name=op.f("uq_connector_name")),
    )
    op.create_table(
        "connector_health",
        sa.Column("connector_id", sa.String(length=32), nullable=False),
        sa.Column("node", sa.String(length=64), nullable=False),
        sa.Column("window_secs", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.BigInteger(), nullable=False),
        sa.Column("failures", sa.BigInteger(), nullable=False),
        sa.Column("latency_avg_ms", sa.Float(), nullable=True),
        sa.Column("latency_max_ms", sa.Float(), nullable=True),
        sa.Column("breaker", sa.String(length=16), nullable=False),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("connector_id", "node", name=op.f("pk_connector_health")),
    )
    op.create_table(
        "routing_revision",
        sa.Column("scope", sa.String(length=32), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("scope", name=op.f("pk_routing_revision")),
    )
    op.create_table(
        "route",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("weight", sa.Integer(), nullable=False),
        sa.Column("connector_id", sa.String(length=32), nullable=False),
        sa.Column("countries", sa.JSON(), nullable=True),
        sa.Column("prefixes", sa.JSON(), nullable=True),
        sa.Column("carriers", sa.JSON(), nullable=True),
        sa.Column("kinds", sa.JSON(), nullable=True),
        sa.Column("tenant_ids", sa.JSON(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["connector_id"], ["connector.id"], name=op.f("fk_route_connector_id_connector")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_route")),
        sa.UniqueConstraint("name", name=op.f("uq_route_name")),
    )
    with op.batch_alter_table("route", schema=None) as batch_op:
        batch_op.create_index("ix_route_connector_id", ["connector_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("route", schema=None) as batch_op:
        batch_op.drop_index("ix_route_connector_id")
    op.drop_table("route")
    op.drop_table("routing_revision")
    op.drop_table("connector_health")
    op.drop_table("connector")
