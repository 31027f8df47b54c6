"""All SQL of the messages domain: the outbox, its claims, parts, history and statistics."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Select, Table, and_, delete, func, insert, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from hongyan.models import (
    IdempotencyRecord,
    Message,
    MessageEvent,
    MessagePart,
    MessageStat,
    PendingReceipt,
    Suppression,
)

STAT_COUNTERS = (
    "submitted",
    "sent",
    "delivered",
    "undelivered",
    "failed",
    "expired",
    "canceled",
    "segments",
    "cost",
)


def _is_pg(session: AsyncSession) -> bool:
    bind = session.bind
    assert bind is not None
    return bind.dialect.name == "postgresql"


# Core INSERTs of the tables (not the ORM's bulk insert, which costs several times more per
# row in Python on the send path for the same executemany).
_INSERT_MESSAGE = insert(cast(Table, Message.__table__))
_INSERT_EVENT = insert(cast(Table, MessageEvent.__table__))
_INSERT_PART = insert(cast(Table, MessagePart.__table__))


async def insert_messages(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """One INSERT for many messages (executemany), in the caller's transaction."""
    if rows:
        await session.execute(_INSERT_MESSAGE, list(rows))


async def insert_events(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await session.execute(_INSERT_EVENT, list(rows))


async def insert_parts(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await session.execute(_INSERT_PART, list(rows))


async def get(
    session: AsyncSession, tenant_id: str, message_id: str, *, for_update: bool = False
) -> Message | None:
    stmt = select(Message).where(Message.id == message_id, Message.tenant_id == tenant_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_many(
    session: AsyncSession, ids: Iterable[str], *, for_update: bool = False
) -> list[Message]:
    stmt = select(Message).where(Message.id.in_(list(ids))).order_by(Message.id)
    if for_update:
        stmt = stmt.with_for_update()
    return list((await session.execute(stmt)).scalars())


async def events_of(session: AsyncSession, message_id: str) -> list[MessageEvent]:
    stmt = select(MessageEvent).where(MessageEvent.message_id == message_id)
    return list((await session.execute(stmt.order_by(MessageEvent.id))).scalars())


async def parts_of(session: AsyncSession, message_ids: Sequence[str]) -> list[MessagePart]:
    stmt = select(MessagePart).where(MessagePart.message_id.in_(list(message_ids)))
    return list(
        (await session.execute(stmt.order_by(MessagePart.message_id, MessagePart.seq))).scalars()
    )


async def list_messages(
    session: AsyncSession,
    *,
    tenant_id: str,
    limit: int,
    before_id: str | None,
    filters: dict[str, Any],
    since: datetime | None,
    until: datetime | None,
) -> list[Message]:
    stmt: Select[Message] = select(Message).where(Message.tenant_id == tenant_id)
    for column, value in filters.items():
        if value is not None:
            stmt = stmt.where(getattr(Message, column) == value)
    if before_id:
        stmt = stmt.where(Message.id < before_id)
    if since:
        stmt = stmt.where(Message.created_at >= since)
    if until:
        stmt = stmt.where(Message.created_at < until)
    return list(
        (await session.execute(stmt.order_by(Message.id.desc()).limit(limit + 1))).scalars()
    )


async def update_messages(session: AsyncSession, ids: Sequence[str], **values: Any) -> None:
    if ids:
        await session.execute(update(Message).where(Message.id.in_(list(ids))).values(**values))


async def claim_due(
    session: AsyncSession,
    *,
    now: datetime,
    limit: int,
    owner: str,
    lease_until: datetime,
    pinned_to: Sequence[str] = (),
) -> list[Message]:
    """Take up to ``limit`` due queued messages, verification first, with a lease.

    Messages pinned to a connector in ``pinned_to`` (this worker owns its binds) come first,
    then unpinned ones; messages pinned to other connectors are left to their owners. Each
    is one ordered range of the claim index (an equality on the pin), whatever the depth.

    PostgreSQL: SKIP LOCKED lets many workers claim side by side without waiting on each other.
    SQLite: one process, one writer; the UPDATE itself is the claim.
    """
    claimed: list[Message] = []
    for pin in [*pinned_to, ""]:
        if len(claimed) >= limit:
            break
        claimed += await _claim_pinned(
            session,
            pin=pin,
            now=now,
            limit=limit - len(claimed),
            owner=owner,
            lease_until=lease_until,
        )
    return claimed


async def _claim_pinned(
    session: AsyncSession, *, pin: str, now: datetime, limit: int, owner: str, lease_until: datetime
) -> list[Message]:
    due = (
        select(Message.id)
        .where(
            Message.status == "queued",
            Message.pinned_connector_id == pin,
            Message.due_at <= now,
        )
        .order_by(Message.priority, Message.due_at)
        .limit(limit)
    )
    if _is_pg(session):
        due = due.with_for_update(skip_locked=True)
    stmt = (
        update(Message)
        .where(Message.id.in_(due.scalar_subquery()))
        .values(
            status="sending",
            lease_owner=owner,
            lease_until=lease_until,
            attempts=Message.attempts + 1,
            updated_at=now,
        )
        .returning(Message)
        .execution_options(synchronize_session=False)
    )
    return list((await session.execute(stmt)).scalars())


async def hand_over(session: AsyncSession, ids: Sequence[str], *, connector_id: str) -> None:
    """Pin claimed messages to a connector another worker owns; the claim's attempt is undone."""
    if ids:
        await session.execute(
            update(Message)
            .where(Message.id.in_(list(ids)))
            .values(pinned_connector_id=connector_id, attempts=Message.attempts - 1)
            .execution_options(synchronize_session=False)
        )


async def unpin(session: AsyncSession, connector_id: str) -> int:
    """Free the queued messages pinned to a connector nobody owns, for any worker to route."""
    result: Any = await session.execute(
        update(Message)
        .where(Message.status == "queued", Message.pinned_connector_id == connector_id)
        .values(pinned_connector_id="")
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)


async def expired_leases(session: AsyncSession, *, now: datetime, limit: int) -> list[Message]:
    """Messages whose worker stopped renewing its lease (it died mid-batch)."""
    stmt = (
        select(Message)
        .where(Message.status == "sending", Message.lease_until < now)
        .order_by(Message.lease_until)
        .limit(limit)
    )
    if _is_pg(session):
        stmt = stmt.with_for_update(skip_locked=True)
    return list((await session.execute(stmt)).scalars())


async def due_scheduled(session: AsyncSession, *, now: datetime, limit: int) -> list[str]:
    stmt = (
        select(Message.id)
        .where(Message.status == "scheduled", Message.due_at <= now)
        .order_by(Message.due_at)
        .limit(limit)
    )
    if _is_pg(session):
        stmt = stmt.with_for_update(skip_locked=True)
    return list((await session.execute(stmt)).scalars())


async def parts_by_upstream(
    session: AsyncSession, keys: Sequence[tuple[str, str]]
) -> list[MessagePart]:
    """Parts for (connector_id, upstream_id) pairs, in one query."""
    if not keys:
        return []
    stmt = select(MessagePart).where(
        tuple_(MessagePart.connector_id, MessagePart.upstream_id).in_(list(keys))
    )
    return list((await session.execute(stmt)).scalars())


async def update_part(session: AsyncSession, part: MessagePart, **values: Any) -> None:
    await session.execute(
        update(MessagePart)
        .where(MessagePart.message_id == part.message_id, MessagePart.seq == part.seq)
        .values(**values)
    )


async def add_pending_receipts(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await session.execute(insert(PendingReceipt), list(rows))


async def pending_for(
    session: AsyncSession, keys: Sequence[tuple[str, str]]
) -> list[PendingReceipt]:
    if not keys:
        return []
    stmt = select(PendingReceipt).where(
        tuple_(PendingReceipt.connector_id, PendingReceipt.upstream_id).in_(list(keys))
    )
    return list((await session.execute(stmt.order_by(PendingReceipt.id))).scalars())


async def pending_matchable(session: AsyncSession, *, limit: int) -> list[PendingReceipt]:
    """Held receipts whose part now exists."""
    stmt = (
        select(PendingReceipt)
        .join(
            MessagePart,
            and_(
                MessagePart.connector_id == PendingReceipt.connector_id,
                MessagePart.upstream_id == PendingReceipt.upstream_id,
            ),
        )
        .order_by(PendingReceipt.id)
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars())


async def delete_pending(session: AsyncSession, ids: Sequence[int]) -> None:
    if ids:
        await session.execute(delete(PendingReceipt).where(PendingReceipt.id.in_(list(ids))))


async def purge_pending_before(session: AsyncSession, before: datetime) -> int:
    result: Any = await session.execute(
        delete(PendingReceipt).where(PendingReceipt.received_at < before)
    )
    return int(result.rowcount or 0)


async def awaiting_receipts(
    session: AsyncSession,
    *,
    connector_id: str,
    sent_from: datetime,
    sent_until: datetime,
    after: tuple[str, int] | None = None,
    limit: int = 100,
) -> list[tuple[MessagePart, str, datetime]]:
    """Parts a connector accepted in [sent_from, sent_until) that have no final receipt yet.

    For vendors whose receipts are also polled: (part, the message's msisdn, its sent_at), in
    (message_id, seq) order after ``after``. Only messages still ``sent`` are looked at (the
    status index's prefix), so the scan covers what awaits receipts, not the whole history.
    """
    stmt = (
        select(MessagePart, Message.msisdn, Message.sent_at)
        .join(Message, Message.id == MessagePart.message_id)
        .where(
            Message.status == "sent",
            Message.connector_id == connector_id,
            Message.sent_at >= sent_from,
            Message.sent_at < sent_until,
            MessagePart.connector_id == connector_id,
            MessagePart.status.not_in(
                ("delivered", "undelivered", "expired", "rejected", "unknown")
            ),
        )
        .order_by(MessagePart.message_id, MessagePart.seq)
        .limit(limit)
    )
    if after is not None:
        stmt = stmt.where(tuple_(MessagePart.message_id, MessagePart.seq) > tuple_(*after))
    rows = (await session.execute(stmt)).all()
    return [(part, msisdn, at) for part, msisdn, at in rows if at is not None]


async def suppressed_among(
    session: AsyncSession, tenant_id: str, msisdns: Sequence[str]
) -> set[str]:
    if not msisdns:
        return set()
    stmt = select(Suppression.msisdn).where(
        Suppression.tenant_id == tenant_id, Suppression.msisdn.in_(list(set(msisdns)))
    )
    return set((await session.execute(stmt)).scalars())


async def bump_stats(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Add counters into message_stat (insert or add), one statement per batch."""
    if not rows:
        return
    # Rows in key order: transactions of several processes bump the same counter rows, and
    # row locks taken in one order everywhere cannot deadlock.
    ordered = sorted(rows, key=lambda row: tuple(row[k] for k in _STAT_KEY))
    await session.execute(_BUMP_STATS[_is_pg(session)], ordered)


_STAT_KEY = [c.name for c in MessageStat.__mapper__.primary_key]


def _bump_stats_statement(dialect_insert: Any) -> Any:
    """INSERT ... ON CONFLICT (key) DO UPDATE SET counter = counter + excluded.counter."""
    stmt = dialect_insert(MessageStat.__table__)
    table = MessageStat.__table__
    return stmt.on_conflict_do_update(
        index_elements=_STAT_KEY,
        set_={
            name: getattr(table.c, name) + getattr(stmt.excluded, name) for name in STAT_COUNTERS
        },
    )


# Built once per backend: building it cost more than running it, on every send.
_BUMP_STATS = {
    False: _bump_stats_statement(sqlite.insert),
    True: _bump_stats_statement(postgresql.insert),
}


async def stats(
    session: AsyncSession,
    *,
    tenant_id: str,
    group_by: str,
    day_from: str,
    day_to: str,
    filters: dict[str, str | None],
) -> list[dict[str, Any]]:
    key = getattr(MessageStat, group_by)
    sums = [func.sum(getattr(MessageStat, name)).label(name) for name in STAT_COUNTERS]
    stmt = select(key.label("key"), *sums).where(
        MessageStat.tenant_id == tenant_id, MessageStat.day >= day_from, MessageStat.day <= day_to
    )
    for column, value in filters.items():
        if value is not None:
            stmt = stmt.where(getattr(MessageStat, column) == value)
    rows = await session.execute(stmt.group_by(key).order_by(key))
    return [dict(row._mapping) for row in rows]


async def get_idempotency(
    session: AsyncSession, tenant_id: str, key: str
) -> IdempotencyRecord | None:
    stmt = select(IdempotencyRecord).where(
        IdempotencyRecord.tenant_id == tenant_id, IdempotencyRecord.key == key
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def insert_idempotency(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Stored first answers; a key stored already raises IntegrityError (the caller replays)."""
    if rows:
        await session.execute(insert(IdempotencyRecord), list(rows))


async def purge_idempotency_before(session: AsyncSession, before: datetime) -> int:
    result: Any = await session.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.created_at < before)
    )
    return int(result.rowcount or 0)
