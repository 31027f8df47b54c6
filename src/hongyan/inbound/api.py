"""HTTP routes of the inbound domain: inbound messages and the tenant's suppression list."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response, status
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from hongyan import errors
from hongyan.api.deps import Ctx, Operator, Paging, Session, TenantManage, TenantRead, actor_of
from hongyan.api.errors import ERROR_RESPONSES
from hongyan.inbound import service
from hongyan.inbound.schemas import (
    AdminInboundOut,
    InboundOut,
    OptAction,
    Source,
    SuppressionCreate,
    SuppressionOut,
)
from hongyan.kit import pagination
from hongyan.kit.pagination import Page, page_of
from hongyan.messages import idempotency
from hongyan.models import Suppression

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES)
admin = APIRouter(prefix="/v1/admin", responses=ERROR_RESPONSES, tags=["admin: inbound"])

IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", description="Replays the first answer for the same body."),
]
SenderFilter = Annotated[str | None, Query(description="Only from this sender (E.164).")]
OptFilter = Annotated[OptAction | None, Query(description="Only opt-out or opt-in keywords.")]


# --- inbound messages -------------------------------------------------------------------------


@router.get("/inbound", tags=["inbound"], summary="Inbound messages, newest first")
async def list_inbound(
    principal: TenantRead,
    session: Session,
    paging: Paging,
    msisdn: SenderFilter = None,
    opt_action: OptFilter = None,
) -> Page[InboundOut]:
    assert principal.tenant_id  # None would mean every tenant's
    rows = await service.list_inbound(
        session,
        tenant_id=principal.tenant_id,
        limit=paging.limit,
        before_id=paging.before_id,
        msisdn=msisdn,
        opt_action=opt_action,
    )
    page, cursor = page_of(rows, paging.limit)
    return Page[InboundOut](data=[InboundOut.model_validate(r) for r in page], next_cursor=cursor)


@router.get("/inbound/{inbound_id}", tags=["inbound"], summary="One inbound message")
async def get_inbound(inbound_id: str, principal: TenantRead, session: Session) -> InboundOut:
    assert principal.tenant_id
    row = await service.get_inbound(session, tenant_id=principal.tenant_id, id_=inbound_id)
    return InboundOut.model_validate(row)


@admin.get("/inbound", summary="Inbound messages of every tenant, or the unmatched ones")
async def admin_list_inbound(
    _: Operator,
    session: Session,
    paging: Paging,
    tenant_id: Annotated[str | None, Query(description="Only this tenant's.")] = None,
    unmatched: Annotated[bool, Query(description="Only those no tenant matched.")] = False,
    msisdn: SenderFilter = None,
) -> Page[AdminInboundOut]:
    rows = await service.list_inbound(
        session,
        tenant_id=tenant_id,
        unmatched=unmatched,
        limit=paging.limit,
        before_id=paging.before_id,
        msisdn=msisdn,
    )
    page, cursor = page_of(rows, paging.limit)
    data = [AdminInboundOut.model_validate(r) for r in page]
    return Page[AdminInboundOut](data=data, next_cursor=cursor)


# --- suppressions -----------------------------------------------------------------------------


def _suppression_cursor(row: Suppression) -> str:
    return pagination.encode_cursor(f"{row.created_at.isoformat()}_{row.msisdn}")


def _after(cursor: str | None) -> tuple[datetime, str] | None:
    """The (created_at, msisdn) a suppression cursor stands for; INVALID_CURSOR otherwise."""
    value = pagination.decode_cursor(cursor)
    if value is None:
        return None
    stamp, _, msisdn = value.partition("_")
    try:
        at = datetime.fromisoformat(stamp)
    except ValueError:
        raise errors.INVALID_CURSOR(field="cursor") from None
    if at.tzinfo is None or not msisdn:
        raise errors.INVALID_CURSOR(field="cursor")
    return at, msisdn


@router.get("/suppressions", tags=["suppressions"], summary="Your suppressed numbers")
async def list_suppressions(
    principal: TenantRead,
    session: Session,
    limit: Annotated[int, Query(ge=1, le=pagination.MAX_LIMIT)] = pagination.DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    source: Annotated[Source | None, Query(description="Only this source.")] = None,
) -> Page[SuppressionOut]:
    assert principal.tenant_id
    rows = await service.list_suppressions(
        session, tenant_id=principal.tenant_id, limit=limit, after=_after(cursor), source=source
    )
    next_cursor = _suppression_cursor(rows[limit - 1]) if len(rows) > limit else None
    data = [SuppressionOut.model_validate(r) for r in rows[:limit]]
    return Page[SuppressionOut](data=data, next_cursor=next_cursor)


@router.get("/suppressions/{msisdn}", tags=["suppressions"], summary="One suppressed number")
async def get_suppression(msisdn: str, principal: TenantRead, session: Session) -> SuppressionOut:
    assert principal.tenant_id
    number = service.parse_msisdn(msisdn)
    row = await service.get_suppression(session, tenant_id=principal.tenant_id, msisdn=number)
    return SuppressionOut.model_validate(row)


@router.post(
    "/suppressions",
    tags=["suppressions"],
    status_code=status.HTTP_201_CREATED,
    response_model=SuppressionOut,
    responses={200: {"model": SuppressionOut, "description": "Already suppressed: unchanged"}},
    summary="Suppress a number (201; 200 when it already was)",
)
async def add_suppression(
    body: SuppressionCreate,
    principal: TenantManage,
    ctx: Ctx,
    request: Request,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    assert principal.tenant_id
    number = service.parse_msisdn(body.msisdn, region=body.region)
    actor = actor_of(request, principal)

    async def produce(session: AsyncSession) -> tuple[int, dict[str, Any]]:
        row, created = await service.add_suppression(
            session,
            actor=actor,
            tenant_id=principal.tenant_id or "",
            msisdn=number,
            source=body.source,
            note=body.note,
        )
        return (201 if created else 200), SuppressionOut.model_validate(row).model_dump(mode="json")

    code, payload = await idempotency.run(
        ctx,
        tenant_id=principal.tenant_id,
        key=idempotency_key,
        fingerprint=idempotency.request_hash("POST", request.url.path, await request.body()),
        produce=produce,
    )
    return JSONResponse(payload, status_code=code)


@router.delete(
    "/suppressions/{msisdn}",
    tags=["suppressions"],
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Let a number be messaged again (only with its consent)",
)
async def remove_suppression(
    msisdn: str, principal: TenantManage, session: Session, request: Request
) -> Response:
    assert principal.tenant_id
    await service.remove_suppression(
        session,
        actor=actor_of(request, principal),
        tenant_id=principal.tenant_id,
        msisdn=service.parse_msisdn(msisdn),
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
