"""GET /v1/stats on both backends: counters follow the lifecycle; groups, filters, ranges."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from hongyan.api.context import AppContext
from hongyan.connectors.base import Receipt
from hongyan.dlr import service as dlr
from hongyan.ids import new_id
from hongyan.messages import repository as repo
from hongyan.messages import transitions
from hongyan.models import Message
from tests.conftest import KeyPair, make_tenant
from tests.factories import make_messages

Json = dict[str, Any]


async def stats(client: httpx.AsyncClient, who: KeyPair, **params: Any) -> Json:
    response = await client.get("/v1/stats", params=params, headers=who.basic)
    assert response.status_code == 200, response.text
    body: Json = response.json()
    return body


def counters(row: Json) -> tuple[int, ...]:
    names = ("submitted", "sent", "delivered", "undelivered", "failed", "canceled", "pending")
    return tuple(row[name] for name in names)


async def move(ctx: AppContext, messages: list[Message], status: str, **extra: Any) -> None:
    async with ctx.db.session() as session:
        fresh = await repo.get_many(session, [m.id for m in messages])
        changes = [transitions.Change(m, status, **extra) for m in fresh]
        await transitions.apply(session, ctx=ctx, changes=changes)


async def send(ctx: AppContext, connector_id: str, messages: list[Message]) -> list[str]:
    """Record them as sent through the connector, one part each; their upstream ids."""
    ups = [f"up-{secrets.token_hex(6)}" for _ in messages]
    rows = [
        {"message_id": m.id, "seq": 0, "connector_id": connector_id, "upstream_id": up}
        for m, up in zip(messages, ups, strict=True)
    ]
    async with ctx.db.session() as session:
        await repo.insert_parts(session, rows)
    await move(ctx, messages, "sent", connector_id=connector_id)
    return ups


async def a_day_of_traffic(ctx: AppContext, tenant: KeyPair) -> str:
    """8 messages accepted today: 3 delivered, 1 undelivered, 1 sent awaiting its receipt,
    1 queued, 1 failed before sending, 1 canceled. Returns the connector id."""
    assert tenant.tenant_id
    connector_id = new_id("con")
    cn = await make_messages(
        ctx, tenant.tenant_id, 4, sign="甲", template_id="tpl_a", amount=45, segments=1
    )
    us = await make_messages(
        ctx,
        tenant.tenant_id,
        2,
        sign="乙",
        region="US",
        msisdn="+12025550123",
        amount=60,
        segments=2,
    )
    failed = await make_messages(ctx, tenant.tenant_id, 1, sign="乙")
    scheduled = await make_messages(ctx, tenant.tenant_id, 1, sign="乙", status="scheduled")
    sent = [*cn, us[0]]
    ups = await send(ctx, connector_id, sent)
    await dlr.ingest(
        ctx,
        [
            Receipt(connector_id, ups[0], "delivered"),
            Receipt(connector_id, ups[1], "delivered"),
            Receipt(connector_id, ups[2], "undelivered"),
            Receipt(connector_id, ups[4], "delivered"),
        ],
    )
    await move(ctx, failed, "failed", code="NO_ROUTE")
    await move(ctx, scheduled, "canceled")
    return connector_id


async def test_stats_follow_the_lifecycle(client: httpx.AsyncClient, ctx: AppContext) -> None:
    tenant = await make_tenant(ctx)
    connector_id = await a_day_of_traffic(ctx, tenant)
    today = datetime.now(UTC).date()

    by_day = await stats(client, tenant)

    assert by_day["group_by"] == "day" and by_day["currency"] == "CNY"
    assert (by_day["from"], by_day["to"]) == (str(today - timedelta(days=6)), str(today))
    assert [r["key"] for r in by_day["rows"]][-1] == str(today) and len(by_day["rows"]) == 7
    assert all(counters(r) == (0,) * 7 for r in by_day["rows"][:-1])  # the gaps are rows too
    day = by_day["rows"][-1]
    assert counters(day) == (8, 5, 3, 1, 1, 1, 2)
    assert (day["failures"], day["delivery_rate"]) == (2, 0.75)
    assert (day["segments"], day["cost"]) == (4 + 2 * 2 + 1 + 1, 4 * 45 + 2 * 60)
    assert counters(by_day["totals"]) == counters(day) and by_day["totals"]["key"] is None

    by_sign = {r["key"]: r for r in (await stats(client, tenant, group_by="sign"))["rows"]}
    assert counters(by_sign["甲"]) == (4, 4, 2, 1, 0, 0, 1)
    assert counters(by_sign["乙"]) == (4, 1, 1, 0, 1, 1, 1)

    by_connector = await stats(client, tenant, group_by="connector")
    rows = {r["key"]: r for r in by_connector["rows"]}
    assert set(rows) == {None, connector_id}
    # Accepted, not handed to any connector: the one US message still queued.
    assert counters(rows[None]) == (8, 0, 0, 0, 1, 1, 1)
    # Sent through the connector, one still awaiting its receipt.
    assert counters(rows[connector_id]) == (0, 5, 3, 1, 0, 0, 1)
    assert rows[connector_id]["delivery_rate"] == 0.75


async def test_stats_filters(client: httpx.AsyncClient, ctx: AppContext) -> None:
    tenant = await make_tenant(ctx)
    await a_day_of_traffic(ctx, tenant)

    us = await stats(client, tenant, group_by="country", country="us")
    assert [(r["key"], r["submitted"], r["delivered"]) for r in us["rows"]] == [("US", 2, 1)]
    templates = await stats(client, tenant, group_by="template", sign="甲")
    assert [(r["key"], r["submitted"]) for r in templates["rows"]] == [("tpl_a", 4)]
    nothing = await stats(client, tenant, group_by="sign", template="tpl_none")
    assert nothing["rows"] == [] and nothing["totals"]["delivery_rate"] is None


async def test_stats_over_a_chosen_range(client: httpx.AsyncClient, ctx: AppContext) -> None:
    tenant = await make_tenant(ctx)
    assert tenant.tenant_id
    key = {"tenant_id": tenant.tenant_id, "sign": "", "template_id": "", "region": "CN"}
    async with ctx.db.session() as session:
        await repo.bump_stats(
            session,
            [
                transitions.stat_row(
                    {**key, "day": "2026-01-01", "connector_id": ""}, submitted=10
                ),
                transitions.stat_row(
                    {**key, "day": "2026-01-01", "connector_id": "con_x"}, sent=10, delivered=9
                ),
                transitions.stat_row({**key, "day": "2026-01-03", "connector_id": ""}, submitted=1),
                transitions.stat_row({**key, "day": "2026-01-09", "connector_id": ""}, submitted=5),
            ],
        )

    body = await stats(client, tenant, **{"from": "2026-01-01", "to": "2026-01-03"})

    assert [(r["key"], r["submitted"], r["delivered"]) for r in body["rows"]] == [
        ("2026-01-01", 10, 9),
        ("2026-01-02", 0, 0),
        ("2026-01-03", 1, 0),
    ]
    assert body["rows"][0]["pending"] == 1 and body["totals"]["submitted"] == 11
    other = await make_tenant(ctx)
    theirs = await stats(client, other, **{"from": "2026-01-01", "to": "2026-01-03"})
    assert theirs["totals"]["submitted"] == 0  # tenants see only their own counters


async def test_stats_refusals(client: httpx.AsyncClient, ctx: AppContext) -> None:
    tenant = await make_tenant(ctx)
    cases = [
        ({"from": "2026-02-01", "to": "2026-01-01"}, "STATS_RANGE_INVALID"),
        ({"from": "2024-01-01", "to": "2026-01-01"}, "STATS_RANGE_TOO_LONG"),
        ({"group_by": "planet"}, "FIELD_INVALID"),
        ({"from": "yesterday"}, "FIELD_INVALID"),
    ]
    for params, code in cases:
        response = await client.get("/v1/stats", params=params, headers=tenant.basic)
        assert (response.status_code, response.json()["error"]["code"]) == (422, code), params
