"""All SQL of the accounts domain."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hongyan.models import ApiKey, AuditEntry, AuthNonce, Tenant


async def add(session: AsyncSession, row: Tenant | ApiKey | AuditEntry) -> None:
    session.add(row)
    await session.flush()


async def get_tenant(
    session: AsyncSession, tenant_id: str, *, for_update: bool = False
) -> Tenant | None:
    stmt = select(Tenant).where(Tenant.id == tenant_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_tenant_by_name(session: AsyncSession, name: str) -> Tenant | None:
    return (await session.execute(select(Tenant).where(Tenant.name == name))).scalar_one_or_none()


async def list_tenants(
    session: AsyncSession, *, limit: int, before_id: str | None, status: str | None = None
) -> list[Tenant]:
    stmt = select(Tenant).order_by(Tenant.id.desc()).limit(limit + 1)
    if before_id:
        stmt = stmt.where(Tenant.id < before_id)
    if status:
        stmt = stmt.where(Tenant.status == status)
    return list((await session.execute(stmt)).scalars())


async def get_key(session: AsyncSession, key_id: str) -> ApiKey | None:
    return (await session.execute(select(ApiKey).where(ApiKey.id == key_id))).scalar_one_or_none()


async def get_key_with_tenant(
    session: AsyncSession, key_id: str
) -> tuple[ApiKey, Tenant | None] | None:
    stmt = (
        select(ApiKey, Tenant)
        .outerjoin(Tenant, Tenant.id == ApiKey.tenant_id)
        .where(ApiKey.id == key_id)
    )
    row = (await session.execute(stmt)).one_or_none()
    return (row[0], row[1]) if row else None


async def list_keys(
    session: AsyncSession, *, tenant_id: str | None, limit: int, before_id: str | None
) -> list[ApiKey]:
    """Keys of one tenant, or the operator keys when tenant_id is None."""
    stmt = select(ApiKey).order_by(ApiKey.id.desc()).limit(limit + 1)
    stmt = stmt.where(ApiKey.tenant_id == tenant_id if tenant_id else ApiKey.role == "operator")
    if before_id:
        stmt = stmt.where(ApiKey.id < before_id)
    return list((await session.execute(stmt)).scalars())


async def touch_key(session: AsyncSession, key_id: str, at: datetime) -> None:
    await session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=at))


async def count_keys(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count()).select_from(ApiKey))).scalar_one())


async def insert_nonce(session: AsyncSession, key_id: str, nonce: str, at: datetime) -> bool:
    """Record a nonce; False when it was already used with this key."""
    try:
        async with session.begin_nested():
            session.add(AuthNonce(key_id=key_id, nonce=nonce, seen_at=at))
            await session.flush()
    except IntegrityError:
        return False
    return True


async def purge_nonces(session: AsyncSession, before: datetime) -> int:
    result: Any = await session.execute(delete(AuthNonce).where(AuthNonce.seen_at < before))
    return int(result.rowcount or 0)


async def list_audit(
    session: AsyncSession, *, tenant_id: str | None, limit: int, before_id: str | None
) -> list[AuditEntry]:
    stmt = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit + 1)
    if tenant_id:
        stmt = stmt.where(AuditEntry.tenant_id == tenant_id)
    if before_id:
        stmt = stmt.where(AuditEntry.id < before_id)
    return list((await session.execute(stmt)).scalars())
