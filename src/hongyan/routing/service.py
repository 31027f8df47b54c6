"""Rules of the routing domain: connectors and routes (set by the operator), and where a message
goes.

Every change of a connector or a route bumps the routing revision in the same transaction.
Each process keeps a compiled routing table (``table``) and its live connectors (``manager``)
tagged with the revision they were built from, checks it at most once per
``routing_refresh_secs``, and rebuilds only when it moved; a change committed by this process
is seen by it at once.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session as SyncSession

from hongyan import errors
from hongyan.accounts import service as accounts
from hongyan.accounts.service import Actor, audit
from hongyan.api.context import AppContext
from hongyan.connectors import registry
from hongyan.ids import looks_like, new_id
from hongyan.models import Connector, Route
from hongyan.routing import repository as repo
from hongyan.routing import secrets
from hongyan.routing.failover import Outcome as Outcome
from hongyan.routing.failover import send_with_failover as send_with_failover
from hongyan.routing.health import get_health
from hongyan.routing.manager import CACHE_KEY as MANAGER_KEY
from hongyan.routing.manager import ConnectorManager
from hongyan.routing.resolve import candidates as candidates
from hongyan.routing.resolve import routing_table as routing_table
from hongyan.routing.resolve import table_cache
from hongyan.routing.schemas import ConnectorCreate, ConnectorUpdate, RouteCreate, RouteUpdate

# candidates, routing_table, send_with_failover and Outcome are re-exported above: the
# dispatcher calls them as routing.candidates(...), routing.send_with_failover(...).

SYSTEM_ACTOR = Actor(role="system")
DEFAULT_CONNECTOR = "simulator"
DEFAULT_ROUTE = "default"
# Below every route an operator adds with the default priority (100), so those win.
DEFAULT_ROUTE_PRIORITY = 1000


async def _changed(session: AsyncSession, *, ctx: AppContext) -> None:
    """Bump the revision in this transaction; this process rebuilds once it is committed."""
    await repo.bump_revision(session)
    sync: SyncSession = session.sync_session
    if sync.info.get("routing.changed"):
        return
    sync.info["routing.changed"] = True

    def expire(_: SyncSession) -> None:
        sync.info.pop("routing.changed", None)
        table_cache(ctx).expire()
        manager = ctx.caches.get(MANAGER_KEY)
        if isinstance(manager, ConnectorManager):
            manager.expire()

    def forget(_: SyncSession) -> None:
        sync.info.pop("routing.changed", None)

    event.listen(sync, "after_commit", expire, once=True)
    event.listen(sync, "after_rollback", forget, once=True)


# --- connectors -------------------------------------------------------------------------------


async def get_connector(session: AsyncSession, ref: str, *, for_update: bool = False) -> Connector:
    """A connector by id or by name; CONNECTOR_NOT_FOUND otherwise."""
    if looks_like(ref, "con"):
        row = await repo.get_connector(session, ref, for_update=for_update)
    else:
        row = await repo.get_connector_by_name(session, ref, for_update=for_update)
    if row is None:
        raise errors.CONNECTOR_NOT_FOUND(field="id", id=ref)
    return row


async def list_connectors(
    session: AsyncSession, *, limit: int, before_id: str | None
) -> list[Connector]:
    """Connectors, newest first (limit+1 rows: the extra one says there is more)."""
    return await repo.list_connectors(session, limit=limit, before_id=before_id)


def shown_settings(row: Connector) -> dict[str, Any]:
    """The settings as the API and CLI show them: secrets as ***."""
    return secrets.mask(row.kind, row.settings)


def plain_settings(ctx: AppContext, row: Connector) -> dict[str, Any]:
    """The settings with secrets decrypted, as the connector is built from them."""
    return secrets.unseal(row.kind, row.settings, ctx.box)


async def create_connector(
    session: AsyncSession, *, ctx: AppContext, actor: Actor, req: ConnectorCreate
) -> Connector:
    """A new connector; its settings are checked against its kind's model."""
    plain = registry.validate_settings(req.kind, req.settings)
    if await repo.get_connector_by_name(session, req.name):
        raise errors.CONNECTOR_NAME_TAKEN(field="name", name=req.name)
    row = Connector(
        id=new_id("con"),
        name=req.name,
        kind=req.kind,
        settings=secrets.seal(req.kind, plain, ctx.box),
        enabled=req.enabled,
        version=1,
    )
    await repo.add(session, row)
    await _changed(session, ctx=ctx)
    details = {"name": row.name, "kind": row.kind, "enabled": row.enabled}
    await audit(
        session, actor, "connector.create", tenant_id=None, target_id=row.id, details=details
    )
    return row


async def update_connector(
    session: AsyncSession, *, ctx: AppContext, actor: Actor, ref: str, req: ConnectorUpdate
) -> Connector:
    """Change a connector; the processes running it restart it with the new settings."""
    row = await get_connector(session, ref, for_update=True)
    changes = req.model_dump(exclude_unset=True)
    name = changes.get("name")
    if name and name != row.name and await repo.get_connector_by_name(session, name):
        raise errors.CONNECTOR_NAME_TAKEN(field="name", name=name)
    if changes.get("settings") is not None:
        merged = secrets.merge(row.kind, row.settings, changes["settings"], ctx.box)
        plain = registry.validate_settings(row.kind, merged)
        row.settings = secrets.seal(row.kind, plain, ctx.box)
    if name:
        row.name = name
    if changes.get("enabled") is not None:
        row.enabled = changes["enabled"]
    row.version += 1
    await repo.add(session, row)
    await _changed(session, ctx=ctx)
    details = {k: v for k, v in changes.items() if k != "settings"}
    if changes.get("settings") is not None:
        details["settings_changed"] = sorted(changes["settings"])  # keys only: no secrets
    await audit(
        session, actor, "connector.update", tenant_id=None, target_id=row.id, details=details
    )
    return row


