"""Worker jobs of the webhooks domain: delivering events, and forgetting old deliveries.

The delivery job never makes the worker loop wait on the network: each turn it only starts a
batch in the background (up to ``MAX_BATCHES`` at once, so one batch stuck on a slow endpoint
does not hold back the next) and reports what finished batches did. The dispatcher and the
other jobs of the loop keep their pace whatever the tenants' endpoints do.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import timedelta

import structlog

from hongyan.api.context import AppContext
from hongyan.models import utcnow
from hongyan.webhooks import delivery
from hongyan.webhooks import repository as repo
from hongyan.worker.jobs import JOBS, Job

log = structlog.get_logger("hongyan.webhooks")

RUNNER_KEY = "webhooks.runner"
MAX_BATCHES = 4  # batches in flight at once per process
MIN_GAP_SECS = 0.1
PURGE_CHUNK = 5_000  # rows deleted per statement, so no transaction grows large


@dataclass
class _Runner:
    tasks: set[asyncio.Task[int]] = field(default_factory=set)
    done: int = 0  # deliveries handled by batches that finished since the last report
    started_at: float = 0.0  # time.monotonic() when the last drain started


async def drain(ctx: AppContext) -> int:
    """Deliver batch after batch while batches come back full; how many deliveries."""
    total = 0
    while True:
        count = await delivery.deliver_batch(ctx)
        total += count
        if count < ctx.settings.webhook_batch_size:
            return total


async def deliver(ctx: AppContext) -> int:
    """The job: start a background drain if there is room; report finished work."""
    runner = ctx.caches.get(RUNNER_KEY)
    if not isinstance(runner, _Runner):
        runner = ctx.caches[RUNNER_KEY] = _Runner()
    now = time.monotonic()
    # Drains start at most every MIN_GAP_SECS, and a second one only when the running ones have
    # been at it a while (slow endpoints): the wake-ups of a busy send path must not turn into
    # a storm of claim queries. An event that misses a start waits for the next tick.
    idle = not runner.tasks and now - runner.started_at >= MIN_GAP_SECS
    if idle or (len(runner.tasks) < MAX_BATCHES and now - runner.started_at >= 1.0):
        runner.started_at = now
        task = asyncio.create_task(drain(ctx), name="webhooks.drain")
        runner.tasks.add(task)
        task.add_done_callback(lambda t: _finished(runner, t))
    done, runner.done = runner.done, 0
    return done


def _finished(runner: _Runner, task: asyncio.Task[int]) -> None:
    runner.tasks.discard(task)
    if task.cancelled():
        return
    if (exc := task.exception()) is not None:
        log.error("webhook delivery failed", error=repr(exc), exc_info=exc)
        return
    runner.done += task.result()


async def stop(ctx: AppContext) -> None:
    """Cancel running batches and close the HTTP client (their rows go back when leases end)."""
    runner = ctx.caches.pop(RUNNER_KEY, None)
    if isinstance(runner, _Runner):
        for task in list(runner.tasks):
            task.cancel()
        await asyncio.gather(*runner.tasks, return_exceptions=True)
    await delivery.close(ctx)


async def purge(ctx: AppContext) -> int:
    """Delete delivered and dead deliveries older than ``webhook_retention_days``."""
    before = utcnow() - timedelta(days=ctx.settings.webhook_retention_days)
    total = 0
    while True:
        async with ctx.db.session() as session:
            count = await repo.purge_deliveries(session, before=before, limit=PURGE_CHUNK)
        total += count
        if count < PURGE_CHUNK:
            return total


# wake=True: a batch starts as soon as an event is committed in this process, not on the tick.
WEBHOOK_JOBS = [
    Job("webhooks_deliver", 1.0, deliver, wake=True),
    Job("webhooks_purge", 3600.0, purge),
]
JOBS.extend(WEBHOOK_JOBS)
