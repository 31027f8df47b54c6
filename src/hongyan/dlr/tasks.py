"""Worker jobs of the receipts domain: held receipts matched late, or dropped after a while."""

from __future__ import annotations

import time

from hongyan.api.context import AppContext
from hongyan.dlr import service
from hongyan.worker.jobs import JOBS, Job

# Batches of held receipts applied per run at most; the rest wait for the next run.
MAX_BATCHES = 20
# The purge deletes by age over the whole table: once a minute is often enough.
PURGE_EVERY_SECS = 60.0
_LAST_PURGE = "dlr.last_purge"


async def match_pending_receipts(ctx: AppContext) -> int:
    """Apply held receipts whose part exists by now; drop those held past receipt_hold_days.

    The dispatcher applies held receipts itself when it records parts (``match_new_parts``);
    this catches a receipt held by one process while another was recording its part.
    """
    done = 0
    for _ in range(MAX_BATCHES):
        used = await service.apply_matchable(ctx, limit=service.CHUNK)
        done += used
        if used < service.CHUNK:
            break
    now = time.monotonic()
    if now - ctx.caches.get(_LAST_PURGE, -PURGE_EVERY_SECS) >= PURGE_EVERY_SECS:
        ctx.caches[_LAST_PURGE] = now
        done += await service.purge_unmatched(ctx)
    return done


DLR_JOBS = [Job("match_pending_receipts", 5.0, match_pending_receipts)]
JOBS.extend(DLR_JOBS)
