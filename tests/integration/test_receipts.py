"""Receipts on both backends: matching, held receipts, multipart aggregation, billing, history."""

from __future__ import annotations

import asyncio
import secrets
from datetime import timedelta
from typing import Any

import pytest

from hongyan.accounts import service as accounts
from hongyan.api.context import AppContext
from hongyan.billing import service as billing
from hongyan.billing.schemas import BillingUpdate
from hongyan.connectors.base import Receipt, ReceiptStatus, SendResult
from hongyan.connectors.simulator import SimulatorConnector
from hongyan.dlr import service as dlr
from hongyan.dlr.tasks import match_pending_receipts
from hongyan.ids import new_id
from hongyan.messages import repository as repo
from hongyan.messages import transitions
from hongyan.models import Message, utcnow
from hongyan.worker.dispatcher import outbound
from tests.conftest import make_tenant
from tests.factories import make_messages


def upstream(n: int) -> list[str]:
    """``n`` upstream ids no other test uses."""
    return [f"up-{secrets.token_hex(6)}" for _ in range(n)]


def receipt(
    connector_id: str, upstream_id: str, status: ReceiptStatus = "delivered", **extra: Any
) -> Receipt:
    raw = {"delivered": "DELIVRD", "undelivered": "UNDELIV", "expired": "EXPIRED"}
    extra.setdefault("raw_code", raw.get(status))
    return Receipt(connector_id, upstream_id, status, **extra)


async def sent_messages(
    ctx: AppContext, tenant_id: str, *, parts: int = 1, count: int = 1, **overrides: Any
) -> tuple[str, list[Message], list[list[str]]]:
    """Messages recorded as sent through a new connector, with ``parts`` upstream ids each."""
    connector_id = new_id("con")
    messages = await make_messages(
        ctx, tenant_id, count, status="sending", segments=parts, **overrides
    )
    ids = [upstream(parts) for _ in messages]
    await record_sent(ctx, connector_id, messages, ids, match=False)
    return connector_id, messages, ids


async def record_sent(
    ctx: AppContext,
    connector_id: str,
    messages: list[Message],
    ids: list[list[str]],
    *,
    match: bool,
) -> int:
    """What the dispatcher does after a submit: parts, the sent transition, held receipts."""
    rows = [
        {"message_id": m.id, "seq": seq, "connector_id": connector_id, "upstream_id": up}
        for m, ups in zip(messages, ids, strict=True)
        for seq, up in enumerate(ups)
    ]
    async with ctx.db.session() as session:
        await repo.insert_parts(session, rows)
        fresh = await repo.get_many(session, [m.id for m in messages])
        await transitions.apply(
            session,
            ctx=ctx,
            changes=[transitions.Change(m, "sent", connector_id=connector_id) for m in fresh],
        )
        if not match:
            return 0
        keys = [(connector_id, up) for ups in ids for up in ups]
        return await dlr.match_new_parts(session, ctx=ctx, keys=keys)


async def reload(ctx: AppContext, message_id: str) -> Message:
    async with ctx.db.session() as session:
        [message] = await repo.get_many(session, [message_id])
    return message


async def part_states(ctx: AppContext, message_id: str) -> list[tuple[str, str | None]]:
    async with ctx.db.session() as session:
        return [(p.status, p.error_code) for p in await repo.parts_of(session, [message_id])]


async def history(ctx: AppContext, message_id: str) -> list[tuple[str, str | None, str | None]]:
    async with ctx.db.session() as session:
        return [(e.status, e.code, e.detail) for e in await repo.events_of(session, message_id)]


async def held_for(ctx: AppContext, connector_id: str, ids: list[str]) -> int:
    async with ctx.db.session() as session:
        return len(await repo.pending_for(session, [(connector_id, u) for u in ids]))


# --- single-part messages -----------------------------------------------------------------------


async def test_delivered_receipt_finishes_the_message(ctx: AppContext) -> None:
    tenant = await make_tenant(ctx)
    assert tenant.tenant_id
    connector_id, [message], [[up]] = await sent_messages(ctx, tenant.tenant_id)

    result = await dlr.ingest(ctx, [receipt(connector_id, up)])

    assert (result.applied, result.finalized, result.held) == (1, 1, 0)
    done = await reload(ctx, message.id)
    assert (done.status, done.error_code, done.raw_code, done.parts_done) == (
        "delivered",
        None,
        "DELIVRD",
        1,
    )
    assert done.done_at is not None
    assert await part_states(ctx, message.id) == [("delivered", None)]
    statuses = [(status, code) for status, code, _ in await history(ctx, message.id)]
    assert statuses == [("sending", None), ("sent", None), ("delivered", None)]
    assert "DELIVRD" in (await history(ctx, message.id))[-1][2]


