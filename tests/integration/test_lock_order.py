"""Row locks in one order across processes: no deadlock between a worker and a send.

Found by tests/e2e/test_scale_out.py: a worker recording a batch applies the batch's
changes (``sent``), then, in the same transaction, the receipts that arrived early
(``delivered``). A tenant paying on delivery is settled only by the second step, so its
account was locked after the accounts of the first step, out of tenant order, while a send
(another process) locked both in tenant order: PostgreSQL broke the cycle by aborting one,
and an aborted record left its messages to lease expiry and an at-least-once resend.
"""

from __future__ import annotations

import asyncio

import pytest

from hongyan.accounts.service import CLI_ACTOR as OP_ACTOR
from hongyan.api.context import AppContext
from hongyan.billing import service as billing
from hongyan.billing.schemas import BillingUpdate
from hongyan.ids import new_id
from hongyan.messages import transitions
from hongyan.messages.transitions import Change
from hongyan.models import Message
from tests.conftest import make_tenant
from tests.factories import make_messages


async def _tenant(ctx: AppContext, policy: str) -> str:
    tenant = await make_tenant(ctx)
    assert tenant.tenant_id
    async with ctx.db.session() as session:
        await billing.topup(
            session, actor=OP_ACTOR, tenant_id=tenant.tenant_id, amount=100, note="t"
        )
        await billing.update_account(
            session,
            actor=OP_ACTOR,
            tenant_id=tenant.tenant_id,
            req=BillingUpdate.model_validate({"charge_policy": policy}),
        )
    return tenant.tenant_id


async def _held_message(ctx: AppContext, tenant_id: str) -> Message:
    [message] = await make_messages(ctx, tenant_id, amount=5, status="sending")
    async with ctx.db.session() as session:
        await billing.hold(session, tenant_id=tenant_id, items=[(message.id, 5)])
    return message


async def _send_to_both(ctx: AppContext, tenant_ids: list[str]) -> None:
    """What a send of two tenants' messages does to their accounts: holds, in tenant order."""
    async with ctx.db.session() as session:
        for tenant_id in sorted(tenant_ids):
            await billing.hold(session, tenant_id=tenant_id, items=[(new_id("msg"), 1)])


async def test_recording_a_batch_with_its_early_receipts_locks_accounts_in_tenant_order(
    ctx: AppContext,
) -> None:
    if ctx.db.is_sqlite:
        pytest.skip("SQLite has one writer and no row locks to take out of order")
    # The tenant settled only by the receipts must come first in tenant order (ids are
    # time-ordered: make the other until its id sorts after).
    pays_on_delivery, pays_on_send = await _tenant(ctx, "on_delivery"), ""
    while pays_on_send <= pays_on_delivery:
        pays_on_send = await _tenant(ctx, "on_send")
    pair = [pays_on_send, pays_on_delivery]
    late, early = await _held_message(ctx, pays_on_send), await _held_message(ctx, pays_on_delivery)
    send: asyncio.Future[None] | None = None
    async with ctx.db.session() as session:
        changes = [Change(late, "sent"), Change(early, "sent")]
        await transitions.apply(session, ctx=ctx, changes=changes)
        send = asyncio.ensure_future(_send_to_both(ctx, pair))
        await asyncio.sleep(0.3)  # the send takes what it can, then waits for this transaction
        await transitions.apply(session, ctx=ctx, changes=[Change(early, "delivered")])
    await asyncio.wait_for(send, timeout=10)  # a deadlock would have aborted one of the two
    for tenant_id in pair:
        async with ctx.db.session() as session:
            account = await billing.get_account(session, tenant_id=tenant_id)
        assert (account.balance, account.held) == (94, 1)  # 100 - 5 confirmed - 1 held
