"""Billing over the API and the service, on both backends: prices and quotes, top-ups and
adjustments, holds and settlement, the ledger invariant, also under concurrency.

The price table is shared by every test of a session: each test prices countries of its own and
removes its prices again; a test that needs "no price" takes the defaults away and puts them back.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import event, select

from hongyan import errors
from hongyan.accounts import service as accounts
from hongyan.api.context import AppContext
from hongyan.billing import prices, service
from hongyan.billing.cache import TERMS
from hongyan.billing.schemas import BillingUpdate
from hongyan.db import Database
from hongyan.ids import new_id
from hongyan.models import BillingAccount, LedgerEntry
from tests.conftest import KeyPair, make_tenant

Json = dict[str, Any]
OP = accounts.CLI_ACTOR


def msg() -> str:
    return new_id("msg")


async def topup(ctx: AppContext, tenant_id: str, amount: int) -> None:
    async with ctx.db.session() as session:
        await service.topup(session, actor=OP, tenant_id=tenant_id, amount=amount, note="test")


async def hold(ctx: AppContext, tenant_id: str, items: list[tuple[str, int]]) -> None:
    async with ctx.db.session() as session:
        await service.hold(session, tenant_id=tenant_id, items=items)


async def settle(
    ctx: AppContext,
    tenant_id: str,
    confirmed: list[str] | None = None,
    refunded: list[tuple[str, int]] | None = None,
) -> None:
    async with ctx.db.session() as session:
        await service.settle(
            session, tenant_id=tenant_id, confirmed=confirmed or [], refunded=refunded or []
        )


async def account_of(ctx: AppContext, tenant_id: str) -> BillingAccount:
    async with ctx.db.session() as session:
        return await service.get_account(session, tenant_id=tenant_id)


async def check_invariant(ctx: AppContext, tenant_id: str) -> BillingAccount:
    """balance == sum of entries >= 0; held == the holds not yet confirmed or refunded."""
    async with ctx.db.session() as session:
        account = await service.get_account(session, tenant_id=tenant_id)
        stmt = select(LedgerEntry).where(LedgerEntry.tenant_id == tenant_id)
        entries = list((await session.execute(stmt)).scalars())
    assert account.balance == sum(e.amount for e in entries) >= 0
    final = {e.message_id for e in entries if e.kind in ("confirm", "refund")}
    outstanding = sum(-e.amount for e in entries if e.kind == "hold" and e.message_id not in final)
    assert account.held == outstanding
    for entry in entries:
        assert entry.currency == account.currency
    return account


async def set_price(
    ctx: AppContext, country: str, unit_price: int, kind: str = "*", currency: str = "CNY"
) -> None:
    async with ctx.db.session() as session:
        await prices.set_price(
            session,
            ctx=ctx,
            actor=OP,
            country=country,
            kind=kind,
            unit_price=unit_price,
            currency=currency,
        )


async def remove_price(ctx: AppContext, country: str, kind: str = "*") -> None:
    async with ctx.db.session() as session:
        await prices.remove_price(session, ctx=ctx, actor=OP, country=country, kind=kind)


async def quote(ctx: AppContext, tenant_id: str, region: str | None, kind: str, n: int) -> Any:
    async with ctx.db.session() as session:
        return await service.quote(
            session, ctx=ctx, tenant_id=tenant_id, region=region, kind=kind, segments=n
        )


@pytest.fixture
async def no_default_prices(ctx: AppContext) -> AsyncIterator[None]:
    """Take away the ("*", kind) prices other tests may have set, and put them back after."""
    async with ctx.db.session() as session:
        rows = await prices.list_prices(session, limit=100, before_id=None, country="*")
        saved = [(p.country, p.kind, p.unit_price, p.currency) for p in rows]
    for country, kind, _, _ in saved:
        await remove_price(ctx, country, kind)
    yield
    for country, kind, unit_price, currency in saved:
        await set_price(ctx, country, unit_price, kind, currency)


# --- the tenant's view ------------------------------------------------------------------------


async def test_a_new_tenant_has_an_empty_account(
    client: httpx.AsyncClient, tenant: KeyPair
) -> None:
    balance = (await client.get("/v1/balance", headers=tenant.basic)).json()
    assert balance == {
        "tenant_id": tenant.tenant_id,
        "currency": "CNY",
        "balance": 0,
        "held": 0,
        "charge_policy": "on_send",
        "low_balance_threshold": None,
        "low_balance": False,
    }
    ledger = (await client.get("/v1/ledger", headers=tenant.basic)).json()
    assert ledger == {"data": [], "next_cursor": None}


async def test_topup_shows_in_balance_ledger_and_audit(
    client: httpx.AsyncClient, tenant: KeyPair, operator: KeyPair
) -> None:
    path = f"/v1/admin/tenants/{tenant.tenant_id}/topup"
    response = await client.post(
        path, json={"amount": 10000, "note": "wire"}, headers=operator.basic
    )
    assert response.status_code == 201, response.text
    entry = response.json()
    assert entry["id"].startswith("led_")
    assert (entry["kind"], entry["amount"], entry["currency"]) == ("topup", 10000, "CNY")
    assert (entry["balance_after"], entry["note"], entry["message_id"]) == (10000, "wire", None)

    balance = (await client.get("/v1/balance", headers=tenant.basic)).json()
    assert (balance["balance"], balance["held"]) == (10000, 0)
    ledger = (await client.get("/v1/ledger", headers=tenant.basic)).json()["data"]
    assert [e["id"] for e in ledger] == [entry["id"]]
    audit = await client.get(
        f"/v1/admin/audit?tenant_id={tenant.tenant_id}", headers=operator.basic
    )
    topups = [a for a in audit.json()["data"] if a["action"] == "billing.topup"]
    assert topups[0]["target_id"] == entry["id"] and topups[0]["details"]["amount"] == 10000


async def test_topup_with_an_idempotency_key_is_applied_once(
    client: httpx.AsyncClient, tenant: KeyPair, operator: KeyPair
) -> None:
    path = f"/v1/admin/tenants/{tenant.tenant_id}/topup"
    headers = {**operator.basic, "Idempotency-Key": secrets.token_hex(8)}
    first = await client.post(path, json={"amount": 500}, headers=headers)
    again = await client.post(path, json={"amount": 500}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    other = await client.post(path, json={"amount": 600}, headers=headers)
    assert other.status_code == 409 and other.json()["error"]["code"] == "LEDGER_KEY_REUSED"
    assert (await client.get("/v1/balance", headers=tenant.basic)).json()["balance"] == 500


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"amount": 0}, 422, "FIELD_INVALID"),
        ({"amount": -5}, 422, "FIELD_INVALID"),
        ({"amount": 1.5}, 422, "FIELD_INVALID"),
        ({}, 422, "FIELD_REQUIRED"),
    ],
)
async def test_invalid_topups_are_refused(
    client: httpx.AsyncClient,
    tenant: KeyPair,
    operator: KeyPair,
    body: Json,
    status: int,
    code: str,
) -> None:
    path = f"/v1/admin/tenants/{tenant.tenant_id}/topup"
    response = await client.post(path, json=body, headers=operator.basic)
    assert (response.status_code, response.json()["error"]["code"]) == (status, code)


async def test_who_may_call_what(
    client: httpx.AsyncClient, ctx: AppContext, tenant: KeyPair, operator: KeyPair
) -> None:
    sender = await make_tenant(ctx, scopes=["send"])
    refused = await client.get("/v1/balance", headers=sender.basic)
    assert refused.json()["error"]["code"] == "SCOPE_MISSING"
    for method, path in (
        ("POST", f"/v1/admin/tenants/{tenant.tenant_id}/topup"),
        ("GET", "/v1/admin/prices"),
        ("GET", f"/v1/admin/tenants/{tenant.tenant_id}/billing"),
    ):
        response = await client.request(method, path, json={"amount": 1}, headers=tenant.basic)
        assert response.json()["error"]["code"] == "OPERATOR_REQUIRED"
    response = await client.get("/v1/balance", headers=operator.basic)
    assert response.json()["error"]["code"] == "TENANT_KEY_REQUIRED"
    for path in ("/v1/admin/tenants/ten_nope/billing", "/v1/admin/tenants/ten_nope/ledger"):
        response = await client.get(path, headers=operator.basic)
        assert response.json()["error"]["code"] == "TENANT_NOT_FOUND"
    response = await client.post(
        "/v1/admin/tenants/ten_nope/topup", json={"amount": 1}, headers=operator.basic
    )
    assert response.json()["error"]["code"] == "TENANT_NOT_FOUND"


async def test_adjustments_go_both_ways_but_never_below_zero(
    client: httpx.AsyncClient, ctx: AppContext, tenant: KeyPair, operator: KeyPair
) -> None:
    assert tenant.tenant_id
    await topup(ctx, tenant.tenant_id, 1000)
    path = f"/v1/admin/tenants/{tenant.tenant_id}/adjust"
    up = await client.post(path, json={"amount": 250, "note": "goodwill"}, headers=operator.basic)
    down = await client.post(path, json={"amount": -450, "note": "fix"}, headers=operator.basic)
    assert (up.status_code, down.status_code) == (201, 201)
    assert (up.json()["balance_after"], down.json()["balance_after"]) == (1250, 800)
    assert down.json()["kind"] == "adjustment" and down.json()["amount"] == -450

    too_much = await client.post(path, json={"amount": -801, "note": "x"}, headers=operator.basic)
    assert too_much.status_code == 402
    error = too_much.json()["error"]
    assert error["code"] == "INSUFFICIENT_BALANCE" and "800" in error["message"]
    zero = await client.post(path, json={"amount": 0, "note": "x"}, headers=operator.basic)
    no_note = await client.post(path, json={"amount": 5}, headers=operator.basic)
    assert zero.json()["error"]["code"] == "FIELD_INVALID"
    assert no_note.json()["error"]["code"] == "FIELD_REQUIRED"
    account = await check_invariant(ctx, tenant.tenant_id)
    assert account.balance == 800


# --- prices and quotes ------------------------------------------------------------------------


async def test_prices_are_upserted_listed_and_removed(
    client: httpx.AsyncClient, operator: KeyPair
) -> None:
    body = {"country": "is", "kind": "marketing", "unit_price": 45, "currency": "cny"}
    first = await client.put("/v1/admin/prices", json=body, headers=operator.basic)
    assert first.status_code == 200, first.text
    price = first.json()
    assert (price["country"], price["kind"], price["unit_price"], price["currency"]) == (
        "IS",
        "marketing",
        45,
        "CNY",
    )
    second = await client.put(
        "/v1/admin/prices", json={**body, "unit_price": 50}, headers=operator.basic
    )
    assert second.json()["id"] == price["id"] and second.json()["unit_price"] == 50

    listed = await client.get("/v1/admin/prices?country=IS", headers=operator.basic)
    assert [(p["kind"], p["unit_price"]) for p in listed.json()["data"]] == [("marketing", 50)]
    query = "/v1/admin/prices?country=IS&kind=marketing"
    assert (await client.delete(query, headers=operator.basic)).status_code == 204
    gone = await client.delete(query, headers=operator.basic)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "PRICE_NOT_FOUND"


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"country": "XX", "unit_price": 1}, "NUMBER_REGION_UNKNOWN", "country"),
        ({"country": "CHN", "unit_price": 1}, "FIELD_INVALID", "country"),
        ({"country": "CN", "unit_price": -1}, "FIELD_INVALID", "unit_price"),
        ({"country": "CN", "unit_price": 1.5}, "FIELD_INVALID", "unit_price"),
        ({"country": "CN", "unit_price": 1, "kind": "spam"}, "FIELD_INVALID", "kind"),
        ({"country": "CN", "unit_price": 1, "currency": "yuan"}, "FIELD_INVALID", "currency"),
        ({"country": "CN"}, "FIELD_REQUIRED", "unit_price"),
    ],
)
async def test_invalid_prices_are_refused(
    client: httpx.AsyncClient, operator: KeyPair, body: Json, code: str, field: str
) -> None:
    response = await client.put("/v1/admin/prices", json=body, headers=operator.basic)
    assert response.status_code == 422, response.text
    assert (response.json()["error"]["code"], response.json()["error"]["field"]) == (code, field)


async def test_the_most_specific_price_wins(ctx: AppContext, tenant: KeyPair) -> None:
    assert tenant.tenant_id
    await set_price(ctx, "FI", 10)
    await set_price(ctx, "FI", 7, kind="verification")
    try:
        verification = await quote(ctx, tenant.tenant_id, "fi", "verification", 2)
        assert (verification.unit_price, verification.amount, verification.currency) == (
            7,
            14,
            "CNY",
        )
        marketing = await quote(ctx, tenant.tenant_id, "FI", "marketing", 3)
        assert (marketing.unit_price, marketing.amount) == (10, 30)
    finally:
        await remove_price(ctx, "FI", "verification")
        await remove_price(ctx, "FI")


@pytest.mark.usefixtures("no_default_prices")
async def test_no_price_then_the_default_price(ctx: AppContext, tenant: KeyPair) -> None:
    assert tenant.tenant_id
    with pytest.raises(errors.HongyanError) as refused:
        await quote(ctx, tenant.tenant_id, "ZW", "marketing", 1)
    assert refused.value.code == "PRICE_NOT_SET" and "'ZW'" in refused.value.message()
    with pytest.raises(errors.HongyanError) as unknown:
        await quote(ctx, tenant.tenant_id, None, "notification", 1)
    assert unknown.value.code == "PRICE_NOT_SET"
    await set_price(ctx, "*", 5, kind="marketing")
    try:
        assert (await quote(ctx, tenant.tenant_id, "ZW", "marketing", 2)).amount == 10
        assert (await quote(ctx, tenant.tenant_id, None, "marketing", 1)).amount == 5
    finally:
        await remove_price(ctx, "*", "marketing")


async def test_price_currency_must_match_the_account(
    client: httpx.AsyncClient, ctx: AppContext, tenant: KeyPair, operator: KeyPair
) -> None:
    assert tenant.tenant_id
    await set_price(ctx, "EE", 3, currency="USD")
    try:
        with pytest.raises(errors.HongyanError) as refused:
            await quote(ctx, tenant.tenant_id, "EE", "notification", 1)
        assert refused.value.code == "CURRENCY_MISMATCH" and refused.value.status == 409
        path = f"/v1/admin/tenants/{tenant.tenant_id}/billing"
        changed = await client.patch(path, json={"currency": "usd"}, headers=operator.basic)
        assert changed.json()["currency"] == "USD"
        assert (await quote(ctx, tenant.tenant_id, "EE", "notification", 2)).currency == "USD"
    finally:
        await remove_price(ctx, "EE")


async def test_quotes_come_from_the_cache(
    ctx: AppContext, database: Database, tenant: KeyPair
) -> None:
    """A quote costs no query once the table is cached; changes elsewhere arrive on refresh."""
    assert tenant.tenant_id
    await set_price(ctx, "LV", 4)
    slow = AppContext.build(
        ctx.settings.model_copy(update={"billing_refresh_secs": 3600}), database
    )
    eager = AppContext.build(ctx.settings.model_copy(update={"billing_refresh_secs": 0}), database)
    try:
        assert (await quote(slow, tenant.tenant_id, "LV", "notification", 1)).amount == 4
        statements: list[str] = []

        def count(*args: Any) -> None:
            statements.append(args[2])

        event.listen(database.engine.sync_engine, "before_cursor_execute", count)
        try:
            for _ in range(100):
                assert (await quote(slow, tenant.tenant_id, "LV", "notification", 1)).amount == 4
        finally:
            event.remove(database.engine.sync_engine, "before_cursor_execute", count)
        assert statements == []  # sessions open lazily: no query at all for 100 quotes

        await set_price(ctx, "LV", 6)  # another process, as far as slow and eager know
        assert (await quote(ctx, tenant.tenant_id, "LV", "notification", 1)).amount == 6
        assert (await quote(eager, tenant.tenant_id, "LV", "notification", 1)).amount == 6
        assert (await quote(slow, tenant.tenant_id, "LV", "notification", 1)).amount == 4
    finally:
        await remove_price(ctx, "LV")


# --- holds and settlement ---------------------------------------------------------------------


async def test_hold_confirm_refund_and_the_invariant(ctx: AppContext, tenant: KeyPair) -> None:
    tid = tenant.tenant_id
    assert tid
    await topup(ctx, tid, 1000)
    m1, m2, m3, m4 = msg(), msg(), msg(), msg()
    await hold(ctx, tid, [(m1, 100), (m2, 200), (m3, 300)])
    account = await check_invariant(ctx, tid)
    assert (account.balance, account.held) == (400, 600)
    async with ctx.db.session() as session:
        assert await service.available(session, tenant_id=tid) == 400
        holds = await service.list_ledger(
            session, tenant_id=tid, limit=10, before_id=None, kind="hold"
        )
    assert sorted((e.amount, e.balance_after) for e in holds) == [
        (-300, 400),
        (-200, 700),
        (-100, 900),
    ]

    with pytest.raises(errors.HongyanError) as refused:
        await hold(ctx, tid, [(m4, 150), (msg(), 300)])
    assert refused.value.code == "INSUFFICIENT_BALANCE" and refused.value.status == 402
    assert refused.value.params == {"balance": 400, "currency": "CNY", "needed": 450}
    account = await check_invariant(ctx, tid)
    assert (account.balance, account.held) == (400, 600)  # nothing changed

    await settle(ctx, tid, confirmed=[m1], refunded=[(m2, 200)])
    account = await check_invariant(ctx, tid)
    assert (account.balance, account.held) == (600, 300)
    # Settling again, the other way round, or a message never held: all changes nothing.
    await settle(ctx, tid, confirmed=[m1, m2, msg()], refunded=[(m1, 100), (m2, 200), (msg(), 9)])
    account = await check_invariant(ctx, tid)
    assert (account.balance, account.held) == (600, 300)
    # One call naming a message both ways confirms it (confirmed first); the hold decides the sum.
    await settle(ctx, tid, confirmed=[m3], refunded=[(m3, 999)])
    account = await check_invariant(ctx, tid)
    assert (account.balance, account.held) == (600, 0)

    async with ctx.db.session() as session:
        rows = await service.list_ledger(session, tenant_id=tid, limit=50, before_id=None)
        summary = await service.ledger_summary(session, tenant_id=tid)
    assert [(e.kind, e.amount) for e in rows if e.message_id == m1] == [
        ("confirm", 0),
        ("hold", -100),
    ]
    assert summary == {
        "topup": (1, 1000),
        "hold": (3, -600),
        "confirm": (2, 0),
        "refund": (1, 200),
    }


async def test_hold_edge_cases(ctx: AppContext) -> None:
    fresh = await make_tenant(ctx)
    assert fresh.tenant_id
    await hold(ctx, fresh.tenant_id, [])  # nothing to do
    with pytest.raises(errors.HongyanError) as refused:
        await hold(ctx, fresh.tenant_id, [(msg(), 1)])  # no account yet: balance 0
    assert refused.value.params["balance"] == 0
    free = msg()
    await hold(ctx, fresh.tenant_id, [(free, 0)])  # free messages pass, and are recorded
    await settle(ctx, fresh.tenant_id, confirmed=[free])
    await check_invariant(ctx, fresh.tenant_id)
    with pytest.raises(ValueError, match="negative"):
        await hold(ctx, fresh.tenant_id, [(msg(), -1)])
    one = msg()
    with pytest.raises(ValueError, match="once"):
        await hold(ctx, fresh.tenant_id, [(one, 0), (one, 0)])
    with pytest.raises(ValueError, match="negative"):
        await quote(ctx, fresh.tenant_id, "CN", "notification", -1)


async def test_concurrent_holds_never_overdraw(ctx: AppContext) -> None:
    """20 sends at once, each in its own transaction: exactly those the balance covers pass."""
    who = await make_tenant(ctx)
    tid = who.tenant_id
    assert tid
    await topup(ctx, tid, 1000)

    async def one_send() -> bool:
        try:
            await hold(ctx, tid, [(msg(), 25), (msg(), 25), (msg(), 25)])
        except errors.HongyanError as exc:
            assert exc.code == "INSUFFICIENT_BALANCE"
            return False
        return True

    outcomes = await asyncio.gather(*(one_send() for _ in range(20)))
    assert outcomes.count(True) == 1000 // 75
    account = await check_invariant(ctx, tid)
    assert (account.balance, account.held) == (1000 % 75, 75 * (1000 // 75))


async def test_concurrent_settlements_refund_once(ctx: AppContext) -> None:
    who = await make_tenant(ctx)
    tid = who.tenant_id
    assert tid
    await topup(ctx, tid, 500)
    items = [(msg(), 40) for _ in range(10)]
    await hold(ctx, tid, items)
    halves = [items[:5], items[5:]]

    async def settle_all(turn: int) -> None:
        first = halves[turn % 2]
        await settle(ctx, tid, confirmed=[m for m, _ in first], refunded=items)

    await asyncio.gather(*(settle_all(turn) for turn in range(10)))
    account = await check_invariant(ctx, tid)
    assert account.held == 0
    async with ctx.db.session() as session:
        summary = await service.ledger_summary(session, tenant_id=tid)
    assert summary["confirm"][0] + summary["refund"][0] == 10  # each message settled once
    assert account.balance == 100 + summary["refund"][1]


# --- terms: charge policy, currency, low balance ----------------------------------------------


async def test_billing_terms_are_changed_by_the_operator(
    client: httpx.AsyncClient, ctx: AppContext, tenant: KeyPair, operator: KeyPair
) -> None:
    tid = tenant.tenant_id
    assert tid
    async with ctx.db.session() as session:
        assert await service.charge_policy(session, tenant_id=tid) == "on_send"
    path = f"/v1/admin/tenants/{tid}/billing"
    body = {"charge_policy": "on_delivery", "low_balance_threshold": 300}
    changed = await client.patch(path, json=body, headers=operator.basic)
    assert changed.status_code == 200, changed.text
    assert changed.json()["charge_policy"] == "on_delivery"
    async with ctx.db.session() as session:  # the cache forgot the old policy on commit
        assert await service.charge_policy(session, tenant_id=tid) == "on_delivery"

    await topup(ctx, tid, 200)
    balance = (await client.get("/v1/balance", headers=tenant.basic)).json()
    assert (balance["balance"], balance["low_balance"], balance["low_balance_threshold"]) == (
        200,
        True,
        300,
    )
    locked = await client.patch(path, json={"currency": "USD"}, headers=operator.basic)
    assert locked.status_code == 409 and locked.json()["error"]["code"] == "CURRENCY_LOCKED"
    cleared = await client.patch(path, json={"low_balance_threshold": None}, headers=operator.basic)
    assert cleared.json()["low_balance_threshold"] is None
    assert cleared.json()["charge_policy"] == "on_delivery"  # unchanged when not sent
    shown = (await client.get(path, headers=operator.basic)).json()
    assert (shown["balance"], shown["currency"], shown["low_balance"]) == (200, "CNY", False)
    bad = await client.patch(path, json={"charge_policy": "never"}, headers=operator.basic)
    assert bad.json()["error"]["code"] == "FIELD_INVALID"


async def test_terms_of_other_processes_arrive_after_the_ttl(ctx: AppContext) -> None:
    who = await make_tenant(ctx)
    tid = who.tenant_id
    assert tid
    async with ctx.db.session() as session:
        assert await service.charge_policy(session, tenant_id=tid) == "on_send"
        await service.update_account(
            session,
            actor=OP,
            tenant_id=tid,
            req=BillingUpdate(charge_policy="on_delivery"),
        )
    TERMS.expire(tid)  # what TERMS_TTL_SECS does for a change made by another process
    async with ctx.db.session() as session:
        assert await service.charge_policy(session, tenant_id=tid) == "on_delivery"


# --- the ledger API ---------------------------------------------------------------------------


async def test_ledger_filters_and_pages(
    client: httpx.AsyncClient, ctx: AppContext, tenant: KeyPair, operator: KeyPair
) -> None:
    tid = tenant.tenant_id
    assert tid
    await topup(ctx, tid, 100)
    m1, m2 = msg(), msg()
    await hold(ctx, tid, [(m1, 10), (m2, 20)])
    await settle(ctx, tid, refunded=[(m2, 20)])

    holds = (await client.get("/v1/ledger?kind=hold", headers=tenant.basic)).json()["data"]
    assert [e["message_id"] for e in holds] == [m2, m1]  # newest first
    of_m2 = (await client.get(f"/v1/ledger?message_id={m2}", headers=tenant.basic)).json()
    assert [(e["kind"], e["amount"]) for e in of_m2["data"]] == [("refund", 20), ("hold", -20)]

    seen, cursor = [], None
    while True:
        query = "/v1/ledger?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = (await client.get(query, headers=tenant.basic)).json()
        seen += [e["id"] for e in page["data"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == 4 and seen == sorted(seen, reverse=True)
    admin = await client.get(f"/v1/admin/tenants/{tid}/ledger", headers=operator.basic)
    assert [e["id"] for e in admin.json()["data"]] == seen
    bad = await client.get("/v1/ledger?kind=spend", headers=tenant.basic)
    assert bad.json()["error"]["code"] == "FIELD_INVALID"
