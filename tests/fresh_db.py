"""A migrated database of its own, for tests whose subject is the whole table.

The dispatcher claims every due message in the table, and its crash test runs a worker
process against a database: sharing the session's database with other tests would make them
claim each other's messages. Each use gets a new SQLite file or a new PostgreSQL database,
dropped afterwards.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg

from hongyan.db import Database
from tests.conftest import POSTGRES_URL, _pg_parts


@asynccontextmanager
async def fresh_database(backend: str, tmp_dir: Path) -> AsyncIterator[Database]:
    """A new, migrated database of ``backend`` ("sqlite" or "postgres")."""
    name = f"hongyan_fresh_{os.getpid()}_{secrets.token_hex(3)}"
    if backend == "sqlite":
        db = Database(f"sqlite+aiosqlite:///{tmp_dir / (name + '.db')}")
        try:
            await db.upgrade()
            yield db
        finally:
            await db.dispose()
        return
    assert POSTGRES_URL, "HONGYAN_TEST_POSTGRES_URL not set"
    server, admin_db = _pg_parts(POSTGRES_URL)
    admin = await asyncpg.connect(f"{server}/{admin_db}")
    await admin.execute(f'CREATE DATABASE "{name}"')
    db = Database(f"postgresql+asyncpg://{server.split('://', 1)[1]}/{name}")
    try:
        await db.upgrade()
        yield db
    finally:
        await db.dispose()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
