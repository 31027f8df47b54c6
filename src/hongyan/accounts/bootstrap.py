"""First run of the embedded default: an operator key, a demo tenant and its key."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from hongyan.accounts import repository as repo
from hongyan.accounts import service
from hongyan.accounts.schemas import KeyCreate, TenantCreate
from hongyan.api.context import AppContext

SYSTEM = service.Actor(role="system")


DEMO_SIGN = "鸿雁演示"
DEMO_UNIT_PRICE = 5  # fen per segment, to every country, until the operator sets real prices
DEMO_BALANCE = 10_000  # fen: 100 CNY of simulated sending


@dataclass(frozen=True, slots=True)
class FirstRun:
    operator: service.CreatedKey
    tenant_id: str
    tenant_key: service.CreatedKey
    sign: str = DEMO_SIGN


async def first_run(session: AsyncSession, *, ctx: AppContext) -> FirstRun | None:
    """Create the starting accounts when the database has no key at all; else do nothing."""
    if await repo.count_keys(session) > 0:
        return None
    operator = await service.create_key(
        session, actor=SYSTEM, box=ctx.box, tenant_id=None, req=KeyCreate(name="operator")
    )
    tenant = await service.create_tenant(
        session,
        actor=SYSTEM,
        req=TenantCreate(name="demo", free_text_allowed=True, trusted=True),
    )
    tenant_key = await service.create_key(
        session, actor=SYSTEM, box=ctx.box, tenant_id=tenant.id, req=KeyCreate(name="demo")
    )
    await _demo_can_send(session, ctx=ctx, tenant_id=tenant.id)
    return FirstRun(operator=operator, tenant_id=tenant.id, tenant_key=tenant_key)


async def _demo_can_send(session: AsyncSession, *, ctx: AppContext, tenant_id: str) -> None:
    """An approved sign, a default price and a balance: the demo sends on its first request."""
    from hongyan.billing import prices
    from hongyan.billing import service as billing
    from hongyan.reviews import queue
    from hongyan.reviews import service as reviews
    from hongyan.signs import service as signs
    from hongyan.signs.schemas import SignCreate

    sign = await signs.create(
        session,
        ctx=ctx,
        tenant_id=tenant_id,
        req=SignCreate(
            name=DEMO_SIGN, purpose="general", source="company", remark="created on first run"
        ),
    )
    for review in await reviews.list_reviews(session, subject_id=sign.id, limit=10):
        await queue.decide(session, actor=SYSTEM, review_id=review.id, approve=True)
    await prices.set_price(
        session,
        ctx=ctx,
        actor=SYSTEM,
        country="*",
        kind="*",
        unit_price=DEMO_UNIT_PRICE,
        currency="CNY",
    )
    await billing.topup(
        session,
        actor=SYSTEM,
        tenant_id=tenant_id,
        amount=DEMO_BALANCE,
        note="demo balance (first run)",
    )
