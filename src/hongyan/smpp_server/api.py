"""HTTP routes of the SMPP server (operator only): the tenants' SMPP credentials."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response, status
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from hongyan.api.deps import Ctx, Operator, Paging, Session, actor_of
from hongyan.api.errors import ERROR_RESPONSES
from hongyan.kit.pagination import Page, page_of
from hongyan.messages import idempotency
from hongyan.smpp_server import service
from hongyan.smpp_server.schemas import (
    CredentialCreate,
    CredentialCreated,
    CredentialOut,
    CredentialRotate,
    CredentialUpdate,
)

admin = APIRouter(
    prefix="/v1/admin/smpp", responses=ERROR_RESPONSES, tags=["admin: smpp credentials"]
)

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Replays the first answer for the same body (without the password).",
    ),
]
# Idempotency records are kept per tenant; the operator's own calls share this scope.
_OPERATOR_SCOPE = "operator"


@admin.get("/credentials", summary="List SMPP credentials, newest first")
async def list_credentials(
    _: Operator,
    session: Session,
    paging: Paging,
    ctx: Ctx,
    tenant_id: Annotated[str | None, Query(description="Only this tenant's")] = None,
) -> Page[CredentialOut]:
    rows = await service.list_credentials(
        session, tenant_id=tenant_id, limit=paging.limit, before_id=paging.before_id
    )
    page, cursor = page_of(rows, paging.limit)
    return Page[CredentialOut](
        data=await service.views(session, ctx=ctx, rows=page), next_cursor=cursor
    )


@admin.post(
    "/credentials",
    status_code=status.HTTP_201_CREATED,
    response_model=CredentialCreated,
    summary="Issue an SMPP credential to a tenant (the password is shown once)",
)
async def create_credential(
    body: CredentialCreate,
    principal: Operator,
    ctx: Ctx,
    request: Request,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    actor = actor_of(request, principal)
    shown: dict[str, str] = {}

    async def produce(session: AsyncSession) -> tuple[int, dict[str, Any]]:
        issued = await service.create(session, actor=actor, req=body)
        shown["password"] = issued.password  # answered now, never stored for replays
        (view,) = await service.views(session, ctx=ctx, rows=[issued.credential])
        return 201, {**view.model_dump(mode="json"), "password": None}

    code, payload = await idempotency.run(
        ctx,
        tenant_id=_OPERATOR_SCOPE,
        key=idempotency_key,
        fingerprint=idempotency.request_hash("POST", request.url.path, await request.body()),
        produce=produce,
    )
    return JSONResponse({**payload, "password": shown.get("password")}, status_code=code)


@admin.get("/credentials/{ref}", summary="One SMPP credential (by id or system_id)")
async def get_credential(ref: str, _: Operator, session: Session, ctx: Ctx) -> CredentialOut:
    row = await service.get(session, ref)
    (view,) = await service.views(session, ctx=ctx, rows=[row])
    return view


@admin.patch("/credentials/{ref}", summary="Change an SMPP credential's limits, or disable it")
async def update_credential(
    ref: str,
    body: CredentialUpdate,
    principal: Operator,
    session: Session,
    ctx: Ctx,
    request: Request,
) -> CredentialOut:
    row = await service.update(session, actor=actor_of(request, principal), ref=ref, req=body)
    (view,) = await service.views(session, ctx=ctx, rows=[row])
    return view


@admin.post(
    "/credentials/{ref}/rotate",
    response_model=CredentialCreated,
    summary="Set a new password (generated unless given; shown once)",
)
async def rotate_password(
    ref: str,
    principal: Operator,
    session: Session,
    ctx: Ctx,
    request: Request,
    body: CredentialRotate | None = None,
) -> CredentialCreated:
    issued = await service.rotate(
        session, actor=actor_of(request, principal), ref=ref, req=body or CredentialRotate()
    )
    (view,) = await service.views(session, ctx=ctx, rows=[issued.credential])
    return CredentialCreated.model_validate({**view.model_dump(), "password": issued.password})


@admin.delete(
    "/credentials/{ref}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete an SMPP credential and its undelivered receipts (disable it to keep them)",
)
async def delete_credential(
    ref: str, principal: Operator, session: Session, request: Request
) -> Response:
    await service.delete(session, actor=actor_of(request, principal), ref=ref)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


async def _set_enabled(
    ref: str, enabled: bool, principal: Any, session: AsyncSession, ctx: Any, request: Request
) -> CredentialOut:
    row = await service.update(
        session,
        actor=actor_of(request, principal),
        ref=ref,
        req=CredentialUpdate(enabled=enabled),
    )
    (view,) = await service.views(session, ctx=ctx, rows=[row])
    return view


@admin.post("/credentials/{ref}/disable", summary="Disable an SMPP credential (new binds refused)")
async def disable_credential(
    ref: str, principal: Operator, session: Session, ctx: Ctx, request: Request
) -> CredentialOut:
    return await _set_enabled(ref, False, principal, session, ctx, request)


@admin.post("/credentials/{ref}/enable", summary="Enable an SMPP credential again")
async def enable_credential(
    ref: str, principal: Operator, session: Session, ctx: Ctx, request: Request
) -> CredentialOut:
    return await _set_enabled(ref, True, principal, session, ctx, request)
