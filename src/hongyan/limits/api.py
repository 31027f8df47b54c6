"""HTTP routes of the limits domain.

Tenants read their limits under ``/v1/limits`` and keep their whitelist under
``/v1/limits/whitelist``; the operator sets a tenant's limits under
``/v1/admin/tenants/{id}/limits``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from hongyan.api.deps import Ctx, Operator, Paging, Session, TenantManage, TenantRead, actor_of
from hongyan.api.errors import ERROR_RESPONSES
from hongyan.kit.pagination import Page, page_of
from hongyan.limits import service
from hongyan.limits.schemas import LimitsOut, LimitsUpdate, WhitelistAdd, WhitelistEntryOut

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES, tags=["limits"])
admin = APIRouter(prefix="/v1/admin", responses=ERROR_RESPONSES, tags=["admin: limits"])


@router.get("/limits", summary="Your frequency limits, caps and today's usage")
async def get_own_limits(principal: TenantRead, session: Session, ctx: Ctx) -> LimitsOut:
    assert principal.tenant_id
    return await service.get_limits(session, ctx=ctx, tenant_id=principal.tenant_id)


@router.get("/limits/whitelist", summary="Numbers exempt from per-number frequency limits")
async def list_whitelist(
    principal: TenantManage, session: Session, paging: Paging
) -> Page[WhitelistEntryOut]:
    assert principal.tenant_id
    rows = await service.list_whitelist(
        session, tenant_id=principal.tenant_id, limit=paging.limit, before_id=paging.before_id
    )
    page, cursor = page_of(rows, paging.limit)
    return Page[WhitelistEntryOut](
        data=[WhitelistEntryOut.model_validate(r) for r in page], next_cursor=cursor
    )


@router.post(
    "/limits/whitelist",
    status_code=status.HTTP_201_CREATED,
    summary="Exempt a number from per-number frequency limits",
)
async def add_whitelisted(
    body: WhitelistAdd, principal: TenantManage, session: Session, request: Request, ctx: Ctx
) -> WhitelistEntryOut:
    assert principal.tenant_id
    row = await service.add_whitelisted(
        session,
        ctx=ctx,
        actor=actor_of(request, principal),
        tenant_id=principal.tenant_id,
        req=body,
    )
    return WhitelistEntryOut.model_validate(row)


@router.delete(
    "/limits/whitelist/{entry}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Take a number off the whitelist (by the number or by the entry id)",
)
async def remove_whitelisted(
    entry: str, principal: TenantManage, session: Session, request: Request, ctx: Ctx
) -> Response:
    assert principal.tenant_id
    await service.remove_whitelisted(
        session,
        ctx=ctx,
        actor=actor_of(request, principal),
        tenant_id=principal.tenant_id,
        entry=entry,
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@admin.get("/tenants/{tenant_id}/limits", summary="A tenant's limits, caps and usage")
async def get_tenant_limits(tenant_id: str, _: Operator, session: Session, ctx: Ctx) -> LimitsOut:
    return await service.get_limits(session, ctx=ctx, tenant_id=tenant_id)


@admin.put("/tenants/{tenant_id}/limits", summary="Set a tenant's limits (replaces them)")
async def set_tenant_limits(
    tenant_id: str,
    body: LimitsUpdate,
    principal: Operator,
    session: Session,
    request: Request,
    ctx: Ctx,
) -> LimitsOut:
    return await service.set_limits(
        session, ctx=ctx, actor=actor_of(request, principal), tenant_id=tenant_id, req=body
    )
