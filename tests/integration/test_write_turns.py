"""kit.write_turns on a real SQLite file: writers of one process take turns in the event loop.

The writer that comes second runs with SQLite's busy timeout at 0, so if it ever reached
SQLite while the first one held the lock it would fail at once with "database is locked":
passing means it waited for its turn in the event loop instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from hongyan.db import Database


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'turns.db'}")
    async with database.session() as session:
        await session.execute(text("CREATE TABLE item (id INTEGER PRIMARY KEY, who TEXT)"))
    yield database
    await database.dispose()


async def impatient(session: AsyncSession) -> None:
    """SQLite itself will not wait on this connection."""
    await session.execute(text("PRAGMA busy_timeout=0"))


async def insert(session: AsyncSession, who: str) -> None:
    await session.execute(text("INSERT INTO item (who) VALUES (:who)"), {"who": who})


async def rows(db: Database) -> list[str]:
    async with db.session() as session:
        return list((await session.execute(text("SELECT who FROM item ORDER BY id"))).scalars())


async def test_a_second_writer_waits_for_its_turn_not_in_sqlite(db: Database) -> None:
    first_wrote, reader_done = asyncio.Event(), asyncio.Event()

    async def first() -> None:
        async with db.session() as session:
            await insert(session, "first")
            first_wrote.set()
            await reader_done.wait()  # holds SQLite's write lock meanwhile

    async def second() -> None:
        await first_wrote.wait()
        async with db.session() as session:
            await impatient(session)
            await insert(session, "second")

    async def reader() -> None:
        await first_wrote.wait()
        assert await rows(db) == []  # reads never wait: they see the last commit
        reader_done.set()

    await asyncio.wait_for(asyncio.gather(first(), second(), reader()), 10)
    assert await rows(db) == ["first", "second"]


async def test_a_rolled_back_writer_gives_up_its_turn(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.session() as session:
            await insert(session, "lost")
            raise RuntimeError("changed my mind")
    async with db.session() as session:
        await impatient(session)
        await insert(session, "kept")
    assert await rows(db) == ["kept"]


async def test_a_task_writing_on_two_connections_is_left_to_sqlite(db: Database) -> None:
    """Waiting for its own turn would hang forever; SQLite refuses it at once instead."""

    async def nested() -> None:
        async with db.session() as outer:
            await insert(outer, "outer")
            async with db.session() as inner:
                await impatient(inner)
                await insert(inner, "inner")

    with pytest.raises(OperationalError, match="locked"):
        await asyncio.wait_for(nested(), 10)
    assert await rows(db) == []