async def test_undelivered_receipt_keeps_the_code_and_raw_code(ctx: AppContext) -> None:
    tenant = await make_tenant(ctx)
    assert tenant.tenant_id
    connector_id, [message], [[up]] = await sent_messages(ctx, tenant.tenant_id)
    bad = receipt(connector_id, up, "undelivered", error_code="UNDELIVERABLE", raw_code="MK:0001")

    await dlr.ingest(ctx, [bad])

    done = await reload(ctx, message.id)
    assert (done.status, done.error_code, done.raw_code) == (
        "undelivered",
        "UNDELIVERABLE",
        "MK:0001",
    )
    last = (await history(ctx, message.id))[-1]
    assert last[:2] == ("undelivered", "UNDELIVERABLE") and "MK:0001" in (last[2] or "")


@pytest.mark.parametrize(
    ("status", "message_status", "code"),
    [
        ("rejected", "undelivered", "REJECTED_BY_CARRIER"),
        ("unknown", "undelivered", "DELIVERY_UNKNOWN"),
        ("expired", "expired", "DELIVERY_EXPIRED"),
    ],
)
async def test_receipt_without_a_code_gets_the_default_one(
    ctx: AppContext, status: ReceiptStatus, message_status: str, code: str
) -> None:
    tenant = await make_tenant(ctx)
    assert tenant.tenant_id
    connector_id, [message], [[up]] = await sent_messages(ctx, tenant.tenant_id)

    await dlr.ingest(ctx, [receipt(connector_id, up, status)])

    done = await reload(ctx, message.id)
    assert (done.status, done.error_code) == (message_status, code)


async def test_intermediate_receipt_records_and_decides_nothing(ctx: AppContext) -> None:
    tenant = await make_tenant(ctx)
    assert tenant.tenant_id
    connector_id, [message], [[up]] = await sent_messages(ctx, tenant.tenant_id)

    result = await dlr.ingest(ctx, [receipt(connector_id, up, "accepted", raw_code="ACCEPTD")])

    assert (result.progress, result.applied, result.finalized) == (1, 0, 0)
    assert (await reload(ctx, message.id)).status == "sent"
    assert await part_states(ctx, message.id) == [("accepted", None)]
    await dlr.ingest(ctx, [receipt(connector_id, up)])
    assert (await reload(ctx, message.id)).status == "delivered"


async def test_duplicate_receipts_are_ignored(ctx: AppContext) -> None:
    tenant = await make_tenant(ctx)
    assert tenant.tenant_id
    connector_id, [message], [[up]] = await sent_messages(ctx, tenant.tenant_id)
    first = receipt(connector_id, up)

    once = await dlr.ingest(ctx, [first, first])  # twice in one batch
    again = await dlr.ingest(ctx, [receipt(connector_id, up, "undelivered")])  # and later

    assert (once.applied, once.duplicates, once.finalized) == (1, 1, 1)
    assert (again.applied, again.duplicates, again.finalized) == (0, 1, 0)
    done = await reload(ctx, message.id)
    assert (done.status, done.error_code) == ("delivered", None)
    assert [s for s, _, _ in await history(ctx, message.id)].count("delivered") == 1
    async with ctx.db.session() as session:
        [row] = await repo.stats(
            session,
            tenant_id=tenant.tenant_id,
            group_by="tenant_id",
            day_from="2000-01-01",
            day_to="2999-12-31",
            filters={},
        )
    assert (row["submitted"], row["sent"], row["delivered"], row["undelivered"]) == (1, 1, 1, 0)


# --- long messages ------------------------------------------------------------------------------


async def test_long_message_is_delivered_when_every_part_is(ctx: AppContext) -> None:
    tenant = await make_tenant(ctx)
    assert tenant.tenant_id
    connector_id, [message], [ups] = await sent_messages(ctx, tenant.tenant_id, parts=3)

    await dlr.ingest(ctx, [receipt(connector_id, ups[0]), receipt(connector_id, ups[2])])

    waiting = await reload(ctx, message.id)
    assert (waiting.status, waiting.parts_done) == ("sent", 2)
    await dlr.ingest(ctx, [receipt(connector_id, ups[1])])
    done = await reload(ctx, message.id)
    assert (done.status, done.parts_done) == ("delivered", 3)
    assert "all 3 parts delivered" in ((await history(ctx, message.id))[-1][2] or "")


