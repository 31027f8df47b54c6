"""The worker loop: runs every job on its interval until told to stop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import structlog

from hongyan.api.context import AppContext
from hongyan.kit.metrics import WORKER_JOB_RUNS
from hongyan.worker.jobs import JOBS, Job
from hongyan.worker.wakeup import DueListener

log = structlog.get_logger("hongyan.worker")


class Worker:
    """Runs jobs in one task; a job that fails is logged and tried again on its next turn."""

    def __init__(self, ctx: AppContext, jobs: Sequence[Job] = JOBS) -> None:
        self.ctx = ctx
        self.jobs = list(jobs)
        self.stopping = asyncio.Event()
        # Set by code that just made work due (e.g. an accepted message), so the worker
        # does not wait for its next poll.
        self.wake = asyncio.Event()
        self._next_run = {job.name: 0.0 for job in self.jobs}

    async def run_once(self) -> int:
        """Run every job that is due; return how many things they did."""
        done = 0
        now = time.monotonic()
        for job in self.jobs:
            if self._next_run[job.name] > now:
                continue
            self._next_run[job.name] = now + job.interval_secs
            try:
                done += await job.run(self.ctx)
                WORKER_JOB_RUNS.labels(job.name, "ok").inc()
            except Exception:
                WORKER_JOB_RUNS.labels(job.name, "error").inc()
                log.exception("job failed", job=job.name)
        return done

    async def run(self) -> None:
        log.info("worker started", jobs=[job.name for job in self.jobs])
        # Other processes announce due messages with NOTIFY (PostgreSQL); the in-process
        # event is set directly by code in this process.
        listener = None if self.ctx.db.is_sqlite else DueListener(self.ctx.db.url, self.wake)
        if listener:
            listener.start()
        try:
            await self._loop()
        finally:
            if listener:
                await listener.close()
        log.info("worker stopped")

    async def _loop(self) -> None:
        while not self.stopping.is_set():
            if self.wake.is_set():
                # Cleared before the jobs run, so a wake-up during them is not lost.
                self.wake.clear()
                for job in self.jobs:
                    if job.wake:
                        self._next_run[job.name] = 0.0
            await self.run_once()
            sleep = 0.0 if self.wake.is_set() else self._sleep_time()
            waiters = [
                asyncio.ensure_future(self.stopping.wait()),
                asyncio.ensure_future(self.wake.wait()),
            ]
            await asyncio.wait(waiters, timeout=sleep, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()

    def _sleep_time(self) -> float:
        if not self.jobs:
            return self.ctx.settings.worker_idle_poll_secs
        soonest = min(self._next_run.values()) - time.monotonic()
        return max(0.0, min(soonest, self.ctx.settings.worker_idle_poll_secs))

    def stop(self) -> None:
        self.stopping.set()
