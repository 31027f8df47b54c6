"""Worker job: ask Aliyun about the receipts no live connector instance is asking about.

An Aliyun connector with ``poll_receipts`` asks QuerySendDetails about what it sent itself, for
``poll_max_age_secs``. This job covers the rest: messages sent before a restart, by another
process, or longer ago than the instance remembers. For each enabled Aliyun connector with
``poll_receipts`` on, at most every ``poll_interval_secs``, it takes the next ``BATCH`` parts
sent through it in the last ``LOOKBACK`` that still await a receipt (a cursor walks through
them turn by turn and starts over at the end), asks about those the instance is not watching,
and stores the final receipts it gets.
"""

from __future__ import annotations

import time
from datetime import timedelta

import structlog

from hongyan.api.context import AppContext
from hongyan.connectors.aliyun import AliyunConnector
from hongyan.dlr import service as dlr
from hongyan.messages import repository as messages_repo
from hongyan.models import utcnow
from hongyan.routing import repository as routing_repo
from hongyan.routing import service as routing
from hongyan.routing.manager import get_manager
from hongyan.worker.jobs import JOBS, Job

log = structlog.get_logger("hongyan.connectors.aliyun")

LOOKBACK = timedelta(days=3)  # the vendor reports within 72 hours; older ones are not asked
BATCH = 100  # parts asked about per connector and turn (poll() also stops after a time slice)
_CURSOR = "aliyun.poll_cursor"  # ctx.caches: connector id -> (message_id, seq) to go on after
_LAST_POLL = "aliyun.last_poll"  # ctx.caches: connector id -> monotonic time of its last turn


async def poll_receipts(ctx: AppContext) -> int:
    """Ask about awaited receipts for every Aliyun connector that polls; how many were stored."""
    async with ctx.db.session() as session:
        rows = [r for r in await routing_repo.all_connectors(session) if r.kind == "aliyun"]
    last: dict[str, float] = ctx.caches.setdefault(_LAST_POLL, {})
    stored = 0
    for row in rows:
        settings = routing.plain_settings(ctx, row)
        if not row.enabled or not settings.get("poll_receipts"):
            continue
        interval = float(settings.get("poll_interval_secs") or 60.0)
        if time.monotonic() - last.get(row.id, float("-inf")) < interval:
            continue
        last[row.id] = time.monotonic()
        stored += await _poll_one(ctx, row.id, interval)
    return stored


async def _poll_one(ctx: AppContext, connector_id: str, interval: float) -> int:
    now = utcnow()
    cursors: dict[str, tuple[str, int] | None] = ctx.caches.setdefault(_CURSOR, {})
    async with ctx.db.session() as session:
        rows = await messages_repo.awaiting_receipts(
            session,
            connector_id=connector_id,
            sent_from=now - LOOKBACK,
            sent_until=now - timedelta(seconds=interval),  # give the push its chance first
            after=cursors.get(connector_id),
            limit=BATCH,
        )
    last = rows[-1][0] if len(rows) == BATCH else None
    cursors[connector_id] = (last.message_id, last.seq) if last is not None else None
    if not rows:
        return 0
    try:
        connector = await get_manager(ctx).get(connector_id)
        if not isinstance(connector, AliyunConnector):
            return 0
        waiting = [(p.upstream_id, at) for p, _, at in rows if not connector.tracks(p.upstream_id)]
        receipts = await connector.poll(waiting)
    except Exception as exc:  # the vendor is down, or the connector cannot start: next turn
        log.warning("receipt poll failed", connector_id=connector_id, error=str(exc))
        return 0
    if receipts:
        await dlr.ingest(ctx, receipts)
    return len(receipts)


JOBS.append(Job("aliyun_poll_receipts", 5.0, poll_receipts))
