"""Status changes recorded per batch, on both backends: what each message gets is what it
would get alone — rows, history, statistics, metrics, webhooks, settlement.

``transitions.apply`` groups a batch into one statement per kind of row (one UPDATE per set of
new values, one statistics row per key, webhook payloads only for somebody who wants them);
these tests mix several groups in one batch and look at every message's own outcome.
"""

from __future__ import annotations

import secrets
from typing import Any

import httpx
from prometheus_client import REGISTRY
from sqlalchemy import event, select

from hongyan.accounts import service as accounts
from hongyan.api.context import AppContext
from hongyan.billing import service as billing
from hongyan.ids import new_id
from hongyan.messages import repository as repo
from hongyan.messages import transitions
from hongyan.models import LedgerEntry, Message, MessageStat, WebhookDelivery
from tests.conftest import KeyPair, make_tenant
from tests.factories import make_messages

NOWHERE = "http://127.0.0.1:9"  # refused at once: deliveries left pending go nowhere


async def apply(ctx: AppContext, changes: list[tuple[Message, str, dict[str, Any]]]) -> None:
    """Apply changes to freshly read messages, in one transaction (as the dispatcher does)."""
    async with ctx.db.session() as session:
        fresh = {m.id: m for m in await repo.get_many(session, [m.id for m, _, _ in changes])}
        batch = [transitions.Change(fresh[m.id], status, **kw) for m, status, kw in changes]
        await transitions.apply(session, ctx=ctx, changes=batch)
        for change in batch:  # the loaded objects follow their rows
            assert change.message.status == change.status


async def stat_counts(ctx: AppContext, tenant_id: str) -> dict[tuple[str, str], tuple[int, ...]]:
    """(sign, connector) -> (sent, failed, delivered) of the tenant's statistics rows."""
    async with ctx.db.session() as session:
        rows = await session.execute(select(MessageStat).where(MessageStat.tenant_id == tenant_id))
        return {
            (s.sign, s.connector_id): (s.sent, s.failed, s.delivered)
            for s in rows.scalars()
            if (s.sent, s.failed, s.delivered) != (0, 0, 0)
        }


def counted(status: str, connector: str) -> float:
    labels = {"status": status, "kind": "notification", "connector": connector}
    return REGISTRY.get_sample_value("hongyan_messages_total", labels) or 0.0


async def test_a_mixed_batch_gives_each_message_its_own_outcome(ctx: AppContext) -> None:
    who = await make_tenant(ctx)
    tid = str(who.tenant_id)
    first, second = new_id("con"), new_id("con")
    jia = await make_messages(ctx, tid, 5, sign="甲")
    yi = await make_messages(ctx, tid, 3, sign="乙")
    before = counted("sent", first), counted("sent", second), counted("failed", first)

    await apply(
        ctx,
        [(m, "sent", {"connector_id": first}) for m in jia[:4]]
        + [(yi[0], "sent", {"connector_id": first, "raw_code": "0"})]
        + [(m, "sent", {"connector_id": second}) for m in yi[1:]]
        + [(jia[4], "failed", {"connector_id": first, "code": "REJECTED", "detail": "no"})],
    )

    assert await stat_counts(ctx, tid) == {
        ("甲", first): (4, 1, 0),
        ("乙", first): (1, 0, 0),
        ("乙", second): (2, 0, 0),
    }
    after = counted("sent", first), counted("sent", second), counted("failed", first)
    assert [a - b for a, b in zip(after, before, strict=True)] == [5, 2, 1]
    async with ctx.db.session() as session:
        rows = {m.id: m for m in await repo.get_many(session, [m.id for m in jia + yi])}
        history = {m_id: await repo.events_of(session, m_id) for m_id in rows}
    for m in jia[:4] + yi:
        row = rows[m.id]
        assert (row.status, row.error_code, row.lease_owner) == ("sent", None, None)
        assert row.sent_at is not None and row.done_at is None
        assert [e.status for e in history[m.id]] == ["queued", "sent"]
    assert {rows[m.id].connector_id for m in yi[1:]} == {second}
    assert (rows[yi[0].id].raw_code, rows[jia[0].id].raw_code) == ("0", None)
    failed = rows[jia[4].id]
    assert (failed.status, failed.error_code, failed.error_detail) == ("failed", "REJECTED", "no")
    assert failed.done_at is not None and failed.sent_at is None
    assert [(e.status, e.code) for e in history[failed.id]] == [
        ("queued", None),
        ("failed", "REJECTED"),
    ]


