"""HTTP routes of the accounts domain: the tenant's own view, its keys, the operator's tenants."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, status

from hongyan.accounts import service
from hongyan.accounts.schemas import (
    AuditOut,
    KeyCreate,
    KeyCreated,
    KeyOut,
    TenantAdminUpdate,
    TenantCreate,
    TenantOut,
    TenantSettingsUpdate,
    VerificationOut,
    VerificationReject,
    VerificationSubmit,
)
from hongyan.api.deps import Ctx, Operator, Paging, Session, TenantManage, TenantRead, actor_of
from hongyan.api.errors import ERROR_RESPONSES
from hongyan.kit.pagination import Page, page_of
from hongyan.models import ApiKey, Tenant

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES)


def tenant_out(tenant: Tenant) -> TenantOut:
    verification = VerificationOut(
        status=tenant.verification_status,
        details=tenant.verification_details,
        reason=tenant.verification_reason,
        submitted_at=tenant.verification_submitted_at,
        decided_at=tenant.verification_decided_at,
    )
    return TenantOut.model_validate(
        {
            **{c: getattr(tenant, c) for c in TenantOut.model_fields if c != "verification"},
            "verification": verification,
        }
    )


def key_out(key: ApiKey) -> KeyOut:
    return KeyOut.model_validate(key)


def created_out(created: service.CreatedKey) -> KeyCreated:
    return KeyCreated.model_validate(
        {**key_out(created.key).model_dump(), "secret": created.secret}
    )


# --- the tenant's own account -----------------------------------------------------------------


@router.get("/tenant", tags=["account"], summary="Your tenant")
async def get_own_tenant(principal: TenantRead, session: Session) -> TenantOut:
    assert principal.tenant_id
    return tenant_out(await service.get_tenant(session, principal.tenant_id))


@router.patch("/tenant", tags=["account"], summary="Change your tenant's settings")
async def update_own_tenant(
    body: TenantSettingsUpdate, principal: TenantManage, session: Session, request: Request
) -> TenantOut:
    assert principal.tenant_id
    tenant = await service.update_tenant(
        session, actor=actor_of(request, principal), tenant_id=principal.tenant_id, req=body
    )
    return tenant_out(tenant)


@router.post("/tenant/verification", tags=["account"], summary="Submit enterprise verification")
async def submit_verification(
    body: VerificationSubmit, principal: TenantManage, session: Session, request: Request
) -> TenantOut:
    assert principal.tenant_id
    tenant = await service.submit_verification(
        session, actor=actor_of(request, principal), tenant_id=principal.tenant_id, req=body
    )
    return tenant_out(tenant)


# --- the tenant's API keys --------------------------------------------------------------------


@router.get("/keys", tags=["keys"], summary="List your API keys")
async def list_keys(principal: TenantRead, session: Session, paging: Paging) -> Page[KeyOut]:
    rows = await service.list_keys(
        session, tenant_id=principal.tenant_id, limit=paging.limit, before_id=paging.before_id
    )
    page, cursor = page_of(rows, paging.limit)
    return Page[KeyOut](data=[key_out(k) for k in page], next_cursor=cursor)


@router.post(
    "/keys",
    tags=["keys"],
    status_code=status.HTTP_201_CREATED,
    summary="Create an API key (the secret is shown once)",
)
async def create_key(
    body: KeyCreate, principal: TenantManage, session: Session, request: Request, ctx: Ctx
) -> KeyCreated:
    created = await service.create_key(
        session,
        actor=actor_of(request, principal),
        box=ctx.box,
        tenant_id=principal.tenant_id,
        req=body,
    )
    return created_out(created)


@router.get("/keys/{key_id}", tags=["keys"], summary="One of your API keys")
async def get_key(key_id: str, principal: TenantRead, session: Session) -> KeyOut:
    return key_out(await service.get_key(session, tenant_id=principal.tenant_id, key_id=key_id))


@router.post("/keys/{key_id}/revoke", tags=["keys"], summary="Revoke an API key")
async def revoke_key(
    key_id: str, principal: TenantManage, session: Session, request: Request, ctx: Ctx
) -> KeyOut:
    key = await service.revoke_key(
        session, actor=actor_of(request, principal), tenant_id=principal.tenant_id, key_id=key_id
    )
    ctx.auth.forget(key_id)
    return key_out(key)


# --- the operator's view of tenants -----------------------------------------------------------

admin = APIRouter(prefix="/v1/admin", responses=ERROR_RESPONSES, tags=["admin: tenants"])


@admin.get("/tenants", summary="List tenants")
async def list_tenants(
    _: Operator,
    session: Session,
    paging: Paging,
    tenant_status: Annotated[Literal["active", "suspended"] | None, Query(alias="status")] = None,
) -> Page[TenantOut]:
    rows = await service.list_tenants(
        session, limit=paging.limit, before_id=paging.before_id, status=tenant_status
    )
    page, cursor = page_of(rows, paging.limit)
    return Page[TenantOut](data=[tenant_out(t) for t in page], next_cursor=cursor)


@admin.post("/tenants", status_code=status.HTTP_201_CREATED, summary="Create a tenant")
async def create_tenant(
    body: TenantCreate, principal: Operator, session: Session, request: Request
) -> TenantOut:
    tenant = await service.create_tenant(session, actor=actor_of(request, principal), req=body)
    return tenant_out(tenant)


@admin.get("/tenants/{tenant_id}", summary="One tenant")
async def get_tenant(tenant_id: str, _: Operator, session: Session) -> TenantOut:
    return tenant_out(await service.get_tenant(session, tenant_id))


@admin.patch("/tenants/{tenant_id}", summary="Change a tenant")
async def update_tenant(
    tenant_id: str,
    body: TenantAdminUpdate,
    principal: Operator,
    session: Session,
    request: Request,
) -> TenantOut:
    tenant = await service.update_tenant(
        session, actor=actor_of(request, principal), tenant_id=tenant_id, req=body
    )
    return tenant_out(tenant)


@admin.post("/tenants/{tenant_id}/suspend", summary="Suspend a tenant (its keys stop working)")
async def suspend_tenant(
    tenant_id: str, principal: Operator, session: Session, request: Request, ctx: Ctx
) -> TenantOut:
    tenant = await service.set_tenant_status(
        session, actor=actor_of(request, principal), tenant_id=tenant_id, status="suspended"
    )
    ctx.auth.forget()
    return tenant_out(tenant)


@admin.post("/tenants/{tenant_id}/resume", summary="Resume a suspended tenant")
async def resume_tenant(
    tenant_id: str, principal: Operator, session: Session, request: Request, ctx: Ctx
) -> TenantOut:
    tenant = await service.set_tenant_status(
        session, actor=actor_of(request, principal), tenant_id=tenant_id, status="active"
    )
    ctx.auth.forget()
    return tenant_out(tenant)


@admin.post("/tenants/{tenant_id}/verification/approve", summary="Approve enterprise verification")
async def approve_verification(
    tenant_id: str, principal: Operator, session: Session, request: Request
) -> TenantOut:
    tenant = await service.decide_verification(
        session, actor=actor_of(request, principal), tenant_id=tenant_id, approve=True
    )
    return tenant_out(tenant)


@admin.post("/tenants/{tenant_id}/verification/reject", summary="Reject enterprise verification")
async def reject_verification(
    tenant_id: str,
    body: VerificationReject,
    principal: Operator,
    session: Session,
    request: Request,
) -> TenantOut:
    tenant = await service.decide_verification(
        session,
        actor=actor_of(request, principal),
        tenant_id=tenant_id,
        approve=False,
        reason=body.reason,
    )
    return tenant_out(tenant)


@admin.post(
    "/tenants/{tenant_id}/keys",
    status_code=status.HTTP_201_CREATED,
    summary="Create an API key for a tenant",
)
async def create_tenant_key(
    tenant_id: str,
    body: KeyCreate,
    principal: Operator,
    session: Session,
    request: Request,
    ctx: Ctx,
) -> KeyCreated:
    created = await service.create_key(
        session, actor=actor_of(request, principal), box=ctx.box, tenant_id=tenant_id, req=body
    )
    return created_out(created)


@admin.get("/audit", summary="The audit log, newest first", tags=["admin: audit"])
async def list_audit(
    _: Operator,
    session: Session,
    paging: Paging,
    tenant_id: Annotated[str | None, Query()] = None,
) -> Page[AuditOut]:
    rows = await service.list_audit(
        session, tenant_id=tenant_id, limit=paging.limit, before_id=paging.before_id
    )
    page, cursor = page_of(rows, paging.limit)
    return Page[AuditOut](data=[AuditOut.model_validate(a) for a in page], next_cursor=cursor)
