"""Connector health in the database: each process writes its view, the API adds them up.

A process only sees the sends it made itself, so ``connector_health`` has one row per
(connector, process). The worker job ``routing.persist_health`` rewrites this process's rows
every ``PERSIST_SECS``; the API counts rows written in the last ``FRESH_SECS`` (and this
process's live view in place of its own row).
"""

from __future__ import annotations

import os
import socket
from dataclasses import asdict
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from hongyan.api.context import AppContext
from hongyan.models import utcnow
from hongyan.routing import repository as repo
from hongyan.routing.health import CACHE_KEY, Health, Snapshot, get_health
from hongyan.routing.quality import quality_out
from hongyan.routing.schemas import HealthOut, NodeHealthOut

PERSIST_SECS = 15.0
FRESH_SECS = 120  # rows older than this are processes that stopped (or stopped sending)
KEEP = timedelta(days=1)  # rows older than this are deleted
NODE = f"{socket.gethostname()}:{os.getpid()}"[:64]
_ORDER = {"closed": 0, "half_open": 1, "open": 2}


async def persist_health(ctx: AppContext) -> int:
    """Write this process's view of every connector it used; return how many rows."""
    health = ctx.caches.get(CACHE_KEY)
    if not isinstance(health, Health):
        return 0
    now = utcnow()
    rows = []
    for snap in health.snapshots():
        row = asdict(snap)
        rows.append({**row, "node": NODE, "updated_at": now})
    async with ctx.db.session() as session:
        await repo.upsert_health(session, rows)
        await repo.purge_health(session, before=now - KEEP)
    return len(rows)


def _node(snap: Snapshot) -> NodeHealthOut:
    return NodeHealthOut(
        node=NODE,
        attempts=snap.attempts,
        failures=snap.failures,
        latency_avg_ms=snap.latency_avg_ms,
        latency_max_ms=snap.latency_max_ms,
        breaker=snap.breaker,
        consecutive_failures=snap.consecutive_failures,
        opened_at=snap.opened_at,
        updated_at=utcnow(),
    )


async def connector_health(
    ctx: AppContext, session: AsyncSession, *, connector_id: str
) -> HealthOut:
    """Recent health of a connector over every process that reported it lately."""
    since = utcnow() - timedelta(seconds=FRESH_SECS)
    nodes = [
        NodeHealthOut.model_validate(row, from_attributes=True)
        for row in await repo.health_rows(session, connector_id, since=since)
    ]
    live = get_health(ctx.caches, ctx.settings).snapshot(connector_id)
    if live is not None:
        nodes = [n for n in nodes if n.node != NODE] + [_node(live)]
    attempts = sum(n.attempts for n in nodes)
    failures = sum(n.failures for n in nodes)
    weighted = [(n.latency_avg_ms, n.attempts) for n in nodes if n.latency_avg_ms is not None]
    latency_avg = sum(v * w for v, w in weighted) / attempts if weighted and attempts else None
    maxima = [n.latency_max_ms for n in nodes if n.latency_max_ms is not None]
    stored = await repo.quality_rows(session, [connector_id])
    return HealthOut(
        connector_id=connector_id,
        window_secs=ctx.settings.routing_breaker_window_secs,
        attempts=attempts,
        failures=failures,
        success_rate=None if not attempts else 1 - failures / attempts,
        latency_avg_ms=latency_avg,
        latency_max_ms=max(maxima) if maxima else None,
        breaker=max((n.breaker for n in nodes), key=_ORDER.__getitem__, default="closed"),
        nodes=nodes,
        quality=quality_out(ctx.settings, stored[0] if stored else None),
    )
