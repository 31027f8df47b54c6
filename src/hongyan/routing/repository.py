"""All SQL of the routing domain: connectors, routes, their revision and connector health."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import case, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hongyan.models import Connector, ConnectorHealth, Message, Route, RoutingRevision, utcnow
from hongyan.models.routing import ROUTING_SCOPE

# The connector_health row holding a connector's delivery quality (healthy | degraded in
# ``breaker``, the last switch in ``opened_at``): one per connector, not per process, so it
# takes a node name no process has (processes are host:pid).
QUALITY_NODE = "*quality"


def _insert(session: AsyncSession) -> Any:
    """The INSERT of this backend, which both know to turn into an upsert."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


# --- the revision -----------------------------------------------------------------------------


async def get_revision(session: AsyncSession) -> int:
    """The routing revision; 0 before anything was ever changed."""
    stmt = select(RoutingRevision.revision).where(RoutingRevision.scope == ROUTING_SCOPE)
    return int((await session.execute(stmt)).scalar_one_or_none() or 0)


async def bump_revision(session: AsyncSession) -> int:
    """Add one to the revision (creating it at 1) and return the new value."""
    # One upsert: on PostgreSQL it also locks the row, so concurrent changes are serialized
    # and each committed change gets a revision of its own.
    table = RoutingRevision.__table__
    stmt = (
        _insert(session)(table)
        .values(scope=ROUTING_SCOPE, revision=1, updated_at=utcnow())
        .on_conflict_do_update(
            index_elements=[table.c.scope],
            set_={"revision": table.c.revision + 1, "updated_at": utcnow()},
        )
        .returning(table.c.revision)
    )
    return int((await session.execute(stmt)).scalar_one())


# --- connectors -------------------------------------------------------------------------------


async def add(session: AsyncSession, row: Connector | Route) -> None:
    session.add(row)
    await session.flush()


async def remove(session: AsyncSession, row: Connector | Route) -> None:
    await session.delete(row)
    await session.flush()


