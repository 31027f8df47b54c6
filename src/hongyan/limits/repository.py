"""All SQL of the limits domain: tenants' policies and whitelists."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hongyan.models import LimitPolicy, LimitWhitelist, Tenant, utcnow


async def policy_state(session: AsyncSession, tenant_id: str) -> tuple[str, int] | None:
    """(time zone, policy revision) of a tenant (revision 0: no policy row); None: no tenant."""
    stmt = (
        select(Tenant.timezone, LimitPolicy.revision)
        .outerjoin(LimitPolicy, LimitPolicy.tenant_id == Tenant.id)
        .where(Tenant.id == tenant_id)
    )
    row = (await session.execute(stmt)).one_or_none()
    return None if row is None else (row[0], row[1] or 0)


async def get_policy(session: AsyncSession, tenant_id: str) -> LimitPolicy | None:
    stmt = select(LimitPolicy).where(LimitPolicy.tenant_id == tenant_id)
    return (
        await session.execute(stmt.execution_options(populate_existing=True))
    ).scalar_one_or_none()


def _insert(session: AsyncSession) -> Any:
    dialect = session.get_bind().dialect.name
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


async def save_policy(
    session: AsyncSession,
    tenant_id: str,
    *,
    rules: dict[str, Any],
    rate_per_sec: int | None,
    daily_cap: int | None,
    monthly_cap: int | None,
) -> int:
    """Replace a tenant's policy (creating it) and bump its revision; the new revision."""
    # One upsert: it also takes the row lock on PostgreSQL, so concurrent changes of one tenant
    # run one after the other and each gets a revision of its own.
    table = LimitPolicy.__table__
    values = {
        "rules": rules,
        "rate_per_sec": rate_per_sec,
        "daily_cap": daily_cap,
        "monthly_cap": monthly_cap,
        "updated_at": utcnow(),
    }
    stmt = (
        _insert(session)(table)
        .values(tenant_id=tenant_id, revision=1, **values)
        .on_conflict_do_update(
            index_elements=[table.c.tenant_id],
            set_={**values, "revision": table.c.revision + 1},
        )
        .returning(table.c.revision)
    )
    return int((await session.execute(stmt)).scalar_one())


async def bump_revision(session: AsyncSession, tenant_id: str) -> int:
    """Add one to a tenant's revision (creating a default policy at 1); the new revision."""
    table = LimitPolicy.__table__
    now = utcnow()
    stmt = (
        _insert(session)(table)
        .values(tenant_id=tenant_id, rules={}, revision=1, updated_at=now)
        .on_conflict_do_update(
            index_elements=[table.c.tenant_id],
            set_={"revision": table.c.revision + 1, "updated_at": now},
        )
        .returning(table.c.revision)
    )
    return int((await session.execute(stmt)).scalar_one())


async def whitelist_numbers(session: AsyncSession, tenant_id: str) -> list[str]:
    stmt = select(LimitWhitelist.msisdn).where(LimitWhitelist.tenant_id == tenant_id)
    return list((await session.execute(stmt)).scalars())


async def count_whitelist(session: AsyncSession, tenant_id: str) -> int:
    stmt = select(func.count()).select_from(LimitWhitelist)
    stmt = stmt.where(LimitWhitelist.tenant_id == tenant_id)
    return int((await session.execute(stmt)).scalar_one())


async def list_whitelist(
    session: AsyncSession, *, tenant_id: str, limit: int, before_id: str | None
) -> list[LimitWhitelist]:
    """One page of a whitelist, newest first (limit + 1 rows to tell whether more follow)."""
    stmt = select(LimitWhitelist).where(LimitWhitelist.tenant_id == tenant_id)
    if before_id:
        stmt = stmt.where(LimitWhitelist.id < before_id)
    stmt = stmt.order_by(LimitWhitelist.id.desc()).limit(limit + 1)
    return list((await session.execute(stmt)).scalars())


async def find_whitelisted(
    session: AsyncSession, *, tenant_id: str, entry_id: str | None = None, msisdn: str | None = None
) -> LimitWhitelist | None:
    """The entry with this id or this number."""
    stmt = select(LimitWhitelist).where(LimitWhitelist.tenant_id == tenant_id)
    if entry_id is not None:
        stmt = stmt.where(LimitWhitelist.id == entry_id)
    if msisdn is not None:
        stmt = stmt.where(LimitWhitelist.msisdn == msisdn)
    return (await session.execute(stmt)).scalar_one_or_none()


async def add_whitelisted(session: AsyncSession, row: LimitWhitelist) -> bool:
    """Insert an entry; False when the number is already listed."""
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError:
        return False
    return True


async def delete_whitelisted(session: AsyncSession, row: LimitWhitelist) -> None:
    await session.delete(row)
    await session.flush()
