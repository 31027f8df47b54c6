"""HTTP routes of the billing domain: a tenant's balance and ledger, the operator's prices,
top-ups, adjustments and per-tenant billing terms.

Amounts are integers of minor units (fen, cents) and always come with their currency.
"""

from __future__ import annotations

from typing import Annotated, Any, cast

from fastapi import APIRouter, Header, Query, Request, Response, status

from hongyan.api.deps import Ctx, Operator, Paging, Session, TenantRead, actor_of
from hongyan.api.errors import ERROR_RESPONSES, ErrorBody
from hongyan.billing import prices, service
from hongyan.billing.schemas import (
    AccountOut,
    AdjustIn,
    BillingUpdate,
    ChargePolicy,
    EntryKind,
    LedgerEntryOut,
    PriceKind,
    PriceOut,
    PriceSet,
    TopupIn,
)
from hongyan.kit.pagination import Page, page_of
from hongyan.models import BillingAccount

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES, tags=["billing"])
admin = APIRouter(prefix="/v1/admin", responses=ERROR_RESPONSES, tags=["admin: billing"])

_PAYMENT_REQUIRED: dict[int | str, dict[str, Any]] = {
    402: {"model": ErrorBody, "description": "Insufficient balance"}
}
KindFilter = Annotated[EntryKind | None, Query(description="Only entries of this kind.")]
MessageFilter = Annotated[str | None, Query(description="Only entries of this message.")]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=128,
        description="Applied once: the same key and body return the first answer.",
    ),
]


def account_out(account: BillingAccount) -> AccountOut:
    return AccountOut(
        tenant_id=account.tenant_id,
        currency=account.currency,
        balance=account.balance,
        held=account.held,
        charge_policy=cast(ChargePolicy, account.charge_policy),
        low_balance_threshold=account.low_balance_threshold,
        low_balance=service.is_low(account),
    )


async def _ledger_page(
    session: Session,
    tenant_id: str,
    paging: Paging,
    kind: str | None,
    message_id: str | None,
    *,
    check_tenant: bool = False,
) -> Page[LedgerEntryOut]:
    rows = await service.list_ledger(
        session,
        tenant_id=tenant_id,
        check_tenant=check_tenant,
        limit=paging.limit,
        before_id=paging.before_id,
        kind=kind,
        message_id=message_id,
    )
    page, cursor = page_of(rows, paging.limit)
    return Page[LedgerEntryOut](
        data=[LedgerEntryOut.model_validate(e) for e in page], next_cursor=cursor
    )


# --- the tenant's own account -----------------------------------------------------------------


@router.get("/balance", summary="Your balance, currency and charge policy")
async def get_balance(principal: TenantRead, session: Session) -> AccountOut:
    assert principal.tenant_id
    return account_out(await service.get_account(session, tenant_id=principal.tenant_id))


@router.get("/ledger", summary="Your ledger: every change of the balance, newest first")
async def list_ledger(
    principal: TenantRead,
    session: Session,
    paging: Paging,
    kind: KindFilter = None,
    message_id: MessageFilter = None,
) -> Page[LedgerEntryOut]:
    assert principal.tenant_id
    return await _ledger_page(session, principal.tenant_id, paging, kind, message_id)


# --- the operator: prices ---------------------------------------------------------------------


@admin.get("/prices", summary="List prices, newest first")
async def list_prices(
    _: Operator,
    session: Session,
    paging: Paging,
    country: Annotated[str | None, Query(description="Only this country (or *).")] = None,
) -> Page[PriceOut]:
    rows = await prices.list_prices(
        session, limit=paging.limit, before_id=paging.before_id, country=country
    )
    page, cursor = page_of(rows, paging.limit)
    return Page[PriceOut](data=[PriceOut.model_validate(p) for p in page], next_cursor=cursor)


@admin.put("/prices", summary="Set the price of (country, kind), replacing any price it had")
async def set_price(
    body: PriceSet, principal: Operator, session: Session, request: Request, ctx: Ctx
) -> PriceOut:
    price = await prices.set_price(
        session,
        ctx=ctx,
        actor=actor_of(request, principal),
        country=body.country,
        kind=body.kind,
        unit_price=body.unit_price,
        currency=body.currency,
    )
    return PriceOut.model_validate(price)


@admin.delete(
    "/prices", status_code=status.HTTP_204_NO_CONTENT, summary="Remove the price of (country, kind)"
)
async def remove_price(
    principal: Operator,
    session: Session,
    request: Request,
    ctx: Ctx,
    country: Annotated[str, Query(description="ISO 3166-1 alpha-2, or *.")],
    kind: Annotated[PriceKind, Query(description="A message kind, or * for every kind.")] = "*",
) -> Response:
    await prices.remove_price(
        session, ctx=ctx, actor=actor_of(request, principal), country=country, kind=kind
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- the operator: tenants' accounts ----------------------------------------------------------


@admin.post(
    "/tenants/{tenant_id}/topup",
    status_code=status.HTTP_201_CREATED,
    summary="Top up a tenant's balance",
)
async def topup(
    tenant_id: str,
    body: TopupIn,
    principal: Operator,
    session: Session,
    request: Request,
    idempotency_key: IdempotencyKey = None,
) -> LedgerEntryOut:
    entry = await service.topup(
        session,
        actor=actor_of(request, principal),
        tenant_id=tenant_id,
        amount=body.amount,
        note=body.note,
        idempotency_key=idempotency_key,
    )
    return LedgerEntryOut.model_validate(entry)


@admin.post(
    "/tenants/{tenant_id}/adjust",
    status_code=status.HTTP_201_CREATED,
    summary="Adjust a tenant's balance up or down, with a note",
    responses=_PAYMENT_REQUIRED,
)
async def adjust(
    tenant_id: str,
    body: AdjustIn,
    principal: Operator,
    session: Session,
    request: Request,
    idempotency_key: IdempotencyKey = None,
) -> LedgerEntryOut:
    entry = await service.adjust(
        session,
        actor=actor_of(request, principal),
        tenant_id=tenant_id,
        amount=body.amount,
        note=body.note,
        idempotency_key=idempotency_key,
    )
    return LedgerEntryOut.model_validate(entry)


@admin.get("/tenants/{tenant_id}/billing", summary="A tenant's balance and billing terms")
async def get_billing(tenant_id: str, _: Operator, session: Session) -> AccountOut:
    return account_out(await service.get_account(session, tenant_id=tenant_id))


@admin.patch("/tenants/{tenant_id}/billing", summary="Change a tenant's billing terms")
async def update_billing(
    tenant_id: str, body: BillingUpdate, principal: Operator, session: Session, request: Request
) -> AccountOut:
    account = await service.update_account(
        session, actor=actor_of(request, principal), tenant_id=tenant_id, req=body
    )
    return account_out(account)


@admin.get("/tenants/{tenant_id}/ledger", summary="A tenant's ledger, newest first")
async def get_tenant_ledger(
    tenant_id: str,
    _: Operator,
    session: Session,
    paging: Paging,
    kind: KindFilter = None,
    message_id: MessageFilter = None,
) -> Page[LedgerEntryOut]:
    return await _ledger_page(session, tenant_id, paging, kind, message_id, check_tenant=True)
