"""HTTP routes of the webhooks domain: endpoints, the callback secret, the delivery log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, Request, Response, status

from hongyan.api.deps import Ctx, Paging, Session, TenantManage, TenantRead, actor_of
from hongyan.api.errors import ERROR_RESPONSES
from hongyan.kit.pagination import Page, page_of
from hongyan.models import WebhookCallbackSecret, WebhookDelivery, WebhookEndpoint
from hongyan.webhooks import endpoints, service
from hongyan.webhooks.schemas import (
    CallbackSecretOut,
    DeliveryOut,
    DeliveryStatus,
    EndpointCreate,
    EndpointCreated,
    EndpointOut,
    EndpointUpdate,
    SecretRotate,
)

router = APIRouter(prefix="/v1/webhooks", responses=ERROR_RESPONSES, tags=["webhooks"])

StatusFilter = Annotated[DeliveryStatus | None, Query(alias="status", description="Only these.")]
EventFilter = Annotated[str | None, Query(description="Only the deliveries of this event id.")]
RotateBody = Annotated[SecretRotate | None, Body()]


def endpoint_out(row: WebhookEndpoint) -> EndpointOut:
    return EndpointOut.model_validate(row)


def created_out(created: endpoints.CreatedEndpoint) -> EndpointCreated:
    out = endpoint_out(created.endpoint).model_dump()
    return EndpointCreated.model_validate({**out, "secret": created.secret})


def delivery_out(row: WebhookDelivery) -> DeliveryOut:
    return DeliveryOut.model_validate(row)


def secret_out(row: WebhookCallbackSecret, secret: str) -> CallbackSecretOut:
    return CallbackSecretOut.model_validate(
        {
            "secret": secret,
            "secret_hint": row.secret_hint,
            "previous_secret_expires_at": row.previous_secret_expires_at,
            "created_at": row.created_at,
            "rotated_at": row.rotated_at,
        }
    )


def _deliveries_page(rows: list[WebhookDelivery], limit: int) -> Page[DeliveryOut]:
    page, cursor = page_of(rows, limit)
    return Page[DeliveryOut](data=[delivery_out(r) for r in page], next_cursor=cursor)


# --- endpoints --------------------------------------------------------------------------------


@router.get("", summary="List your webhook endpoints")
async def list_endpoints(
    principal: TenantRead, session: Session, paging: Paging
) -> Page[EndpointOut]:
    assert principal.tenant_id
    rows = await endpoints.list_endpoints(
        session, tenant_id=principal.tenant_id, limit=paging.limit, before_id=paging.before_id
    )
    page, cursor = page_of(rows, paging.limit)
    return Page[EndpointOut](data=[endpoint_out(r) for r in page], next_cursor=cursor)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create a webhook endpoint (its signing secret is shown once)",
)
async def create_endpoint(
    body: EndpointCreate, principal: TenantManage, session: Session, request: Request, ctx: Ctx
) -> EndpointCreated:
    assert principal.tenant_id
    created = await endpoints.create_endpoint(
        session,
        ctx=ctx,
        actor=actor_of(request, principal),
        tenant_id=principal.tenant_id,
        req=body,
    )
    return created_out(created)


@router.get("/secret", summary="The secret signing deliveries to per-message callback_url")
async def get_callback_secret(
    principal: TenantManage, session: Session, ctx: Ctx
) -> CallbackSecretOut:
    assert principal.tenant_id
    row, secret = await endpoints.callback_secret(session, ctx=ctx, tenant_id=principal.tenant_id)
    return secret_out(row, secret)


@router.post("/secret/rotate", summary="Replace the callback_url signing secret")
async def rotate_callback_secret(
    principal: TenantManage, session: Session, request: Request, ctx: Ctx, body: RotateBody = None
) -> CallbackSecretOut:
    assert principal.tenant_id
    row, secret = await endpoints.rotate_callback_secret(
        session,
        ctx=ctx,
        actor=actor_of(request, principal),
        tenant_id=principal.tenant_id,
        keep_previous_secs=body.keep_previous_secs if body else 0,
    )
    return secret_out(row, secret)


@router.get("/deliveries", summary="Your webhook deliveries, newest first")
async def list_deliveries(
    principal: TenantRead,
    session: Session,
    paging: Paging,
    delivery_status: StatusFilter = None,
    event_id: EventFilter = None,
    callback: Annotated[
        bool, Query(description="Only deliveries to per-message callback_url addresses.")
    ] = False,
) -> Page[DeliveryOut]:
    assert principal.tenant_id  # None would mean every tenant's deliveries
    rows = await service.list_deliveries(
        session,
        tenant_id=principal.tenant_id,
        limit=paging.limit,
        before_id=paging.before_id,
        callbacks_only=callback,
        status=delivery_status,
        event_id=event_id,
    )
    return _deliveries_page(rows, paging.limit)


@router.get("/deliveries/{delivery_id}", summary="One webhook delivery")
async def get_delivery(delivery_id: str, principal: TenantRead, session: Session) -> DeliveryOut:
    assert principal.tenant_id
    row = await service.get_delivery(
        session, tenant_id=principal.tenant_id, delivery_id=delivery_id
    )
    return delivery_out(row)


@router.post(
    "/deliveries/{delivery_id}/replay",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Send a delivered or dead delivery again",
)
async def replay_delivery(
    delivery_id: str, principal: TenantManage, session: Session, request: Request, ctx: Ctx
) -> DeliveryOut:
    assert principal.tenant_id
    row = await service.replay(
        session,
        ctx=ctx,
        actor=actor_of(request, principal),
        tenant_id=principal.tenant_id,
        delivery_id=delivery_id,
    )
    return delivery_out(row)


@router.get("/{endpoint_id}", summary="One webhook endpoint")
async def get_endpoint(endpoint_id: str, principal: TenantRead, session: Session) -> EndpointOut:
    assert principal.tenant_id
    row = await endpoints.get_endpoint(
        session, tenant_id=principal.tenant_id, endpoint_id=endpoint_id
    )
    return endpoint_out(row)


@router.patch("/{endpoint_id}", summary="Change a webhook endpoint")
async def update_endpoint(
    endpoint_id: str,
    body: EndpointUpdate,
    principal: TenantManage,
    session: Session,
    request: Request,
    ctx: Ctx,
) -> EndpointOut:
    assert principal.tenant_id
    row = await endpoints.update_endpoint(
        session,
        ctx=ctx,
        actor=actor_of(request, principal),
        tenant_id=principal.tenant_id,
        endpoint_id=endpoint_id,
        req=body,
    )
    return endpoint_out(row)


@router.delete(
    "/{endpoint_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a webhook endpoint and its delivery log",
)
async def delete_endpoint(
    endpoint_id: str, principal: TenantManage, session: Session, request: Request, ctx: Ctx
) -> Response:
    assert principal.tenant_id
    await endpoints.delete_endpoint(
        session,
        ctx=ctx,
        actor=actor_of(request, principal),
        tenant_id=principal.tenant_id,
        endpoint_id=endpoint_id,
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{endpoint_id}/rotate-secret", summary="Give an endpoint a new signing secret")
async def rotate_endpoint_secret(
    endpoint_id: str,
    principal: TenantManage,
    session: Session,
    request: Request,
    ctx: Ctx,
    body: RotateBody = None,
) -> EndpointCreated:
    assert principal.tenant_id
    created = await endpoints.rotate_endpoint_secret(
        session,
        ctx=ctx,
        actor=actor_of(request, principal),
        tenant_id=principal.tenant_id,
        endpoint_id=endpoint_id,
        keep_previous_secs=body.keep_previous_secs if body else 0,
    )
    return created_out(created)


@router.post(
    "/{endpoint_id}/test",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Send a webhook.test event to this endpoint",
)
async def send_test_event(
    endpoint_id: str, principal: TenantManage, session: Session, ctx: Ctx
) -> DeliveryOut:
    assert principal.tenant_id
    row = await service.send_test(
        session, ctx=ctx, tenant_id=principal.tenant_id, endpoint_id=endpoint_id
    )
    return delivery_out(row)


@router.get("/{endpoint_id}/deliveries", summary="The delivery log of one endpoint")
async def list_endpoint_deliveries(
    endpoint_id: str,
    principal: TenantRead,
    session: Session,
    paging: Paging,
    delivery_status: StatusFilter = None,
    event_id: EventFilter = None,
) -> Page[DeliveryOut]:
    assert principal.tenant_id  # None would mean every tenant's deliveries
    rows = await service.list_deliveries(
        session,
        tenant_id=principal.tenant_id,
        limit=paging.limit,
        before_id=paging.before_id,
        endpoint_id=endpoint_id,
        status=delivery_status,
        event_id=event_id,
    )
    return _deliveries_page(rows, paging.limit)
