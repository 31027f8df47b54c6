"""Where a message goes: the process's compiled routing table and the candidates it gives.

The table is compiled from the enabled routes to enabled connectors and cached per process with
the routing revision it was built from; the database is asked for the revision at most once per
``routing_refresh_secs`` (and at once after a change committed by this process), never per
message.
"""

from __future__ import annotations

import random
import time

from sqlalchemy.ext.asyncio import AsyncSession

from hongyan.api.context import AppContext
from hongyan.connectors.base import OutboundSms
from hongyan.routing import repository as repo
from hongyan.routing.health import get_health
from hongyan.routing.quality import factors
from hongyan.routing.table import CACHE_KEY as TABLE_KEY
from hongyan.routing.table import RoutingTable, TableCache, compile_route

_FILTERS = ("countries", "prefixes", "carriers", "kinds", "tenant_ids")


def table_cache(ctx: AppContext) -> TableCache:
    """The process's routing table cache, created on first use."""
    found = ctx.caches.get(TABLE_KEY)
    if not isinstance(found, TableCache):
        found = ctx.caches[TABLE_KEY] = TableCache(ctx.settings.routing_refresh_secs)
    return found


async def routing_table(ctx: AppContext, session: AsyncSession) -> RoutingTable:
    """The compiled table; the database is asked at most once per routing_refresh_secs."""
    cache = table_cache(ctx)
    now = time.monotonic()
    if not cache.due(now) and cache.table is not None:
        return cache.table
    # The revision is read BEFORE the rows (see manager._load for why).
    revision = await repo.get_revision(session)
    if cache.table is not None and revision == cache.revision:
        cache.confirm(now)
        return cache.table
    kinds = await repo.enabled_connector_kinds(session)
    routes = [
        compile_route(
            id=r.id,
            name=r.name,
            priority=r.priority,
            weight=r.weight,
            connector_id=r.connector_id,
            **{name: getattr(r, name) for name in _FILTERS},
        )
        for r in await repo.live_routes(session)
    ]
    simulators = sorted(cid for cid, kind in kinds.items() if kind == "simulator")
    table = RoutingTable(routes=routes, simulators=simulators, kinds=kinds)
    cache.put(revision, table, now)
    return table


async def candidates(
    ctx: AppContext,
    session: AsyncSession,
    *,
    msg: OutboundSms,
    carrier: str | None,
    rng: random.Random | None = None,
) -> list[str]:
    """Connector ids to try for this message, in order; raises NO_ROUTE when none matches.

    Matching routes by priority, weighted random order within a priority, connectors with an
    open circuit breaker last; degraded connectors keep a share of their weight (see quality);
    test-mode messages only ever go to simulators.
    """
    table = await routing_table(ctx, session)
    health = get_health(ctx.caches, ctx.settings)
    factor = await factors(ctx, session)
    return table.order(msg, carrier, rng=rng, is_open=health.is_open, factor=factor)