async def test_long_message_takes_the_first_failed_part_in_order(ctx: AppContext) -> None:
    tenant = await make_tenant(ctx)
    assert tenant.tenant_id
    connector_id, [message], [ups] = await sent_messages(ctx, tenant.tenant_id, parts=3)

    # The last part fails first (expired); it decides nothing while parts are outstanding.
    await dlr.ingest(ctx, [receipt(connector_id, ups[2], "expired")])
    await dlr.ingest(ctx, [receipt(connector_id, ups[0])])
    assert (await reload(ctx, message.id)).status == "sent"
    bad = receipt(
        connector_id, ups[1], "undelivered", error_code="UNDELIVERABLE", raw_code="UNDELIV"
    )
    await dlr.ingest(ctx, [bad])

    done = await reload(ctx, message.id)
    # Part 2 (seq 1) comes before part 3 (seq 2): undelivered with its code, not expired.
    assert (done.status, done.error_code, done.raw_code) == (
        "undelivered",
        "UNDELIVERABLE",
        "UNDELIV",
    )
    assert await part_states(ctx, message.id) == [
        ("delivered", None),
        ("undelivered", "UNDELIVERABLE"),
        ("expired", "DELIVERY_EXPIRED"),
    ]
    assert "part 2 of 3" in ((await history(ctx, message.id))[-1][2] or "")


async def test_batch_of_receipts_for_many_messages(ctx: AppContext) -> None:
    tenant = await make_tenant(ctx)
    assert tenant.tenant_id
    connector_id, messages, ids = await sent_messages(ctx, tenant.tenant_id, parts=2, count=30)
    receipts = [receipt(connector_id, up) for ups in ids for up in ups]
    receipts[5] = receipt(connector_id, ids[2][1], "undelivered")  # message 2, part 2

    result = await dlr.ingest(ctx, receipts[::-1])  # any order

    assert (result.applied, result.finalized) == (60, 30)
    async with ctx.db.session() as session:
        statuses = {m.id: m.status for m in await repo.get_many(session, [m.id for m in messages])}
    assert statuses.pop(messages[2].id) == "undelivered"
    assert set(statuses.values()) == {"delivered"}


# --- receipts that come before their submit is recorded -----------------------------------------


async def test_receipt_before_submit_is_held_then_applied(ctx: AppContext) -> None:
    tenant = await make_tenant(ctx)
    assert tenant.tenant_id
    connector_id = new_id("con")
    [message] = await make_messages(ctx, tenant.tenant_id, status="sending", segments=2)
    ups = upstream(2)

    early = await dlr.ingest(ctx, [receipt(connector_id, u) for u in ups])

    assert (early.held, early.applied) == (2, 0)
    assert await held_for(ctx, connector_id, ups) == 2
    assert (await reload(ctx, message.id)).status == "sending"

    used = await record_sent(ctx, connector_id, [message], [ups], match=True)

    assert used == 2
    assert await held_for(ctx, connector_id, ups) == 0
    done = await reload(ctx, message.id)
    assert (done.status, done.parts_done) == ("delivered", 2)
    assert [s for s, _, _ in await history(ctx, message.id)] == ["sending", "sent", "delivered"]


async def test_held_receipt_the_dispatcher_missed_is_applied_by_the_job(ctx: AppContext) -> None:
    tenant = await make_tenant(ctx)
    assert tenant.tenant_id
    connector_id = new_id("con")
    [message] = await make_messages(ctx, tenant.tenant_id, status="sending")
    [up] = upstream(1)
    await dlr.ingest(ctx, [receipt(connector_id, up, "undelivered", error_code="UNDELIVERABLE")])
    # The part is recorded by a process that did not see the held receipt (a race).
    await record_sent(ctx, connector_id, [message], [[up]], match=False)
    assert (await reload(ctx, message.id)).status == "sent"

    assert await match_pending_receipts(ctx) >= 1

    done = await reload(ctx, message.id)
    assert (done.status, done.error_code) == ("undelivered", "UNDELIVERABLE")
    assert await held_for(ctx, connector_id, [up]) == 0


async def test_receipts_held_too_long_are_dropped(ctx: AppContext) -> None:
    connector_id = new_id("con")
    ups = upstream(2)
    await dlr.ingest(ctx, [receipt(connector_id, u) for u in ups])
    later = utcnow() + timedelta(days=ctx.settings.receipt_hold_days, minutes=1)
    before = dlr.UNMATCHED._value.get()

    assert await dlr.purge_unmatched(ctx, now=later) >= 2

    assert await held_for(ctx, connector_id, ups) == 0
    assert dlr.UNMATCHED._value.get() >= before + 2


# --- billing --------------------------------------------------------------------------------------


