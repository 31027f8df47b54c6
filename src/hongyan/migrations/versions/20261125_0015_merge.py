"""Join the SMPP server branch (0013) and the connector bind leases branch (0014) into one head.

Revision ID: 0015
Revises: 0013, 0014
Create Date: 2026-11-25
"""

from __future__ import annotations

revision = "0015"
down_revision = ("0013", "0014")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
