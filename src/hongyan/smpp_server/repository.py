"""All SQL of the SMPP server: credentials, live binds, submits and the deliver_sm outbox."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hongyan.models import SmppBind, SmppCredential, SmppOutbox, SmppSubmit, Tenant


def _is_pg(session: AsyncSession) -> bool:
    bind = session.bind
    assert bind is not None
    return bind.dialect.name == "postgresql"


# --- credentials ------------------------------------------------------------------------------


async def add(session: AsyncSession, row: SmppCredential) -> None:
    session.add(row)
    await session.flush()


async def get_credential(
    session: AsyncSession, credential_id: str, *, for_update: bool = False
) -> SmppCredential | None:
    stmt = select(SmppCredential).where(SmppCredential.id == credential_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_by_system_id(session: AsyncSession, system_id: str) -> SmppCredential | None:
    stmt = select(SmppCredential).where(SmppCredential.system_id == system_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_with_tenant(
    session: AsyncSession, system_id: str
) -> tuple[SmppCredential, Tenant] | None:
    """The credential with this system_id and its tenant, for a bind."""
    stmt = (
        select(SmppCredential, Tenant)
        .join(Tenant, Tenant.id == SmppCredential.tenant_id)
        .where(SmppCredential.system_id == system_id)
    )
    row = (await session.execute(stmt)).one_or_none()
    return (row[0], row[1]) if row else None


async def list_credentials(
    session: AsyncSession, *, tenant_id: str | None, limit: int, before_id: str | None
) -> list[SmppCredential]:
    """Newest first; limit+1 rows so the caller can tell whether a next page exists."""
    stmt = select(SmppCredential).order_by(SmppCredential.id.desc()).limit(limit + 1)
    if tenant_id:
        stmt = stmt.where(SmppCredential.tenant_id == tenant_id)
    if before_id:
        stmt = stmt.where(SmppCredential.id < before_id)
    return list((await session.execute(stmt)).scalars())


async def delete_credential(session: AsyncSession, credential_id: str) -> None:
    """The credential, its bind rows and its undelivered deliver_sm."""
    await session.execute(delete(SmppOutbox).where(SmppOutbox.credential_id == credential_id))
    await session.execute(delete(SmppBind).where(SmppBind.credential_id == credential_id))
    await session.execute(delete(SmppCredential).where(SmppCredential.id == credential_id))


async def mo_credentials(session: AsyncSession, tenant_ids: Sequence[str]) -> list[SmppCredential]:
    """Enabled credentials of these tenants that take inbound messages."""
    if not tenant_ids:
        return []
    stmt = select(SmppCredential).where(
        SmppCredential.tenant_id.in_(list(tenant_ids)),
        SmppCredential.enabled.is_(True),
        SmppCredential.deliver_mo.is_(True),
    )
    return list((await session.execute(stmt)).scalars())


async def touch_bind_time(session: AsyncSession, credential_id: str, at: datetime) -> None:
    await session.execute(
        update(SmppCredential).where(SmppCredential.id == credential_id).values(last_bind_at=at)
    )


# --- binds ------------------------------------------------------------------------------------


async def live_binds(
    session: AsyncSession, credential_ids: Sequence[str], *, since: datetime
) -> dict[str, int]:
    """Binds per credential whose heartbeat is newer than ``since``."""
    if not credential_ids:
        return {}
    stmt = (
        select(SmppBind.credential_id, func.count())
        .where(SmppBind.credential_id.in_(list(credential_ids)), SmppBind.heartbeat_at > since)
        .group_by(SmppBind.credential_id)
    )
    return {cid: int(n) for cid, n in (await session.execute(stmt)).all()}


async def insert_bind(session: AsyncSession, row: dict[str, Any]) -> None:
    await session.execute(insert(SmppBind), [row])


async def delete_binds(session: AsyncSession, ids: Sequence[str]) -> None:
    if ids:
        await session.execute(delete(SmppBind).where(SmppBind.id.in_(list(ids))))


async def heartbeat(session: AsyncSession, ids: Sequence[str], at: datetime) -> None:
    if ids:
        await session.execute(
            update(SmppBind).where(SmppBind.id.in_(list(ids))).values(heartbeat_at=at)
        )


async def purge_dead_binds(session: AsyncSession, before: datetime) -> int:
    result: Any = await session.execute(delete(SmppBind).where(SmppBind.heartbeat_at < before))
    return int(result.rowcount or 0)


# --- submits ----------------------------------------------------------------------------------


async def insert_submits(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await session.execute(insert(SmppSubmit), list(rows))


async def submits_for(session: AsyncSession, message_ids: Sequence[str]) -> list[SmppSubmit]:
    if not message_ids:
        return []
    stmt = select(SmppSubmit).where(SmppSubmit.message_id.in_(list(message_ids)))
    return list((await session.execute(stmt)).scalars())


# --- outbox -----------------------------------------------------------------------------------


async def insert_outbox(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await session.execute(insert(SmppOutbox), list(rows))


async def claim_outbox(
    session: AsyncSession,
    *,
    credential_ids: Sequence[str],
    owner: str,
    now: datetime,
    lease_until: datetime,
    limit: int,
) -> list[SmppOutbox]:
    """Take due rows of these credentials, oldest first, for ``owner`` until ``lease_until``.

    PostgreSQL: SKIP LOCKED lets server processes claim side by side; SQLite: one process.
    """
    if not credential_ids:
        return []
    due = (
        select(SmppOutbox.id)
        .where(
            SmppOutbox.credential_id.in_(list(credential_ids)),
            SmppOutbox.next_attempt_at <= now,
            or_(SmppOutbox.claimed_until.is_(None), SmppOutbox.claimed_until < now),
        )
        .order_by(SmppOutbox.id)
        .limit(limit)
    )
    if _is_pg(session):
        due = due.with_for_update(skip_locked=True)
    stmt = (
        update(SmppOutbox)
        .where(SmppOutbox.id.in_(due.scalar_subquery()))
        .values(claimed_by=owner, claimed_until=lease_until, attempts=SmppOutbox.attempts + 1)
        .returning(SmppOutbox)
        .execution_options(synchronize_session=False)
    )
    rows = list((await session.execute(stmt)).scalars())
    return sorted(rows, key=lambda r: r.id)


async def delete_outbox(session: AsyncSession, ids: Sequence[int]) -> None:
    if ids:
        await session.execute(delete(SmppOutbox).where(SmppOutbox.id.in_(list(ids))))


async def release_outbox(session: AsyncSession, ids: Sequence[int], *, owner: str) -> None:
    """Give claimed rows back at once (the bind went away before they were answered)."""
    if ids:
        await session.execute(
            update(SmppOutbox)
            .where(SmppOutbox.id.in_(list(ids)), SmppOutbox.claimed_by == owner)
            .values(claimed_by=None, claimed_until=None)
        )


async def defer_outbox(
    session: AsyncSession, row_id: int, *, until: datetime, status: int | None, error: str
) -> None:
    await session.execute(
        update(SmppOutbox)
        .where(SmppOutbox.id == row_id)
        .values(
            next_attempt_at=until,
            claimed_by=None,
            claimed_until=None,
            last_status=status,
            last_error=error[:500],
        )
    )


async def purge_outbox_before(session: AsyncSession, before: datetime) -> int:
    result: Any = await session.execute(delete(SmppOutbox).where(SmppOutbox.created_at < before))
    return int(result.rowcount or 0)


async def outbox_count(session: AsyncSession, credential_id: str) -> int:
    stmt = select(func.count()).where(SmppOutbox.credential_id == credential_id)
    return int((await session.execute(stmt)).scalar_one())


async def allowed_ids(session: AsyncSession, credential_ids: Sequence[str]) -> list[str]:
    """Those of the credentials that exist, are enabled and belong to an active tenant."""
    stmt = (
        select(SmppCredential.id)
        .join(Tenant, Tenant.id == SmppCredential.tenant_id)
        .where(
            SmppCredential.id.in_(list(credential_ids)),
            SmppCredential.enabled.is_(True),
            Tenant.status == "active",
        )
    )
    return list((await session.execute(stmt)).scalars())
