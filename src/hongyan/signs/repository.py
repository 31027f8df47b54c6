"""All SQL of the signs domain."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hongyan.models import Sign, SignFile


async def add(session: AsyncSession, sign: Sign) -> bool:
    """Insert a sign; False when the tenant already has a live sign of that name."""
    try:
        async with session.begin_nested():
            session.add(sign)
            await session.flush()
    except IntegrityError:
        return False
    return True


async def rename(session: AsyncSession, sign: Sign, name: str) -> bool:
    """Change a sign's name; False when another live sign of the tenant has it."""
    try:
        async with session.begin_nested():
            sign.name = name
            await session.flush()
    except IntegrityError:
        return False
    return True


async def get(session: AsyncSession, sign_id: str, *, for_update: bool = False) -> Sign | None:
    stmt = select(Sign).where(Sign.id == sign_id)
    if for_update:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_live_by_name(session: AsyncSession, tenant_id: str, name: str) -> Sign | None:
    stmt = select(Sign).where(
        Sign.tenant_id == tenant_id, Sign.name == name, Sign.status != "canceled"
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def list_signs(
    session: AsyncSession,
    *,
    tenant_id: str,
    status: str | None,
    limit: int,
    before_id: str | None,
) -> list[Sign]:
    """Newest first; canceled (deleted) signs only when asked for by status."""
    stmt = select(Sign).where(Sign.tenant_id == tenant_id).order_by(Sign.id.desc())
    stmt = stmt.where(Sign.status == status if status else Sign.status != "canceled")
    if before_id:
        stmt = stmt.where(Sign.id < before_id)
    return list((await session.execute(stmt.limit(limit + 1))).scalars())


async def add_file(session: AsyncSession, sign: Sign, file: SignFile) -> None:
    sign.files.append(file)
    await session.flush()


async def remove_file(session: AsyncSession, sign: Sign, file: SignFile) -> None:
    sign.files.remove(file)  # delete-orphan: the row goes with it
    await session.flush()