async def test_undelivered_is_refunded_under_on_delivery(ctx: AppContext) -> None:
    tenant = await make_tenant(ctx)
    assert tenant.tenant_id
    async with ctx.db.session() as session:
        await billing.topup(
            session, actor=accounts.CLI_ACTOR, tenant_id=tenant.tenant_id, amount=1000, note=None
        )
        await billing.update_account(
            session,
            actor=accounts.CLI_ACTOR,
            tenant_id=tenant.tenant_id,
            req=BillingUpdate(charge_policy="on_delivery"),
        )
    connector_id = new_id("con")
    messages = await make_messages(ctx, tenant.tenant_id, 2, status="sending", amount=45)
    async with ctx.db.session() as session:
        await billing.hold(
            session, tenant_id=tenant.tenant_id, items=[(m.id, 45) for m in messages]
        )
    ids = [upstream(1) for _ in messages]
    await record_sent(ctx, connector_id, messages, ids, match=False)
    async with ctx.db.session() as session:
        assert await billing.available(session, tenant_id=tenant.tenant_id) == 910

    await dlr.ingest(
        ctx,
        [
            receipt(connector_id, ids[0][0]),
            receipt(connector_id, ids[1][0], "undelivered", error_code="UNDELIVERABLE"),
        ],
    )

    async with ctx.db.session() as session:
        account = await billing.get_account(session, tenant_id=tenant.tenant_id)
        kinds = await billing.ledger_summary(session, tenant_id=tenant.tenant_id)
    assert (account.balance, account.held) == (955, 0)  # the undelivered one came back
    assert set(kinds) >= {"topup", "hold", "confirm", "refund"}


# --- two sinks at once, one long message (row locks; SQLite's write lock) ----------------------


async def test_concurrent_receipts_for_parts_of_one_message(ctx: AppContext) -> None:
    tenant = await make_tenant(ctx)
    assert tenant.tenant_id
    connector_id, messages, ids = await sent_messages(ctx, tenant.tenant_id, parts=2, count=40)
    firsts = [receipt(connector_id, ups[0]) for ups in ids]
    seconds = [receipt(connector_id, ups[1]) for ups in ids]

    # Two sinks at once, as two processes would be, each with one part of every message.
    results = await asyncio.gather(
        *(dlr.ingest(ctx, [r]) for pair in zip(firsts, seconds, strict=True) for r in pair)
    )

    assert sum(r.finalized for r in results) == 40
    async with ctx.db.session() as session:
        done = await repo.get_many(session, [m.id for m in messages])
        events = [e for m in messages for e in await repo.events_of(session, m.id)]
    assert {(m.status, m.parts_done) for m in done} == {("delivered", 2)}
    assert sum(1 for e in events if e.status == "delivered") == 40


# --- the simulator connector, handing receipts to the sink --------------------------------------


async def test_simulator_receipts_reach_messages_through_the_sink(ctx: AppContext) -> None:
    tenant = await make_tenant(ctx)
    assert tenant.tenant_id
    simulator = SimulatorConnector(new_id("con"), {"receipt_delay_ms": 0})
    await simulator.start(dlr.sinks(ctx))
    good = await make_messages(ctx, tenant.tenant_id, 20, status="sending", segments=2)
    [bad] = await make_messages(ctx, tenant.tenant_id, 1, status="sending", msisdn="+8613800000001")
    messages = [*good, bad]
    try:
        results = await simulator.send([outbound(m) for m in messages])
        sent = [r for r in results if isinstance(r, SendResult)]
        assert len(sent) == len(messages)
        # Receipts come at once: most are stored (held) before the submit is recorded.
        for _ in range(100):
            if simulator.pending_receipts() == 0:
                break
            await asyncio.sleep(0.02)
        await record_sent(
            ctx, simulator.id, messages, [list(r.upstream_ids) for r in sent], match=True
        )
        await match_pending_receipts(ctx)  # whatever landed while the parts were recorded
    finally:
        await simulator.close()

    async with ctx.db.session() as session:
        done = {m.id: m for m in await repo.get_many(session, [m.id for m in messages])}
    assert {done[m.id].status for m in good} == {"delivered"}
    assert (done[bad.id].status, done[bad.id].error_code, done[bad.id].raw_code) == (
        "undelivered",
        "UNDELIVERABLE",
        "SIM_UNDELIV",
    )
    assert await held_for(ctx, simulator.id, [u for r in sent for u in r.upstream_ids]) == 0


async def test_malformed_receipts_never_fail_the_batch(ctx: AppContext) -> None:
    tenant = await make_tenant(ctx)
    assert tenant.tenant_id
    connector_id, [message], [[up]] = await sent_messages(ctx, tenant.tenant_id)
    long_code = "X" * 200

    result = await dlr.ingest(
        ctx,
        [
            receipt(connector_id, "u" * 101),  # longer than any upstream id we store
            receipt(
                connector_id, up, "undelivered", error_code="UNDELIVERABLE", raw_code=long_code
            ),
        ],
    )

    assert (result.applied, result.held) == (1, 0)
    done = await reload(ctx, message.id)
    assert (done.status, done.raw_code) == ("undelivered", "X" * 64)