async def delete_connector(
    session: AsyncSession, *, ctx: AppContext, actor: Actor, ref: str
) -> None:
    """Remove a connector no route uses (CONNECTOR_IN_USE otherwise; disable it instead)."""
    row = await get_connector(session, ref, for_update=True)
    used_by = await repo.route_names_of(session, row.id)
    if used_by:
        raise errors.CONNECTOR_IN_USE(id=row.id, routes=", ".join(used_by))
    await repo.delete_health(session, row.id)
    await repo.remove(session, row)
    await _changed(session, ctx=ctx)
    get_health(ctx.caches, ctx.settings).forget(row.id)
    details = {"name": row.name, "kind": row.kind}
    await audit(
        session, actor, "connector.delete", tenant_id=None, target_id=row.id, details=details
    )


# --- routes -----------------------------------------------------------------------------------


async def get_route(session: AsyncSession, ref: str, *, for_update: bool = False) -> Route:
    """A route by id or by name; ROUTE_NOT_FOUND otherwise."""
    if looks_like(ref, "rte"):
        row = await repo.get_route(session, ref, for_update=for_update)
    else:
        row = await repo.get_route_by_name(session, ref, for_update=for_update)
    if row is None:
        raise errors.ROUTE_NOT_FOUND(field="id", id=ref)
    return row


async def list_routes(
    session: AsyncSession, *, limit: int, before_id: str | None, connector: str | None = None
) -> list[Route]:
    """Routes, newest first, optionally only those to one connector (by id or name)."""
    connector_id = (await get_connector(session, connector)).id if connector else None
    return await repo.list_routes(
        session, limit=limit, before_id=before_id, connector_id=connector_id
    )


async def _check_tenants(session: AsyncSession, tenant_ids: list[str] | None) -> None:
    for tenant_id in tenant_ids or ():
        await accounts.get_tenant(session, tenant_id)


async def create_route(
    session: AsyncSession, *, ctx: AppContext, actor: Actor, req: RouteCreate
) -> Route:
    """A new route to an existing connector (by id or name)."""
    connector = await get_connector(session, req.connector_id)
    await _check_tenants(session, req.tenant_ids)
    if await repo.get_route_by_name(session, req.name):
        raise errors.ROUTE_NAME_TAKEN(field="name", name=req.name)
    row = Route(id=new_id("rte"), **{**req.model_dump(), "connector_id": connector.id})
    await repo.add(session, row)
    await _changed(session, ctx=ctx)
    details = req.model_dump(exclude_none=True) | {"connector_id": connector.id}
    await audit(session, actor, "route.create", tenant_id=None, target_id=row.id, details=details)
    return row


async def update_route(
    session: AsyncSession, *, ctx: AppContext, actor: Actor, ref: str, req: RouteUpdate
) -> Route:
    """Change a route; fields given replace the stored ones (a filter set to null matches all)."""
    row = await get_route(session, ref, for_update=True)
    changes = req.model_dump(exclude_unset=True)
    for required in ("name", "connector_id", "priority", "weight", "enabled"):
        if required in changes and changes[required] is None:
            raise errors.FIELD_INVALID(field=required, reason="may not be null")
    if "connector_id" in changes:
        changes["connector_id"] = (await get_connector(session, changes["connector_id"])).id
    if "tenant_ids" in changes:
        await _check_tenants(session, changes["tenant_ids"])
    name = changes.get("name")
    if name and name != row.name and await repo.get_route_by_name(session, name):
        raise errors.ROUTE_NAME_TAKEN(field="name", name=name)
    for key, value in changes.items():
        setattr(row, key, value)
    await repo.add(session, row)
    await _changed(session, ctx=ctx)
    await audit(session, actor, "route.update", tenant_id=None, target_id=row.id, details=changes)
    return row


async def delete_route(session: AsyncSession, *, ctx: AppContext, actor: Actor, ref: str) -> None:
    """Remove a route; its messages take the other routes from the next refresh."""
    row = await get_route(session, ref, for_update=True)
    await repo.remove(session, row)
    await _changed(session, ctx=ctx)
    details = {"name": row.name, "connector_id": row.connector_id}
    await audit(session, actor, "route.delete", tenant_id=None, target_id=row.id, details=details)


# --- first run --------------------------------------------------------------------------------


async def ensure_default_simulator(session: AsyncSession, *, ctx: AppContext) -> None:
    """With no connector at all, create the ``simulator`` connector and a catch-all route to it.

    The embedded default then sends through the simulator out of the box; an installation
    that has any connector (even a disabled one) is left alone.
    """
    if await repo.count_connectors(session):
        return
    connector = Connector(
        id=new_id("con"),
        name=DEFAULT_CONNECTOR,
        kind="simulator",
        settings=secrets.seal("simulator", registry.validate_settings("simulator", {}), ctx.box),
        enabled=True,
        version=1,
    )
    route = Route(
        id=new_id("rte"),
        name=DEFAULT_ROUTE,
        priority=DEFAULT_ROUTE_PRIORITY,
        weight=1,
        connector_id=connector.id,
        enabled=True,
    )
    if not await repo.insert_default(session, connector, route):
        return  # another process created it meanwhile
    await _changed(session, ctx=ctx)
    await audit(
        session,
        SYSTEM_ACTOR,
        "connector.create_default",
        tenant_id=None,
        target_id=connector.id,
        details={"name": connector.name, "route": route.name},
    )
