"""All SQL of the webhooks domain."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, func, insert, literal_column, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnClause

from hongyan.models import WebhookCallbackSecret, WebhookDelivery, WebhookEndpoint

# A literal, not a bound parameter: PostgreSQL uses the partial index on pending rows only when
# the query's predicate is visibly the index's own.
_PENDING: ColumnClause[str] = literal_column("'pending'")
_DELIVERIES = cast(Table, WebhookDelivery.__table__)
_ENDPOINTS = cast(Table, WebhookEndpoint.__table__)


async def add(session: AsyncSession, row: WebhookEndpoint | WebhookCallbackSecret) -> None:
    session.add(row)
    await session.flush()


# --- endpoints --------------------------------------------------------------------------------


async def get_endpoint(session: AsyncSession, endpoint_id: str) -> WebhookEndpoint | None:
    stmt = select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def count_endpoints(session: AsyncSession, tenant_id: str) -> int:
    stmt = select(func.count()).where(WebhookEndpoint.tenant_id == tenant_id)
    return int((await session.execute(stmt)).scalar_one())


async def list_endpoints(
    session: AsyncSession, *, tenant_id: str, limit: int, before_id: str | None
) -> list[WebhookEndpoint]:
    stmt = (
        select(WebhookEndpoint)
        .where(WebhookEndpoint.tenant_id == tenant_id)
        .order_by(WebhookEndpoint.id.desc())
        .limit(limit + 1)
    )
    if before_id:
        stmt = stmt.where(WebhookEndpoint.id < before_id)
    return list((await session.execute(stmt)).scalars())


async def delete_endpoint(session: AsyncSession, endpoint_id: str) -> None:
    """Remove an endpoint and its delivery log (pending deliveries included)."""
    await session.execute(delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id))
    await session.execute(delete(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id))


async def kill_pending(session: AsyncSession, endpoint_id: str, *, error: str) -> None:
    """Dead-letter the pending deliveries of an endpoint (it was disabled); replay revives them."""
    await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.status == _PENDING)
        .values(status="dead", next_attempt_at=None, lease_token=None, last_error=error)
        .execution_options(synchronize_session=False)
    )


async def subscriptions(
    session: AsyncSession, tenant_ids: Sequence[str]
) -> list[tuple[str, str, str, list[str]]]:
    """(tenant_id, endpoint_id, url, events) of every enabled endpoint of these tenants."""
    stmt = select(
        WebhookEndpoint.tenant_id, WebhookEndpoint.id, WebhookEndpoint.url, WebhookEndpoint.events
    ).where(WebhookEndpoint.tenant_id.in_(tenant_ids), WebhookEndpoint.enabled.is_(True))
    return [(r[0], r[1], r[2], list(r[3])) for r in await session.execute(stmt)]


async def endpoints_by_ids(
    session: AsyncSession, endpoint_ids: Sequence[str]
) -> list[WebhookEndpoint]:
    if not endpoint_ids:
        return []
    stmt = select(WebhookEndpoint).where(WebhookEndpoint.id.in_(endpoint_ids))
    return list((await session.execute(stmt)).scalars())


async def set_endpoint_health(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Per endpoint: ``{"b_id", "v_failures", "v_paused_until"}``, in one statement."""
    if not rows:
        return
    table = _ENDPOINTS
    stmt = (
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values(
            consecutive_failures=bindparam("v_failures"),
            paused_until=bindparam("v_paused_until", type_=table.c.paused_until.type),
        )
    )
    await session.execute(stmt, list(rows))


# --- the callback secret ----------------------------------------------------------------------


