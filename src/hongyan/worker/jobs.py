"""Periodic worker jobs. Domains add theirs to JOBS; the worker loop runs each on its interval."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from hongyan.accounts import repository as accounts_repo
from hongyan.api.context import AppContext
from hongyan.models import utcnow


@dataclass(frozen=True, slots=True)
class Job:
    name: str
    interval_secs: float
    run: Callable[[AppContext], Awaitable[int]]  # returns how many things it did
    wake: bool = False  # also run as soon as the worker is woken, not only on its interval


async def purge_nonces(ctx: AppContext) -> int:
    """Forget signed-request nonces older than the signature window (they can't be replayed)."""
    window = timedelta(seconds=ctx.settings.auth_signature_window_secs)
    async with ctx.db.session() as session:
        return await accounts_repo.purge_nonces(session, utcnow() - window - timedelta(minutes=1))


JOBS: list[Job] = [
    Job("purge_nonces", 60.0, purge_nonces),
]

import hongyan.connectors.aliyun_tasks  # noqa: E402 - appends the Aliyun receipt poll to JOBS
import hongyan.connectors.tencent_tasks  # noqa: E402 - appends the Tencent receipt pull to JOBS
import hongyan.dlr.tasks  # noqa: E402 - appends the receipt jobs to JOBS
import hongyan.routing.tasks  # noqa: E402 - appends the connector health job to JOBS
import hongyan.webhooks.tasks  # noqa: E402 - appends the webhook jobs to JOBS
import hongyan.worker.tasks  # noqa: E402, F401 - appends the outbox jobs (dispatch, scheduler, leases)
