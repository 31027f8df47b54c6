"""HTTP routes of the routing domain (operator only): connectors, routes, health, simulation."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, status

from hongyan import errors
from hongyan.api.deps import Ctx, Operator, Paging, Session, actor_of
from hongyan.api.errors import ERROR_RESPONSES
from hongyan.connectors import registry
from hongyan.connectors.base import OutboundSms
from hongyan.connectors.simulator import SimulatorConnector
from hongyan.dlr import service as dlr
from hongyan.kit.pagination import Page, page_of
from hongyan.models import Connector
from hongyan.numbers.parse import parse_number
from hongyan.routing import service
from hongyan.routing.health import get_health
from hongyan.routing.health_store import connector_health
from hongyan.routing.manager import get_manager
from hongyan.routing.quality import quality_out
from hongyan.routing.repository import quality_rows
from hongyan.routing.schemas import (
    ConnectorCreate,
    ConnectorKindOut,
    ConnectorOut,
    ConnectorUpdate,
    HealthOut,
    InboundOut,
    QualityOut,
    ResolvedConnector,
    ResolveOut,
    ResolveRequest,
    RouteCreate,
    RouteOut,
    RouteUpdate,
    SimulateInbound,
)

admin = APIRouter(prefix="/v1/admin", responses=ERROR_RESPONSES)
_CONNECTORS = "admin: connectors"
_ROUTES = "admin: routes"


def connector_out(
    row: Connector, health: HealthOut | None = None, quality: QualityOut | None = None
) -> ConnectorOut:
    """The API view of a connector: secrets masked."""
    kind_known = row.kind in registry.REGISTRY
    cls = registry.REGISTRY.get(row.kind)
    return ConnectorOut(
        id=row.id,
        name=row.name,
        kind=row.kind,
        settings=service.shown_settings(row) if kind_known else {},
        enabled=row.enabled,
        simulated=bool(getattr(cls, "simulated", False)),
        max_segments=getattr(cls, "max_segments", None),
        created_at=row.created_at,
        updated_at=row.updated_at,
        health=health,
        quality=quality or (health.quality if health else None),
    )


# --- connectors -------------------------------------------------------------------------------


@admin.get("/connector-kinds", tags=[_CONNECTORS], summary="Connector kinds and their settings")
async def list_kinds(_: Operator) -> list[ConnectorKindOut]:
    return [
        ConnectorKindOut.model_validate(registry.describe(k)) for k in sorted(registry.REGISTRY)
    ]


@admin.get("/connectors", tags=[_CONNECTORS], summary="List connectors")
async def list_connectors(
    _: Operator, session: Session, paging: Paging, ctx: Ctx
) -> Page[ConnectorOut]:
    rows = await service.list_connectors(session, limit=paging.limit, before_id=paging.before_id)
    page, cursor = page_of(rows, paging.limit)
    stored = {q.connector_id: q for q in await quality_rows(session, [r.id for r in page])}
    data = [connector_out(r, quality=quality_out(ctx.settings, stored.get(r.id))) for r in page]
    return Page[ConnectorOut](data=data, next_cursor=cursor)


@admin.post(
    "/connectors",
    tags=[_CONNECTORS],
    status_code=status.HTTP_201_CREATED,
    summary="Create a connector",
)
async def create_connector(
    body: ConnectorCreate, principal: Operator, session: Session, request: Request, ctx: Ctx
) -> ConnectorOut:
    row = await service.create_connector(
        session, ctx=ctx, actor=actor_of(request, principal), req=body
    )
    return connector_out(row)


@admin.get("/connectors/{ref}", tags=[_CONNECTORS], summary="One connector, with its health")
async def get_connector(ref: str, _: Operator, session: Session, ctx: Ctx) -> ConnectorOut:
    row = await service.get_connector(session, ref)
    return connector_out(row, await connector_health(ctx, session, connector_id=row.id))


@admin.patch("/connectors/{ref}", tags=[_CONNECTORS], summary="Change a connector")
async def update_connector(
    ref: str,
    body: ConnectorUpdate,
    principal: Operator,
    session: Session,
    request: Request,
    ctx: Ctx,
) -> ConnectorOut:
    row = await service.update_connector(
        session, ctx=ctx, actor=actor_of(request, principal), ref=ref, req=body
    )
    return connector_out(row)


@admin.delete(
    "/connectors/{ref}",
    tags=[_CONNECTORS],
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a connector no route uses",
)
async def delete_connector(
    ref: str, principal: Operator, session: Session, request: Request, ctx: Ctx
) -> None:
    await service.delete_connector(session, ctx=ctx, actor=actor_of(request, principal), ref=ref)


@admin.get("/connectors/{ref}/health", tags=[_CONNECTORS], summary="A connector's recent health")
async def get_connector_health(ref: str, _: Operator, session: Session, ctx: Ctx) -> HealthOut:
    row = await service.get_connector(session, ref)
    return await connector_health(ctx, session, connector_id=row.id)


@admin.post(
    "/connectors/{ref}/simulate-inbound",
    tags=[_CONNECTORS],
    status_code=status.HTTP_202_ACCEPTED,
    summary="Make a simulator connector receive an inbound message",
)
async def simulate_inbound(
    ref: str, body: SimulateInbound, _: Operator, session: Session, ctx: Ctx
) -> InboundOut:
    row = await service.get_connector(session, ref)
    if row.kind != SimulatorConnector.kind:
        raise errors.CONNECTOR_CANNOT_SIMULATE(id=row.id, kind=row.kind)
    if not row.enabled:
        raise errors.CONNECTOR_DISABLED(id=row.id)
    manager = get_manager(ctx)
    if manager.sinks is None:
        # An API-only process sends nothing, so nothing set its sinks: inbound messages made up
        # here go where real ones go, to the receipts domain that stores them.
        manager.set_sinks(dlr.sinks(ctx))
    connector = await manager.get(row.id, session=session)
    assert isinstance(connector, SimulatorConnector)
    sms = await connector.emit_inbound(body.msisdn, body.text, body.to)
    return InboundOut(
        connector_id=sms.connector_id,
        msisdn=sms.msisdn,
        to=sms.to,
        text=sms.text,
        received_at=sms.received_at,
        upstream_id=sms.upstream_id,
    )


# --- routes -----------------------------------------------------------------------------------


@admin.get("/routes", tags=[_ROUTES], summary="List routes")
async def list_routes(
    _: Operator,
    session: Session,
    paging: Paging,
    connector: Annotated[str | None, Query(description="Only routes to this connector.")] = None,
) -> Page[RouteOut]:
    rows = await service.list_routes(
        session, limit=paging.limit, before_id=paging.before_id, connector=connector
    )
    page, cursor = page_of(rows, paging.limit)
    return Page[RouteOut](data=[RouteOut.model_validate(r) for r in page], next_cursor=cursor)


@admin.post(
    "/routes", tags=[_ROUTES], status_code=status.HTTP_201_CREATED, summary="Create a route"
)
async def create_route(
    body: RouteCreate, principal: Operator, session: Session, request: Request, ctx: Ctx
) -> RouteOut:
    row = await service.create_route(session, ctx=ctx, actor=actor_of(request, principal), req=body)
    return RouteOut.model_validate(row)


@admin.post("/routes/resolve", tags=[_ROUTES], summary="Where would a message go? (sends nothing)")
async def resolve(body: ResolveRequest, _: Operator, session: Session, ctx: Ctx) -> ResolveOut:
    info = parse_number(body.to, region=body.region)
    if not info.valid or info.e164 is None:
        raise errors.CATALOG[info.reason or errors.NUMBER_INVALID.code](field="to", number=body.to)
    carrier = body.carrier or info.carrier
    msg = OutboundSms(
        message_id="msg_resolve",
        tenant_id=body.tenant_id or "",
        msisdn=info.e164,
        text="",
        encoding="gsm7",
        segments=1,
        kind=body.kind,
        region=info.region,
        test_mode=body.test_mode,
    )
    ids = await service.candidates(ctx, session, msg=msg, carrier=carrier)
    health = get_health(ctx.caches, ctx.settings)
    found = []
    for cid in ids:
        row = await service.get_connector(session, cid)
        snap = health.snapshot(cid)
        breaker = snap.breaker if snap else "closed"
        found.append(ResolvedConnector(id=cid, name=row.name, kind=row.kind, breaker=breaker))
    return ResolveOut(msisdn=info.e164, region=info.region, carrier=carrier, connectors=found)


@admin.get("/routes/{ref}", tags=[_ROUTES], summary="One route")
async def get_route(ref: str, _: Operator, session: Session) -> RouteOut:
    return RouteOut.model_validate(await service.get_route(session, ref))


@admin.patch("/routes/{ref}", tags=[_ROUTES], summary="Change a route")
async def update_route(
    ref: str, body: RouteUpdate, principal: Operator, session: Session, request: Request, ctx: Ctx
) -> RouteOut:
    row = await service.update_route(
        session, ctx=ctx, actor=actor_of(request, principal), ref=ref, req=body
    )
    return RouteOut.model_validate(row)


@admin.delete(
    "/routes/{ref}",
    tags=[_ROUTES],
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a route",
)
async def delete_route(
    ref: str, principal: Operator, session: Session, request: Request, ctx: Ctx
) -> None:
    await service.delete_route(session, ctx=ctx, actor=actor_of(request, principal), ref=ref)