async def test_webhooks_only_for_the_changes_somebody_wants(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    subscribed, silent = await make_tenant(ctx), await make_tenant(ctx)
    body = {"url": f"{NOWHERE}/failed", "events": ["message.failed"], "description": "t"}
    response = await client.post("/v1/webhooks", json=body, headers=subscribed.basic)
    assert response.status_code == 201, response.text
    connector = new_id("con")
    callback = f"{NOWHERE}/callback/{secrets.token_hex(3)}"
    sent, failed = await make_messages(ctx, str(subscribed.tenant_id), 2)
    plain, called_back = await make_messages(ctx, str(silent.tenant_id), 2)
    async with ctx.db.session() as session:
        await repo.update_messages(session, [called_back.id], callback_url=callback)

    await apply(
        ctx,
        [
            (sent, "sent", {"connector_id": connector}),
            (failed, "failed", {"code": "NO_ROUTE"}),
            (plain, "sent", {"connector_id": connector}),
            (called_back, "sent", {"connector_id": connector}),
        ],
    )

    async with ctx.db.session() as session:
        stmt = select(WebhookDelivery).where(
            WebhookDelivery.tenant_id.in_([subscribed.tenant_id, silent.tenant_id])
        )
        queued = list((await session.execute(stmt)).scalars())
    assert sorted((d.event_type, d.payload["id"], d.url) for d in queued) == sorted(
        [
            ("message.failed", failed.id, f"{NOWHERE}/failed"),
            ("message.sent", called_back.id, callback),
        ]
    )
    payload = next(d.payload for d in queued if d.payload["id"] == failed.id)
    assert (payload["status"], payload["error_code"]) == ("failed", "NO_ROUTE")


# --- settlement reads the ledger by message ----------------------------------------------------


async def topup_and_hold(ctx: AppContext, tenant: KeyPair, items: list[tuple[str, int]]) -> None:
    tid = str(tenant.tenant_id)
    async with ctx.db.session() as session:
        await billing.topup(
            session, actor=accounts.CLI_ACTOR, tenant_id=tid, amount=1000, note="test"
        )
    async with ctx.db.session() as session:
        await billing.hold(session, tenant_id=tid, items=items)


async def figures(ctx: AppContext, tenant: KeyPair) -> tuple[int, int, int]:
    """(balance, held, ledger entries) of a tenant."""
    tid = str(tenant.tenant_id)
    async with ctx.db.session() as session:
        account = await billing.get_account(session, tenant_id=tid)
        entries = await session.execute(select(LedgerEntry).where(LedgerEntry.tenant_id == tid))
        return account.balance, account.held, len(entries.all())


async def test_a_settlement_never_touches_another_tenants_hold(ctx: AppContext) -> None:
    owner, other = await make_tenant(ctx), await make_tenant(ctx)
    mine, theirs = new_id("msg"), new_id("msg")
    await topup_and_hold(ctx, owner, [(mine, 100)])
    await topup_and_hold(ctx, other, [(theirs, 70)])

    # The other tenant names the owner's message: it holds nothing for it, so nothing moves.
    async with ctx.db.session() as session:
        await billing.settle(
            session, tenant_id=str(other.tenant_id), confirmed=[mine], refunded=[(mine, 100)]
        )
    assert await figures(ctx, owner) == (900, 100, 2)
    assert await figures(ctx, other) == (930, 70, 2)

    async with ctx.db.session() as session:
        await billing.settle(
            session, tenant_id=str(owner.tenant_id), confirmed=[], refunded=[(mine, 100)]
        )
    assert await figures(ctx, owner) == (1000, 0, 3)
    assert await figures(ctx, other) == (930, 70, 2)


async def test_a_settlement_reads_its_messages_entries_not_the_whole_ledger(
    ctx: AppContext, tenant: KeyPair
) -> None:
    ids = [new_id("msg") for _ in range(3)]
    await topup_and_hold(ctx, tenant, [(i, 10) for i in ids])
    reads: list[tuple[str, Any]] = []

    def seen(conn: Any, cursor: Any, statement: str, params: Any, *args: Any) -> None:
        if statement.lstrip().startswith("SELECT") and "FROM ledger_entry" in statement:
            reads.append((statement, params))

    engine = ctx.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        async with ctx.db.session() as session:
            await billing.settle(
                session, tenant_id=str(tenant.tenant_id), confirmed=ids, refunded=[]
            )
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert await figures(ctx, tenant) == (970, 0, 7)  # a top-up, 3 holds, 3 confirms

    [(statement, params)] = reads
    if ctx.db.is_sqlite:  # PostgreSQL's plan depends on its statistics; SQLite's does not
        async with ctx.db.engine.connect() as conn:
            plan = await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params)
            steps = " ".join(str(row[-1]) for row in plan)
        assert "ix_ledger_entry_message_id" in steps, steps
