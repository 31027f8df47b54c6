"""Scheduled messages become queued when their ``send_at`` (kept in ``due_at``) comes."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import datetime

from hongyan.api.context import AppContext
from hongyan.messages import repository as messages_repo
from hongyan.messages import transitions
from hongyan.messages.transitions import Change
from hongyan.models import utcnow
from hongyan.worker import wakeup


async def release_scheduled(ctx: AppContext, *, now: datetime | None = None) -> int:
    """Queue every scheduled message that is due, a batch per transaction."""
    return await drain(ctx, lambda: release_scheduled_once(ctx, now=now))


async def release_scheduled_once(ctx: AppContext, *, now: datetime | None = None) -> int:
    """Queue up to one batch of due scheduled messages; return how many."""
    now = now or utcnow()
    async with ctx.db.session() as session:
        # Locked (SKIP LOCKED on PostgreSQL) until commit, so a cancel waits for us or wins.
        ids = await messages_repo.due_scheduled(
            session, now=now, limit=ctx.settings.dispatch_batch_size
        )
        messages = await messages_repo.get_many(session, ids)
        # Detached: transitions update the rows in bulk; tracked objects would be flushed too.
        session.expunge_all()
        changes = [Change(m, "queued", detail="scheduled time reached") for m in messages]
        await transitions.apply(session, ctx=ctx, changes=changes)
    if changes:
        wakeup.wake_local(ctx)
    return len(changes)


async def drain(ctx: AppContext, step: Callable[[], Awaitable[int]]) -> int:
    """Run ``step`` while it returns full batches, within the dispatch time slice."""
    deadline = time.monotonic() + ctx.settings.dispatch_time_slice_secs
    total = 0
    while True:
        done = await step()
        total += done
        if done < ctx.settings.dispatch_batch_size or time.monotonic() >= deadline:
            return total
