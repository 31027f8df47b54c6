"""Leases on claimed messages: kept alive while a batch is in flight, taken over when not.

A claim (status ``sending``) carries ``lease_owner`` and ``lease_until``. The worker renews the
lease while its batch is with the connectors; a worker that dies stops renewing, and once the
lease has run out ``reclaim_leases`` decides what becomes of its messages. Nobody knows whether
the dead worker handed them to the carrier, so the message kind decides (DESIGN.md, "Message
lifecycle"):

- verification and notification: back to ``queued`` and sent again — at least once; a code
  or a notice that arrives twice beats one that never arrives;
- marketing: ``failed`` with ``SUBMIT_OUTCOME_UNKNOWN`` and refunded — at most once; a
  duplicate advert costs the tenant's reputation more than a missing one.

Nothing else is ever sent twice: a live worker records its outcomes only for claims it still
holds (owner and attempt number match, see ``repository.still_claimed``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from datetime import datetime, timedelta

import structlog

from hongyan.api.context import AppContext
from hongyan.messages import repository as messages_repo
from hongyan.messages import transitions
from hongyan.messages.transitions import Change
from hongyan.models import Message, utcnow
from hongyan.worker import metrics, scheduler, wakeup
from hongyan.worker import repository as repo

log = structlog.get_logger("hongyan.worker.leases")

# Kinds resent after an unknown outcome (at least once); every other kind is failed instead.
RESEND_KINDS = frozenset({"verification", "notification"})


@asynccontextmanager
async def kept(ctx: AppContext, *, ids: Sequence[str], owner: str) -> AsyncIterator[None]:
    """Renew the lease on ``ids`` every third of the lease for as long as the block runs."""
    stop = asyncio.Event()
    renewer = asyncio.ensure_future(_renew_until(ctx, stop, ids=ids, owner=owner))
    try:
        yield
    finally:
        # Stopped by an event, not cancelled: a renewal in the middle of its transaction
        # finishes cleanly instead of leaving a connection half used.
        stop.set()
        await renewer


async def _renew_until(
    ctx: AppContext, stop: asyncio.Event, *, ids: Sequence[str], owner: str
) -> None:
    lease = ctx.settings.dispatch_lease_secs
    while not stop.is_set():
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=lease / 3)
            return
        try:
            async with ctx.db.session() as session:
                renewed = await repo.renew_leases(
                    session, ids=ids, owner=owner, lease_until=utcnow() + timedelta(seconds=lease)
                )
            log.debug("leases renewed", owner=owner, count=renewed)
        except Exception:
            # Keep going: a later renewal may still make it before the lease runs out, and a
            # lost lease only means the outcomes of this batch are not recorded by us.
            log.exception("lease renewal failed", owner=owner)


async def reclaim_leases(ctx: AppContext, *, now: datetime | None = None) -> int:
    """Take over messages whose worker stopped renewing its lease (it died mid-batch)."""
    return await scheduler.drain(ctx, lambda: reclaim_leases_once(ctx, now=now))


async def reclaim_leases_once(ctx: AppContext, *, now: datetime | None = None) -> int:
    """Take over up to one batch of messages with an expired lease; return how many."""
    now = now or utcnow()
    async with ctx.db.session() as session:
        expired = await messages_repo.expired_leases(
            session, now=now, limit=ctx.settings.dispatch_batch_size
        )
        # Detached: transitions update the rows in bulk; tracked objects would be flushed too.
        session.expunge_all()
        changes = [_takeover(m, max_attempts=ctx.settings.dispatch_max_attempts) for m in expired]
        await transitions.apply(session, ctx=ctx, changes=changes)
    if not changes:
        return 0
    resent = sum(1 for c in changes if c.status == "queued")
    metrics.LEASES_EXPIRED.labels("resent").inc(resent)
    metrics.LEASES_EXPIRED.labels("failed").inc(len(changes) - resent)
    log.warning("expired leases taken over", resent=resent, failed=len(changes) - resent)
    if resent:
        wakeup.wake_local(ctx)
    return len(changes)


def _takeover(message: Message, *, max_attempts: int) -> Change:
    owner = message.lease_owner or "?"
    if message.kind in RESEND_KINDS and message.attempts < max_attempts:
        # Its due_at is unchanged (already past), so it goes to the front of its priority.
        return Change(
            message,
            "queued",
            detail=f"at-least-once resend after lease expiry: worker {owner} stopped before "
            "recording whether the message was handed over",
        )
    why = (
        "at-most-once: not resent"
        if message.kind not in RESEND_KINDS
        else f"attempt {message.attempts} of {max_attempts}: not resent again"
    )
    return Change(
        message,
        "failed",
        code="SUBMIT_OUTCOME_UNKNOWN",
        detail=f"lease expired: worker {owner} stopped before recording whether the message "
        f"was handed over; {why}",
    )
