"""The outbox's worker jobs, added to JOBS: release scheduled, dispatch, reclaim, gauges."""

from __future__ import annotations

from hongyan.api.context import AppContext
from hongyan.models import utcnow
from hongyan.worker import dispatcher, leases, metrics, scheduler
from hongyan.worker import repository as repo
from hongyan.worker.jobs import JOBS, Job


async def refresh_queue_gauges(ctx: AppContext) -> int:
    """Set the queue depth and oldest-due-age gauges (two index range counts)."""
    now = utcnow()
    async with ctx.db.session() as session:
        state = await repo.queue_state(session, now=now)
    metrics.QUEUE_DEPTH.set(state.due)
    oldest = (now - state.oldest_due_at).total_seconds() if state.oldest_due_at else 0.0
    metrics.QUEUE_OLDEST_DUE.set(max(oldest, 0.0))
    metrics.IN_FLIGHT.set(state.sending)
    metrics.SCHEDULED.set(state.scheduled)
    return 0


# In this order, so messages released or taken over in a turn are dispatched in the same turn
# (by priority). wake=True: also run as soon as the worker is woken (a message was accepted).
OUTBOX_JOBS = [
    Job("release_scheduled", 1.0, scheduler.release_scheduled, wake=True),
    Job("reclaim_leases", 2.0, leases.reclaim_leases),
    Job("dispatch", 0.5, dispatcher.dispatch, wake=True),
    Job("queue_gauges", 10.0, refresh_queue_gauges),
]
JOBS.extend(OUTBOX_JOBS)
