"""All SQL of the compliance domain: sensitive words and the revision of each list."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from hongyan.models import ComplianceRevision, SensitiveWord, utcnow


def _of(tenant_id: str | None) -> ColumnElement[bool]:
    """Rows of one list: a tenant's, or the global one when tenant_id is None."""
    if tenant_id is None:
        return SensitiveWord.tenant_id.is_(None)
    return SensitiveWord.tenant_id == tenant_id


async def get_revisions(session: AsyncSession, scopes: Collection[str]) -> dict[str, int]:
    """Current revision of each scope that has a row (a list never changed has none)."""
    stmt = select(ComplianceRevision.scope, ComplianceRevision.revision).where(
        ComplianceRevision.scope.in_(scopes)
    )
    return {scope: revision for scope, revision in (await session.execute(stmt)).all()}


async def bump_revision(session: AsyncSession, scope: str) -> int:
    """Add one to a scope's revision (creating it at 1) and return the new value."""
    # One upsert statement: it also takes the row lock on PostgreSQL, so concurrent changes of
    # one list are serialized and every committed change gets a revision of its own.
    dialect = session.get_bind().dialect.name
    insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = ComplianceRevision.__table__
    stmt = (
        insert(table)
        .values(scope=scope, revision=1, updated_at=utcnow())
        .on_conflict_do_update(
            index_elements=[table.c.scope],
            set_={"revision": table.c.revision + 1, "updated_at": utcnow()},
        )
        .returning(table.c.revision)
    )
    return int((await session.execute(stmt)).scalar_one())


async def create_revision(session: AsyncSession, scope: str) -> bool:
    """Create a scope's revision row at 1; False when it already exists (someone else did)."""
    try:
        async with session.begin_nested():
            session.add(ComplianceRevision(scope=scope, revision=1, updated_at=utcnow()))
            await session.flush()
    except IntegrityError:
        return False
    return True


async def add_words(session: AsyncSession, rows: Iterable[SensitiveWord]) -> None:
    session.add_all(list(rows))
    await session.flush()


async def get_word(session: AsyncSession, word_id: str) -> SensitiveWord | None:
    stmt = select(SensitiveWord).where(SensitiveWord.id == word_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def words_by_normalized(
    session: AsyncSession, tenant_id: str | None, normalized: Collection[str]
) -> dict[str, SensitiveWord]:
    """The listed rows among these normalized forms, keyed by normalized form."""
    found: dict[str, SensitiveWord] = {}
    keys = list(normalized)
    # Chunked: SQLite allows a limited number of bound parameters per statement.
    for i in range(0, len(keys), 500):
        stmt = select(SensitiveWord).where(
            _of(tenant_id), SensitiveWord.normalized.in_(keys[i : i + 500])
        )
        found.update({row.normalized: row for row in (await session.execute(stmt)).scalars()})
    return found


async def matcher_words(session: AsyncSession, tenant_id: str | None) -> list[tuple[str, str, str]]:
    """(word, category, action) of every word of one list, for building its automaton."""
    stmt = select(SensitiveWord.word, SensitiveWord.category, SensitiveWord.action).where(
        _of(tenant_id)
    )
    return [(w, c, a) for w, c, a in (await session.execute(stmt)).all()]


async def list_words(
    session: AsyncSession,
    *,
    tenant_id: str | None,
    limit: int,
    before_id: str | None,
    category: str | None = None,
    action: str | None = None,
    normalized_contains: str | None = None,
) -> list[SensitiveWord]:
    """One page of a list, newest first (limit + 1 rows to tell whether more follow)."""
    stmt = select(SensitiveWord).where(_of(tenant_id)).order_by(SensitiveWord.id.desc())
    if before_id:
        stmt = stmt.where(SensitiveWord.id < before_id)
    if category:
        stmt = stmt.where(SensitiveWord.category == category)
    if action:
        stmt = stmt.where(SensitiveWord.action == action)
    if normalized_contains:
        stmt = stmt.where(SensitiveWord.normalized.contains(normalized_contains, autoescape=True))
    return list((await session.execute(stmt.limit(limit + 1))).scalars())


async def all_words(session: AsyncSession, tenant_id: str | None) -> list[SensitiveWord]:
    """Every word of one list in a stable order (category, then normalized form)."""
    stmt = (
        select(SensitiveWord)
        .where(_of(tenant_id))
        .order_by(SensitiveWord.category, SensitiveWord.normalized)
    )
    return list((await session.execute(stmt)).scalars())


async def delete_word(session: AsyncSession, word: SensitiveWord) -> None:
    await session.delete(word)
    await session.flush()


async def delete_words(session: AsyncSession, tenant_id: str | None, ids: Collection[str]) -> int:
    """Delete these rows of one list; the number deleted."""
    count = 0
    keys = list(ids)
    for i in range(0, len(keys), 500):
        stmt = delete(SensitiveWord).where(_of(tenant_id), SensitiveWord.id.in_(keys[i : i + 500]))
        result: Any = await session.execute(stmt)
        count += int(result.rowcount or 0)
    return count
