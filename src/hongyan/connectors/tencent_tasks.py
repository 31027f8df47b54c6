"""Worker job: pull Tencent receipts while messages sent through a connector still await them.

A Tencent connector with ``poll_receipts`` pulls by itself while sends it made wait for a
receipt. This job covers what no live instance waits for: messages sent before a restart, by
another process, or longer ago than the instance remembers. For each enabled Tencent connector
with ``poll_receipts`` on, at most every ``poll_interval_secs``, it asks the database whether
any message sent through it in the last ``LOOKBACK`` still awaits a receipt and, if so, pulls
(``PullSmsSendStatus`` hands every waiting status of the application out once, whoever sent
the message) and stores what comes back.
"""

from __future__ import annotations

import time
from datetime import timedelta

import structlog

from hongyan.api.context import AppContext
from hongyan.connectors.tencent import TencentConnector
from hongyan.messages import repository as messages_repo
from hongyan.models import utcnow
from hongyan.routing import repository as routing_repo
from hongyan.routing import service as routing
from hongyan.routing.manager import get_manager
from hongyan.worker.jobs import JOBS, Job

log = structlog.get_logger("hongyan.connectors.tencent")

LOOKBACK = timedelta(days=3)  # older messages wait for pushed receipts only
_LAST_POLL = "tencent.last_poll"  # ctx.caches: connector id -> monotonic time of its last pull


async def poll_receipts(ctx: AppContext) -> int:
    """Pull receipts for every Tencent connector that has messages awaiting them; how many."""
    async with ctx.db.session() as session:
        rows = [r for r in await routing_repo.all_connectors(session) if r.kind == "tencent"]
    last: dict[str, float] = ctx.caches.setdefault(_LAST_POLL, {})
    pulled = 0
    for row in rows:
        settings = routing.plain_settings(ctx, row)
        interval = float(settings.get("poll_interval_secs") or 10.0)
        if not row.enabled or not settings.get("poll_receipts"):
            continue
        if time.monotonic() - last.get(row.id, float("-inf")) < interval:
            continue
        last[row.id] = time.monotonic()
        pulled += await _poll_one(ctx, row.id)
    return pulled


async def _poll_one(ctx: AppContext, connector_id: str) -> int:
    now = utcnow()
    async with ctx.db.session() as session:
        waiting = await messages_repo.awaiting_receipts(
            session, connector_id=connector_id, sent_from=now - LOOKBACK, sent_until=now, limit=1
        )
    if not waiting:
        return 0
    try:
        connector = await get_manager(ctx).get(connector_id)
        if not isinstance(connector, TencentConnector):
            return 0
        return await connector.poll_once()
    except Exception as exc:  # the vendor is down, or the connector cannot start: next turn
        log.warning("receipt pull failed", connector_id=connector_id, error=str(exc))
        return 0


JOBS.append(Job("tencent_poll_receipts", 5.0, poll_receipts))
