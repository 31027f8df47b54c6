"""SQL of the receipts domain that the messages repository does not already have.

Parts are read as plain rows, not ORM objects: receipts change them with one executemany per
batch, and a row read after the message lock must be the committed one, never an object the
session remembered from before the lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from hongyan.models import Message, MessagePart, PendingReceipt

PART_COLUMNS = (
    MessagePart.message_id,
    MessagePart.seq,
    MessagePart.connector_id,
    MessagePart.upstream_id,
    MessagePart.status,
    MessagePart.error_code,
    MessagePart.raw_code,
    MessagePart.done_at,
)


async def lock_messages_of(session: AsyncSession, keys: Sequence[tuple[str, str]]) -> list[Message]:
    """The messages owning parts with these (connector_id, upstream_id), locked, in one query.

    Locked with ``FOR UPDATE`` on PostgreSQL, in id order so two batches never deadlock.
    ``populate_existing``: an object the session already holds is refreshed from the row read
    under the lock, so a change committed by another process while we waited is seen.
    """
    if not keys:
        return []
    owners = select(MessagePart.message_id).where(
        tuple_(MessagePart.connector_id, MessagePart.upstream_id).in_(list(keys))
    )
    if session.get_bind().dialect.name == "sqlite":
        # SQLite has no FOR UPDATE, and its driver starts the transaction only at the first
        # write: reads before it see whatever is committed at that moment, so two tasks could
        # each read the other's part as not yet final. Writing the rows first takes the
        # database's one write lock; other writers wait until we commit, and what we read
        # from here on is the latest committed state.
        await session.execute(
            update(Message)
            .where(Message.id.in_(owners))
            .values(parts_done=Message.parts_done, updated_at=Message.updated_at)
            .execution_options(synchronize_session=False)
        )
    stmt = (
        select(Message)
        .where(Message.id.in_(owners))
        .order_by(Message.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return list((await session.execute(stmt)).scalars())


async def part_rows(session: AsyncSession, message_ids: Sequence[str]) -> Sequence[Any]:
    """Every part of these messages as rows, by message and sequence."""
    if not message_ids:
        return []
    stmt = (
        select(*PART_COLUMNS)
        .where(MessagePart.message_id.in_(list(message_ids)))
        .order_by(MessagePart.message_id, MessagePart.seq)
    )
    return (await session.execute(stmt)).all()


async def update_parts(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Set status, codes and done_at of many parts: one executemany."""
    if not rows:
        return
    stmt = (
        update(MessagePart)
        .where(
            MessagePart.message_id == bindparam("b_message_id"),
            MessagePart.seq == bindparam("b_seq"),
        )
        .values(
            status=bindparam("b_status"),
            error_code=bindparam("b_error_code"),
            raw_code=bindparam("b_raw_code"),
            done_at=bindparam("b_done_at"),
        )
        .execution_options(synchronize_session=False)
    )
    conn = await session.connection()
    await conn.execute(stmt, [{f"b_{k}": v for k, v in row.items()} for row in rows])


async def any_held(session: AsyncSession) -> bool:
    """Whether any receipt is held at all (one index probe)."""
    stmt = select(PendingReceipt.id).limit(1)
    return (await session.execute(stmt)).first() is not None


async def pending_summary(session: AsyncSession) -> tuple[int, datetime | None]:
    """(how many receipts are held, when the oldest arrived)."""
    stmt = select(func.count(PendingReceipt.id), func.min(PendingReceipt.received_at))
    count, oldest = (await session.execute(stmt)).one()
    return int(count or 0), oldest
