"""The dispatcher's own SQL: fencing its claims, renewing leases, queue gauges, wake-ups.

The claim itself and the other outbox queries are the messages domain's
(``hongyan.messages.repository``: claim_due, expired_leases, due_scheduled).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from hongyan.models import Message

# The channel accepted messages are announced on (PostgreSQL LISTEN/NOTIFY).
DUE_CHANNEL = "hongyan_due"


def _is_pg(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


async def still_claimed(session: AsyncSession, *, claims: dict[str, int], owner: str) -> set[str]:
    """Of the claimed ids (id -> attempts at claim), those this owner still holds, locked.

    The lease owner and the attempt number together fence a claim: a message whose lease
    expired and was taken over (requeued, failed, or claimed again) no longer matches both.
    """
    if not claims:
        return set()
    stmt = (
        select(Message.id, Message.attempts)
        .where(
            Message.id.in_(list(claims)),
            Message.status == "sending",
            Message.lease_owner == owner,
        )
        .order_by(Message.id)  # one lock order for every worker: no deadlocks
    )
    if _is_pg(session):
        stmt = stmt.with_for_update()
    rows = (await session.execute(stmt)).all()
    return {row.id for row in rows if claims.get(row.id) == row.attempts}


async def renew_leases(
    session: AsyncSession, *, ids: Sequence[str], owner: str, lease_until: datetime
) -> int:
    """Push the lease of messages this owner is still sending further out."""
    if not ids:
        return 0
    result: Any = await session.execute(
        update(Message)
        .where(
            Message.id.in_(list(ids)),
            Message.status == "sending",
            Message.lease_owner == owner,
        )
        .values(lease_until=lease_until)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)


@dataclass(frozen=True, slots=True)
class QueueState:
    """What the queue gauges show."""

    due: int  # queued and due now
    oldest_due_at: datetime | None
    sending: int  # claimed, in flight
    scheduled: int


async def queue_state(session: AsyncSession, *, now: datetime) -> QueueState:
    """Counts for the gauges; each reads only the (status, ...) index range it needs."""
    due = (
        await session.execute(
            select(func.count(), func.min(Message.due_at)).where(
                Message.status == "queued", Message.due_at <= now
            )
        )
    ).one()
    others = dict(
        (
            await session.execute(
                select(Message.status, func.count())
                .where(Message.status.in_(("sending", "scheduled")))
                .group_by(Message.status)
            )
        ).all()
    )
    return QueueState(
        due=int(due[0]),
        oldest_due_at=due[1],
        sending=int(others.get("sending", 0)),
        scheduled=int(others.get("scheduled", 0)),
    )


async def notify_due(session: AsyncSession) -> None:
    """Announce due messages to listening workers; delivered when the transaction commits."""
    if _is_pg(session):
        await session.execute(text(f"NOTIFY {DUE_CHANNEL}"))
