"""Routing on both backends: filters, priorities, weights, NO_ROUTE, failover, breakers, caches.

The session database is shared with other tests, which may add catch-all routes (the default
simulator): tests route for tenants of their own and look at their own connectors' places in
the candidate lists. Tests that need an empty routing table use a database of their own.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from hongyan import errors
from hongyan.accounts import service as accounts
from hongyan.api.context import AppContext
from hongyan.config import Settings
from hongyan.connectors.base import RetryableSendError
from hongyan.connectors.simulator import SimulatorConnector
from hongyan.db import Database
from hongyan.routing import service
from hongyan.routing.health import get_health
from hongyan.routing.health_store import NODE, persist_health
from hongyan.routing.manager import get_manager
from hongyan.routing.resolve import table_cache
from hongyan.routing.schemas import ConnectorUpdate, RouteUpdate
from tests.conftest import KeyPair, make_tenant
from tests.integration.routing_kit import (
    Collector,
    add_connector,
    add_route,
    candidates,
    disable_test_connectors,
    fresh_database,
    process_ctx,
    register_extra_kinds,
    sms,
    unregister_extra_kinds,
)


@pytest.fixture(autouse=True, scope="module")
def extra_kinds() -> Iterator[None]:
    register_extra_kinds()
    yield
    unregister_extra_kinds()


@pytest.fixture(autouse=True)
async def tidy(ctx: AppContext) -> AsyncIterator[None]:
    yield
    await disable_test_connectors(ctx)


@pytest.fixture
async def proc(ctx: AppContext) -> AsyncIterator[AppContext]:
    """A context of its own (as another process would have), closed afterwards."""
    other = process_ctx(ctx)
    yield other
    await get_manager(other).close_all()


def mine(ids: list[str], *connectors: str) -> list[str]:
    return [c for c in ids if c in connectors]


async def test_filters_decide_which_routes_match(ctx: AppContext) -> None:
    tenant = (await make_tenant(ctx)).tenant_id
    other = (await make_tenant(ctx)).tenant_id
    assert tenant and other
    by_country = await add_connector(ctx)
    by_prefix = await add_connector(ctx)
    by_carrier = await add_connector(ctx)
    by_kind = await add_connector(ctx)
    await add_route(ctx, by_country, priority=1, countries=["us"], tenant_ids=[tenant])
    await add_route(ctx, by_prefix, priority=2, prefixes=["+86139"], tenant_ids=[tenant])
    await add_route(ctx, by_carrier, priority=3, carriers=["China Mobile"], tenant_ids=[tenant])
    await add_route(ctx, by_kind, priority=4, kinds=["marketing"], tenant_ids=[tenant])
    ours = (by_country, by_prefix, by_carrier, by_kind)

    us = sms(tenant, "+12025550100", region="US")
    assert mine(await candidates(ctx, us), *ours) == [by_country]
    cn_139 = sms(tenant, "+8613912345678")
    assert mine(await candidates(ctx, cn_139, "china mobile"), *ours) == [by_prefix, by_carrier]
    marketing = sms(tenant, "+8618612345678", kind="marketing")
    assert mine(await candidates(ctx, marketing, "China Unicom"), *ours) == [by_kind]
    # Another tenant's messages never see these routes (NO_ROUTE, or only others' routes).
    try:
        seen = await candidates(ctx, sms(other, "+8613912345678", kind="marketing"))
    except errors.HongyanError as exc:
        assert exc.code == "NO_ROUTE"
        seen = []
    assert mine(seen, *ours) == []


async def test_priorities_order_and_weights_split_traffic(ctx: AppContext) -> None:
    tenant = (await make_tenant(ctx)).tenant_id
    assert tenant
    heavy, light, backup = [await add_connector(ctx) for _ in range(3)]
    await add_route(ctx, heavy, priority=10, weight=3, tenant_ids=[tenant])
    await add_route(ctx, light, priority=10, weight=1, tenant_ids=[tenant])
    await add_route(ctx, backup, priority=20, tenant_ids=[tenant])
    rng = random.Random(42)
    firsts = {heavy: 0, light: 0}
    for i in range(400):
        order = mine(await candidates(ctx, sms(tenant, index=i), rng=rng), heavy, light, backup)
        assert sorted(order[:2]) == sorted([heavy, light]) and order[2] == backup
        firsts[order[0]] += 1
    assert 240 <= firsts[heavy] <= 360  # 3:1, roughly (the expectation is 300)


async def test_test_mode_messages_reach_simulators_only(ctx: AppContext) -> None:
    tenant = (await make_tenant(ctx)).tenant_id
    assert tenant
    vendor = await add_connector(ctx, kind="test-vendor", api_key="k", api_secret="s")
    sim = await add_connector(ctx)
    await add_route(ctx, vendor, priority=1, tenant_ids=[tenant])
    await add_route(ctx, sim, priority=2, tenant_ids=[tenant])
    assert mine(await candidates(ctx, sms(tenant)), vendor, sim) == [vendor, sim]
    test_order = await candidates(ctx, sms(tenant, test_mode=True))
    assert vendor not in test_order and test_order[0] == sim


async def test_no_route_until_the_default_simulator_is_ensured(
    database: Database, settings: Settings, tmp_path: Path
) -> None:
    async for db in fresh_database(database, str(tmp_path / "routing.db")):
        own = AppContext.build(settings.model_copy(update={"database_url": db.url}), db)
        msg = sms("ten_nobody", "+447700900123", region="GB", kind="marketing")
        with pytest.raises(errors.HongyanError) as raised:
            await candidates(own, msg)
        assert raised.value.code == "NO_ROUTE" and "GB" in raised.value.message()
        for _ in range(2):  # the second call finds a connector and changes nothing
            async with own.db.session() as session:
                await service.ensure_default_simulator(session, ctx=own)
        async with own.db.session() as session:
            connectors = await service.list_connectors(session, limit=10, before_id=None)
            routes = await service.list_routes(session, limit=10, before_id=None)
        assert [(c.name, c.kind) for c in connectors] == [("simulator", "simulator")]
        assert [(r.name, r.connector_id, r.countries) for r in routes] == [
            ("default", connectors[0].id, None)
        ]
        assert await candidates(own, msg) == [connectors[0].id]


async def test_failover_sends_each_message_exactly_once(ctx: AppContext, proc: AppContext) -> None:
    tenant = (await make_tenant(ctx)).tenant_id
    assert tenant
    first = await add_connector(ctx)  # default rules: numbers ending 0003 fail retryably
    second = await add_connector(ctx, rules=[], receipt_delay_ms=0)  # delivers everything
    await add_route(ctx, first, priority=1, tenant_ids=[tenant])
    await add_route(ctx, second, priority=2, tenant_ids=[tenant])
    collector = Collector()
    get_manager(proc).set_sinks(collector.sinks)
    numbers = ["+8613800138000", "+8613800000003", "+8613800138001", "+8613700000003"]
    msgs = [sms(tenant, n, index=i) for i, n in enumerate(numbers)]
    async with proc.db.sessions() as session:
        outcomes = await service.send_with_failover(proc, session, msgs=msgs)
        assert not session.in_transaction()  # left as given: no transaction held while sending

    assert [o.message_id for o in outcomes] == [m.message_id for m in msgs]
    assert [o.connector_id for o in outcomes] == [first, second, first, second]
    assert all(o.sent and o.error is None for o in outcomes)
    assert outcomes[1].attempts == [(first, "CONNECTOR_UNAVAILABLE")] and outcomes[0].attempts == []
    running = get_manager(proc).running()
    one, two = running[first], running[second]
    assert isinstance(one, SimulatorConnector) and isinstance(two, SimulatorConnector)
    assert (one.accepted, one.refused, two.accepted, two.refused) == (2, 2, 2, 0)
    await two.close()  # hands over its receipts
    by_connector = {(r.connector_id, r.upstream_id) for r in collector.receipts}
    for outcome in outcomes[1::2]:
        assert outcome.result is not None
        assert {(second, uid) for uid in outcome.result.upstream_ids} <= by_connector


async def test_permanent_refusal_stops_and_all_retryable_gives_the_last_error(
    ctx: AppContext, proc: AppContext
) -> None:
    tenant = (await make_tenant(ctx)).tenant_id
    assert tenant
    first = await add_connector(ctx, down=True)
    second = await add_connector(ctx)  # default rules
    await add_route(ctx, first, priority=1, tenant_ids=[tenant])
    await add_route(ctx, second, priority=2, tenant_ids=[tenant])
    rejected = sms(tenant, "+8613800000002")
    retry_everywhere = sms(tenant, "+8613800000005", index=1)
    async with proc.db.sessions() as session:
        refused, stuck = await service.send_with_failover(
            proc, session, msgs=[rejected, retry_everywhere]
        )
    assert refused.connector_id == second and refused.result is None
    assert refused.error is not None and refused.error.code == "REJECTED_BY_CARRIER"
    assert not refused.retryable
    assert refused.attempts[:2] == [
        (first, "CONNECTOR_UNAVAILABLE"),
        (second, "REJECTED_BY_CARRIER"),
    ]
    assert stuck.retryable and stuck.connector_id is None and stuck.result is None
    assert stuck.attempts[:2] == [(first, "CONNECTOR_UNAVAILABLE"), (second, "SUBMIT_TIMEOUT")]
    # Whatever else matched (a catch-all of other tests), the last retryable error is kept.
    assert stuck.error is not None and stuck.error.code == stuck.attempts[-1][1]


async def test_an_unknown_outcome_is_not_failed_over_and_long_messages_skip(
    ctx: AppContext, proc: AppContext
) -> None:
    tenant = (await make_tenant(ctx)).tenant_id
    assert tenant
    broken = await add_connector(ctx, kind="test-broken")
    vendor = await add_connector(ctx, kind="test-vendor", api_key="k", api_secret="s")
    sim = await add_connector(ctx, rules=[])
    await add_route(ctx, broken, priority=1, tenant_ids=[tenant], kinds=["marketing"])
    await add_route(ctx, vendor, priority=2, tenant_ids=[tenant])
    await add_route(ctx, sim, priority=3, tenant_ids=[tenant])
    unknown = sms(tenant, kind="marketing")
    long = sms(tenant, segments=2, index=1)
    async with proc.db.sessions() as session:
        first, second = await service.send_with_failover(proc, session, msgs=[unknown, long])
    assert first.connector_id == broken and first.error is not None
    assert first.error.code == "SUBMIT_OUTCOME_UNKNOWN" and not first.retryable
    assert second.connector_id == sim and second.sent
    assert second.attempts == [(vendor, "SEGMENTS_OVER_CONNECTOR_LIMIT")]


async def test_breaker_opens_after_failures_and_traffic_moves(
    ctx: AppContext, proc: AppContext, client: httpx.AsyncClient, operator: KeyPair
) -> None:
    tenant = (await make_tenant(ctx)).tenant_id
    assert tenant
    flaky = await add_connector(ctx, down=True)
    steady = await add_connector(ctx, rules=[])
    await add_route(ctx, flaky, priority=1, tenant_ids=[tenant])
    await add_route(ctx, steady, priority=1, tenant_ids=[tenant])
    tried_flaky = 0
    for i in range(30):
        batch = [sms(tenant, index=i * 2 + j) for j in range(2)]
        async with proc.db.sessions() as session:
            outcomes = await service.send_with_failover(proc, session, msgs=batch)
        assert all(o.connector_id == steady and o.sent for o in outcomes)
        tried_flaky += any(flaky in {c for c, _ in o.attempts} for o in outcomes)
    # Five failures in a row open the breaker: at most five batches went to it.
    assert 1 <= tried_flaky <= 5
    health = get_health(proc.caches, proc.settings)
    assert health.is_open(flaky) and not health.is_open(steady)
    assert mine(await candidates(proc, sms(tenant)), flaky, steady) == [steady, flaky]

    assert await persist_health(proc) >= 2
    shown = await client.get(f"/v1/admin/connectors/{flaky}/health", headers=operator.basic)
    assert shown.status_code == 200, shown.text
    body = shown.json()
    assert body["breaker"] == "open" and body["failures"] >= 5 and body["success_rate"] == 0
    assert [n["node"] for n in body["nodes"]] == [NODE]
    good = (await client.get(f"/v1/admin/connectors/{steady}", headers=operator.basic)).json()
    assert good["health"]["breaker"] == "closed" and good["health"]["success_rate"] == 1
    assert good["health"]["attempts"] == 60 and good["health"]["latency_avg_ms"] is not None


async def test_live_connectors_follow_changes(ctx: AppContext, proc: AppContext) -> None:
    connector_id = await add_connector(ctx)
    manager = get_manager(proc)
    before = await manager.get(connector_id)
    assert await manager.get(connector_id) is before
    async with ctx.db.session() as session:
        await service.update_connector(
            session,
            ctx=ctx,
            actor=accounts.CLI_ACTOR,
            ref=connector_id,
            req=ConnectorUpdate(settings={"latency_ms": 1}),
        )
    manager.expire()  # as routing_refresh_secs passing would
    after = await manager.get(connector_id)
    assert after is not before and isinstance(after, SimulatorConnector)
    assert after.settings.latency_ms == 1
    with pytest.raises(RetryableSendError):  # the old instance was closed
        await before.send([sms("ten_x")])
    async with ctx.db.session() as session:
        await service.update_connector(
            session,
            ctx=ctx,
            actor=accounts.CLI_ACTOR,
            ref=connector_id,
            req=ConnectorUpdate(enabled=False),
        )
    manager.expire()
    with pytest.raises(errors.HongyanError) as raised:
        await manager.get(connector_id)
    assert raised.value.code == "CONNECTOR_DISABLED"
    with pytest.raises(errors.HongyanError) as missing:
        await manager.get("con_01jd3x8m2q0000000000000000")
    assert missing.value.code == "CONNECTOR_NOT_FOUND"


async def test_a_change_reaches_other_processes_through_the_revision(ctx: AppContext) -> None:
    tenant = (await make_tenant(ctx)).tenant_id
    assert tenant
    first = await add_connector(ctx)
    second = await add_connector(ctx)
    route = await add_route(ctx, first, priority=1, tenant_ids=[tenant])
    eager = process_ctx(ctx, routing_refresh_secs=0.0)
    lazy = process_ctx(ctx, routing_refresh_secs=3600.0)
    for proc_ in (eager, lazy, ctx):
        assert mine(await candidates(proc_, sms(tenant)), first, second) == [first]
    async with ctx.db.session() as session:
        await service.update_route(
            session,
            ctx=ctx,
            actor=accounts.CLI_ACTOR,
            ref=route,
            req=RouteUpdate(connector_id=second),
        )
    assert mine(await candidates(ctx, sms(tenant)), first, second) == [second]  # its own change
    assert mine(await candidates(eager, sms(tenant)), first, second) == [second]
    # A process checks at most once per routing_refresh_secs: no query per message.
    assert mine(await candidates(lazy, sms(tenant)), first, second) == [first]
    table_cache(lazy).expire()  # as the hour passing would
    assert mine(await candidates(lazy, sms(tenant)), first, second) == [second]
