"""All SQL of the inbound domain: inbound messages, the last conversation, suppressions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import String, delete, func, insert, literal, select, true, tuple_, union_all
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from hongyan.models import InboundMessage, Message, Suppression, Tenant


def _dialect_insert(session: AsyncSession) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


async def insert_inbound(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> set[str]:
    """Insert inbound messages; return the ids stored (a connector's resend is skipped)."""
    if not rows:
        return set()
    stmt = (
        _dialect_insert(session)(InboundMessage)
        .values(list(rows))
        .on_conflict_do_nothing(index_elements=["connector_id", "upstream_id"])
        .returning(InboundMessage.id)
    )
    return set((await session.execute(stmt)).scalars())


async def last_outbound(
    session: AsyncSession, msisdns: Sequence[str]
) -> dict[str, tuple[str, str]]:
    """msisdn -> (tenant_id, message_id) of the newest outbound message to it, in one query.

    The message table is indexed by (tenant_id, msisdn, id), not by msisdn alone, so the query
    probes that index once per (tenant, number): the newest id there is one index step. Ids are
    time-ordered, so the largest over all tenants is the last conversation.
    """
    wanted = sorted(set(msisdns))
    if not wanted:
        return {}
    numbers = union_all(*(select(literal(m, String()).label("msisdn")) for m in wanted)).subquery()
    newest = (
        select(func.max(Message.id))
        .where(Message.tenant_id == Tenant.id, Message.msisdn == numbers.c.msisdn)
        .scalar_subquery()
    )
    stmt = select(numbers.c.msisdn, Tenant.id, newest).select_from(numbers).join(Tenant, true())
    found: dict[str, tuple[str, str]] = {}
    for msisdn, tenant_id, message_id in await session.execute(stmt):
        if message_id is not None and (msisdn not in found or message_id > found[msisdn][1]):
            found[msisdn] = (tenant_id, message_id)
    return found


async def get_inbound(
    session: AsyncSession, tenant_id: str | None, id_: str
) -> InboundMessage | None:
    stmt = select(InboundMessage).where(InboundMessage.id == id_)
    if tenant_id is not None:
        stmt = stmt.where(InboundMessage.tenant_id == tenant_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def list_inbound(
    session: AsyncSession,
    *,
    tenant_id: str | None,
    unmatched: bool = False,
    limit: int,
    before_id: str | None,
    msisdn: str | None = None,
    opt_action: str | None = None,
) -> list[InboundMessage]:
    """Newest first, limit+1 rows (the extra one says there is a next page)."""
    stmt = select(InboundMessage)
    if tenant_id is not None:
        stmt = stmt.where(InboundMessage.tenant_id == tenant_id)
    elif unmatched:
        stmt = stmt.where(InboundMessage.tenant_id.is_(None))
    if msisdn is not None:
        stmt = stmt.where(InboundMessage.msisdn == msisdn)
    if opt_action is not None:
        stmt = stmt.where(InboundMessage.opt_action == opt_action)
    if before_id:
        stmt = stmt.where(InboundMessage.id < before_id)
    stmt = stmt.order_by(InboundMessage.id.desc()).limit(limit + 1)
    return list((await session.execute(stmt)).scalars())


async def add_suppressions(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> int:
    """Insert suppressions; a number already suppressed keeps its row. How many were new."""
    if not rows:
        return 0
    stmt = (
        _dialect_insert(session)(Suppression)
        .values(list(rows))
        .on_conflict_do_nothing(index_elements=["tenant_id", "msisdn"])
        .returning(Suppression.msisdn)
    )
    return len((await session.execute(stmt)).all())


async def remove_opt_outs(session: AsyncSession, tenant_id: str, msisdns: Sequence[str]) -> int:
    """Delete the tenant's opt_out suppressions of these numbers (others stay)."""
    if not msisdns:
        return 0
    result: Any = await session.execute(
        delete(Suppression).where(
            Suppression.tenant_id == tenant_id,
            Suppression.msisdn.in_(list(set(msisdns))),
            Suppression.source == "opt_out",
        )
    )
    return int(result.rowcount or 0)


async def get_suppression(session: AsyncSession, tenant_id: str, msisdn: str) -> Suppression | None:
    stmt = select(Suppression).where(
        Suppression.tenant_id == tenant_id, Suppression.msisdn == msisdn
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def insert_suppression(session: AsyncSession, row: dict[str, Any]) -> None:
    await session.execute(insert(Suppression).values(**row))


async def delete_suppression(session: AsyncSession, tenant_id: str, msisdn: str) -> bool:
    result: Any = await session.execute(
        delete(Suppression).where(Suppression.tenant_id == tenant_id, Suppression.msisdn == msisdn)
    )
    return bool(result.rowcount)


async def list_suppressions(
    session: AsyncSession,
    *,
    tenant_id: str,
    limit: int,
    after: tuple[datetime, str] | None,
    source: str | None,
) -> list[Suppression]:
    """Newest first by (created_at, msisdn); ``after`` is the last row of the previous page."""
    stmt = select(Suppression).where(Suppression.tenant_id == tenant_id)
    if source is not None:
        stmt = stmt.where(Suppression.source == source)
    if after is not None:
        stmt = stmt.where(tuple_(Suppression.created_at, Suppression.msisdn) < after)
    stmt = stmt.order_by(Suppression.created_at.desc(), Suppression.msisdn.desc())
    return list((await session.execute(stmt.limit(limit + 1))).scalars())