async def get_callback_secret(
    session: AsyncSession, tenant_id: str, *, for_update: bool = False
) -> WebhookCallbackSecret | None:
    stmt = select(WebhookCallbackSecret).where(WebhookCallbackSecret.tenant_id == tenant_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def callback_secrets(
    session: AsyncSession, tenant_ids: Sequence[str]
) -> list[WebhookCallbackSecret]:
    if not tenant_ids:
        return []
    stmt = select(WebhookCallbackSecret).where(WebhookCallbackSecret.tenant_id.in_(tenant_ids))
    return list((await session.execute(stmt)).scalars())


async def insert_callback_secrets(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Insert secrets for tenants that have none; a tenant given one meanwhile keeps its own."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    maker = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = maker(WebhookCallbackSecret).values(list(rows)).on_conflict_do_nothing()
    await session.execute(stmt)


# --- deliveries -------------------------------------------------------------------------------


async def insert_deliveries(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Insert many deliveries in one statement."""
    if rows:
        await session.execute(insert(WebhookDelivery), list(rows))


async def claim_due(
    session: AsyncSession, *, now: datetime, limit: int, lease_until: datetime, token: str
) -> list[WebhookDelivery]:
    """Lease up to ``limit`` due deliveries of endpoints that are not paused, oldest due first.

    On PostgreSQL ``FOR UPDATE SKIP LOCKED`` lets concurrent workers take disjoint batches; the
    lease (next_attempt_at moved to ``lease_until``) hands a dead worker's rows to another.
    SQLite has one process, and the single statement runs under its one writer lock.
    """
    due = (
        select(WebhookDelivery.id)
        .outerjoin(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(
            WebhookDelivery.status == _PENDING,
            WebhookDelivery.next_attempt_at <= now,
            or_(WebhookEndpoint.paused_until.is_(None), WebhookEndpoint.paused_until <= now),
        )
        .order_by(WebhookDelivery.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True, of=WebhookDelivery)
    )
    stmt = (
        update(WebhookDelivery)
        .where(WebhookDelivery.id.in_(due))
        .values(lease_token=token, next_attempt_at=lease_until)
        .returning(WebhookDelivery)
        .execution_options(synchronize_session=False)
    )
    return list((await session.execute(stmt)).scalars())


async def record_outcomes(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Write attempt results in one statement; rows whose lease was lost are left alone.

    Each row: ``b_id``, ``b_token`` and the ``v_*`` values below.
    """
    if not rows:
        return
    c = _DELIVERIES.c
    stmt = (
        update(_DELIVERIES)
        .where(c.id == bindparam("b_id"), c.lease_token == bindparam("b_token"))
        .values(
            status=bindparam("v_status"),
            attempts=bindparam("v_attempts"),
            url=bindparam("v_url"),
            next_attempt_at=bindparam("v_next", type_=c.next_attempt_at.type),
            first_attempt_at=bindparam("v_first", type_=c.first_attempt_at.type),
            last_attempt_at=bindparam("v_last", type_=c.last_attempt_at.type),
            last_status_code=bindparam("v_code", type_=c.last_status_code.type),
            last_error=bindparam("v_error", type_=c.last_error.type),
            delivered_at=bindparam("v_delivered", type_=c.delivered_at.type),
            lease_token=None,
        )
    )
    await session.execute(stmt, list(rows))


async def delete_deliveries(session: AsyncSession, delivery_ids: Sequence[str]) -> None:
    if delivery_ids:
        await session.execute(
            delete(WebhookDelivery)
            .where(WebhookDelivery.id.in_(delivery_ids))
            .execution_options(synchronize_session=False)
        )


async def get_delivery(
    session: AsyncSession, delivery_id: str, *, for_update: bool = False
) -> WebhookDelivery | None:
    stmt = select(WebhookDelivery).where(WebhookDelivery.id == delivery_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def list_deliveries(
    session: AsyncSession,
    *,
    tenant_id: str | None,
    endpoint_id: str | None,
    callbacks_only: bool,
    status: str | None,
    event_id: str | None,
    limit: int,
    before_id: str | None,
) -> list[WebhookDelivery]:
    """Deliveries newest first; tenant_id None (the operator's CLI) means any tenant."""
    stmt = select(WebhookDelivery).order_by(WebhookDelivery.id.desc()).limit(limit + 1)
    if tenant_id is not None:
        stmt = stmt.where(WebhookDelivery.tenant_id == tenant_id)
    if endpoint_id is not None:
        stmt = stmt.where(WebhookDelivery.endpoint_id == endpoint_id)
    if callbacks_only:
        stmt = stmt.where(WebhookDelivery.endpoint_id.is_(None))
    if status is not None:
        stmt = stmt.where(WebhookDelivery.status == status)
    if event_id is not None:
        stmt = stmt.where(WebhookDelivery.event_id == event_id)
    if before_id:
        stmt = stmt.where(WebhookDelivery.id < before_id)
    return list((await session.execute(stmt)).scalars())


async def purge_deliveries(session: AsyncSession, *, before: datetime, limit: int) -> int:
    """Delete up to ``limit`` finished deliveries created before ``before``; how many went."""
    old = (
        select(WebhookDelivery.id)
        .where(WebhookDelivery.created_at < before, WebhookDelivery.status != _PENDING)
        .order_by(WebhookDelivery.id)
        .limit(limit)
    )
    result: Any = await session.execute(
        delete(WebhookDelivery)
        .where(WebhookDelivery.id.in_(old.scalar_subquery()))
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)
