"""Migrations go from empty to head on both backends, and match the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from hongyan import models
from hongyan.db import Database


def _diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": False})
    return list(compare_metadata(context, models.Base.metadata))


async def test_schema_at_head_matches_models(database: Database) -> None:
    applied, heads = await database.migration_state()
    assert applied == heads and heads
    async with database.engine.connect() as conn:
        diff = await conn.run_sync(_diff)
    assert diff == []


async def test_upgrade_is_idempotent(database: Database) -> None:
    await database.upgrade()
    applied, heads = await database.migration_state()
    assert applied == heads