async def get_connector(
    session: AsyncSession, connector_id: str, *, for_update: bool = False
) -> Connector | None:
    stmt = select(Connector).where(Connector.id == connector_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_connector_by_name(
    session: AsyncSession, name: str, *, for_update: bool = False
) -> Connector | None:
    stmt = select(Connector).where(Connector.name == name)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def list_connectors(
    session: AsyncSession, *, limit: int, before_id: str | None
) -> list[Connector]:
    stmt = select(Connector).order_by(Connector.id.desc()).limit(limit + 1)
    if before_id:
        stmt = stmt.where(Connector.id < before_id)
    return list((await session.execute(stmt)).scalars())


async def all_connectors(session: AsyncSession) -> list[Connector]:
    """Every connector row (a handful), for the live connectors of a process."""
    return list((await session.execute(select(Connector).order_by(Connector.id))).scalars())


async def count_connectors(session: AsyncSession) -> int:
    stmt = select(func.count()).select_from(Connector)
    return int((await session.execute(stmt)).scalar_one())


async def insert_default(session: AsyncSession, connector: Connector, route: Route) -> bool:
    """Insert a connector and its route together; False when the names were taken meanwhile."""
    try:
        async with session.begin_nested():
            session.add(connector)
            await session.flush()
            session.add(route)
            await session.flush()
    except IntegrityError:
        return False
    return True


# --- routes -----------------------------------------------------------------------------------


async def get_route(
    session: AsyncSession, route_id: str, *, for_update: bool = False
) -> Route | None:
    stmt = select(Route).where(Route.id == route_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_route_by_name(
    session: AsyncSession, name: str, *, for_update: bool = False
) -> Route | None:
    stmt = select(Route).where(Route.name == name)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def list_routes(
    session: AsyncSession,
    *,
    limit: int,
    before_id: str | None,
    connector_id: str | None = None,
) -> list[Route]:
    stmt = select(Route).order_by(Route.id.desc()).limit(limit + 1)
    if before_id:
        stmt = stmt.where(Route.id < before_id)
    if connector_id:
        stmt = stmt.where(Route.connector_id == connector_id)
    return list((await session.execute(stmt)).scalars())


async def route_names_of(session: AsyncSession, connector_id: str) -> list[str]:
    stmt = select(Route.name).where(Route.connector_id == connector_id).order_by(Route.name)
    return list((await session.execute(stmt)).scalars())


async def live_routes(session: AsyncSession) -> list[Route]:
    """Enabled routes whose connector is enabled: what the routing table is compiled from."""
    stmt = (
        select(Route)
        .join(Connector, Connector.id == Route.connector_id)
        .where(Route.enabled.is_(True), Connector.enabled.is_(True))
    )
    return list((await session.execute(stmt)).scalars())


async def enabled_connector_kinds(session: AsyncSession) -> dict[str, str]:
    """Connector id -> kind of every enabled connector."""
    stmt = select(Connector.id, Connector.kind).where(Connector.enabled.is_(True))
    return {cid: kind for cid, kind in (await session.execute(stmt)).all()}


# --- health -----------------------------------------------------------------------------------


async def upsert_health(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Write one process's health rows in one statement (replacing its previous ones)."""
    if not rows:
        return
    table = ConnectorHealth.__table__
    stmt = _insert(session)(table).values(list(rows))
    keys = ("connector_id", "node")
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c[k] for k in keys],
        set_={c.name: stmt.excluded[c.name] for c in table.columns if c.name not in keys},
    )
    await session.execute(stmt)


async def health_rows(
    session: AsyncSession, connector_id: str, *, since: datetime
) -> list[ConnectorHealth]:
    stmt = (
        select(ConnectorHealth)
        .where(
            ConnectorHealth.connector_id == connector_id,
            ConnectorHealth.updated_at >= since,
            ConnectorHealth.node != QUALITY_NODE,
        )
        .order_by(ConnectorHealth.node)
    )
    return list((await session.execute(stmt)).scalars())


async def delete_health(session: AsyncSession, connector_id: str) -> None:
    await session.execute(
        delete(ConnectorHealth).where(ConnectorHealth.connector_id == connector_id)
    )


async def purge_health(session: AsyncSession, *, before: datetime) -> int:
    """Forget rows of processes that stopped writing long ago."""
    result: Any = await session.execute(
        delete(ConnectorHealth).where(ConnectorHealth.updated_at < before)
    )
    return int(result.rowcount or 0)


# --- delivery quality -------------------------------------------------------------------------

_JUDGED = ("delivered", "undelivered", "expired")  # final statuses a receipt decided


async def receipt_quality(
    session: AsyncSession, *, since: datetime
) -> list[tuple[str, int, int, float | None]]:
    """(connector_id, final receipts, delivered, average seconds sent -> done) since a time."""
    if session.get_bind().dialect.name == "postgresql":
        latency: Any = func.extract("epoch", Message.done_at - Message.sent_at)
    else:  # SQLite stores the times as text; julianday() reads them, in days
        latency = (func.julianday(Message.done_at) - func.julianday(Message.sent_at)) * 86400.0
    stmt = (
        select(
            Message.connector_id,
            func.count(),
            func.sum(case((Message.status == "delivered", 1), else_=0)),
            func.avg(latency),
        )
        .where(
            Message.done_at >= since,
            Message.status.in_(_JUDGED),
            Message.connector_id.is_not(None),
            Message.sent_at.is_not(None),
        )
        .group_by(Message.connector_id)
    )
    return [
        (str(cid), int(n), int(ok or 0), None if avg is None else float(avg))
        for cid, n, ok, avg in (await session.execute(stmt)).all()
    ]


async def quality_rows(
    session: AsyncSession, connector_ids: Sequence[str] | None = None
) -> list[ConnectorHealth]:
    """The stored quality of every connector (or of these)."""
    stmt = select(ConnectorHealth).where(ConnectorHealth.node == QUALITY_NODE)
    if connector_ids is not None:
        stmt = stmt.where(ConnectorHealth.connector_id.in_(list(connector_ids)))
    return list((await session.execute(stmt)).scalars())


async def put_quality_figures(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Write the window's figures of connectors (a new row starts healthy); state untouched."""
    if not rows:
        return
    table = ConnectorHealth.__table__
    values = [{**r, "node": QUALITY_NODE, "breaker": "healthy"} for r in rows]
    stmt = _insert(session)(table).values(values)
    figures = ("window_secs", "attempts", "failures", "latency_avg_ms", "updated_at")
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c.connector_id, table.c.node],
        set_={k: stmt.excluded[k] for k in figures},
    )
    await session.execute(stmt)


async def switch_quality(
    session: AsyncSession, connector_id: str, *, state: str, at: datetime
) -> bool:
    """Set a connector's quality state; False when it already had it (another process won)."""
    stmt = (
        update(ConnectorHealth)
        .where(
            ConnectorHealth.connector_id == connector_id,
            ConnectorHealth.node == QUALITY_NODE,
            ConnectorHealth.breaker != state,
        )
        .values(breaker=state, opened_at=at)
    )
    result: Any = await session.execute(stmt)
    return bool(result.rowcount)
