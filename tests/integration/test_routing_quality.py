"""Health-based preference on both backends: degraded connectors lose traffic, recover it.

Figures come from message rows written here with done_at in the window; the judging job is
called directly, and weights are checked through the candidate order over a seeded rng.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import update
from structlog.testing import capture_logs

from hongyan.api.context import AppContext
from hongyan.ids import new_id
from hongyan.models import Message, utcnow
from hongyan.routing import quality
from tests.conftest import KeyPair, make_tenant
from tests.integration.routing_kit import (
    add_connector,
    add_route,
    candidates,
    disable_test_connectors,
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


async def receipts(
    ctx: AppContext,
    connector_id: str,
    tenant_id: str,
    *,
    delivered: int,
    undelivered: int = 0,
    latency_secs: float = 5.0,
    age_secs: float = 10.0,
) -> None:
    """Final messages of a connector, done ``age_secs`` ago, ``latency_secs`` after sending."""
    done = utcnow() - timedelta(seconds=age_secs)
    async with ctx.db.session() as session:
        for status in ["delivered"] * delivered + ["undelivered"] * undelivered:
            session.add(
                Message(
                    id=new_id("msg"),
                    tenant_id=tenant_id,
                    msisdn="+8613800138000",
                    kind="notification",
                    priority=5,
                    text="x",
                    encoding="gsm7",
                    segments=1,
                    currency="CNY",
                    status=status,
                    due_at=done,
                    connector_id=connector_id,
                    sent_at=done - timedelta(seconds=latency_secs),
                    done_at=done,
                )
            )


async def first_counts(ctx: AppContext, tenant_id: str, a: str, b: str) -> tuple[int, int]:
    """How often each of two connectors comes first over 400 seeded draws."""
    rng = random.Random(7)
    firsts = {a: 0, b: 0}
    for _ in range(400):
        ids = [c for c in await candidates(ctx, sms(tenant_id), rng=rng) if c in firsts]
        firsts[ids[0]] += 1
    return firsts[a], firsts[b]


async def pair(ctx: AppContext) -> tuple[str, str, str]:
    tenant = (await make_tenant(ctx)).tenant_id
    assert tenant
    good, bad = await add_connector(ctx), await add_connector(ctx)
    for cid in (good, bad):
        await add_route(ctx, cid, priority=1, weight=1, tenant_ids=[tenant])
    return tenant, good, bad


async def test_low_delivery_rate_degrades_then_recovery_restores(ctx: AppContext) -> None:
    tenant, good, bad = await pair(ctx)
    other = process_ctx(ctx)  # another process: reads the stored state, judges nothing itself
    await receipts(ctx, good, tenant, delivered=60)
    await receipts(ctx, bad, tenant, delivered=30, undelivered=30)
    with capture_logs() as logs:
        await quality.evaluate(ctx)
        await quality.evaluate(ctx)  # no second switch, no second log line
    degraded = [e for e in logs if e["event"] == "connector degraded"]
    assert [e["connector"] for e in degraded] == [bad]
    assert degraded[0]["delivery_percent"] == 50.0 and degraded[0]["final_receipts"] == 60
    assert quality.get_quality(ctx.caches, ctx.settings).factor(bad) == pytest.approx(0.1)
    assert quality.get_quality(ctx.caches, ctx.settings).factor(good) == 1.0
    for proc in (ctx, other):
        good_first, bad_first = await first_counts(proc, tenant, good, bad)
        # weights 1 : 0.1 -> the bad one comes first about 1 time in 11
        assert bad_first < 80 and good_first > 320, (good_first, bad_first)
        assert bad in await candidates(proc, sms(tenant))  # lowered, never removed

    # Recovery: the bad receipts leave the window, good ones take their place.
    await _age_out(ctx, bad)
    await receipts(ctx, bad, tenant, delivered=60)
    with capture_logs() as logs:
        await quality.evaluate(ctx)
    assert [(e["event"], e["connector"]) for e in logs] == [("connector recovered", bad)]
    assert quality.get_quality(ctx.caches, ctx.settings).factor(bad) == 1.0
    good_first, bad_first = await first_counts(ctx, tenant, good, bad)
    assert 140 < bad_first < 260, (good_first, bad_first)


async def _age_out(ctx: AppContext, connector_id: str) -> None:
    """Move a connector's finished messages out of the quality window."""
    old = utcnow() - timedelta(seconds=ctx.settings.routing_quality_window_secs + 60)
    async with ctx.db.session() as session:
        await session.execute(
            update(Message).where(Message.connector_id == connector_id).values(done_at=old)
        )


async def test_slow_receipts_degrade(ctx: AppContext) -> None:
    tenant, _, slow = await pair(ctx)
    limit = ctx.settings.routing_quality_max_receipt_latency_secs
    await receipts(ctx, slow, tenant, delivered=60, latency_secs=limit + 120)
    with capture_logs() as logs:
        await quality.evaluate(ctx)
    found = [e for e in logs if e.get("connector") == slow]
    assert found and found[0]["event"] == "connector degraded"
    assert "latency" in found[0]["reason"]


async def test_quiet_connectors_are_not_judged(ctx: AppContext) -> None:
    tenant, _, quiet = await pair(ctx)
    few = ctx.settings.routing_quality_min_receipts - 1
    await receipts(ctx, quiet, tenant, delivered=0, undelivered=few)  # all failed, but few
    with capture_logs() as logs:
        await quality.evaluate(ctx)
    assert not [e for e in logs if e.get("connector") == quiet]
    assert quality.get_quality(ctx.caches, ctx.settings).factor(quiet) == 1.0


async def test_state_and_figures_visible_through_the_api(
    ctx: AppContext, client: httpx.AsyncClient, operator: KeyPair
) -> None:
    tenant, good, bad = await pair(ctx)
    await receipts(ctx, bad, tenant, delivered=10, undelivered=50, latency_secs=30)
    await quality.evaluate(ctx)
    health = await client.get(f"/v1/admin/connectors/{bad}/health", headers=operator.basic)
    assert health.status_code == 200, health.text
    shown = health.json()["quality"]
    assert shown["state"] == "degraded" and shown["changed_at"]
    assert shown["final_receipts"] == 60 and shown["delivered"] == 10
    assert shown["receipt_latency_avg_secs"] == pytest.approx(30, abs=1)
    assert "below" in shown["reason"] and shown["weight_percent"] == 10.0
    # this process's receipt health view is not mistaken for a process
    assert all(n["node"] != "*quality" for n in health.json()["nodes"])
    listed = await client.get("/v1/admin/connectors?limit=200", headers=operator.basic)
    by_id = {c["id"]: c for c in listed.json()["data"]}
    assert by_id[bad]["quality"]["state"] == "degraded"
    assert by_id[good]["quality"]["state"] == "healthy"
    one = await client.get(f"/v1/admin/connectors/{bad}", headers=operator.basic)
    assert one.json()["quality"]["state"] == "degraded"


def test_receipt_path_counts_final_outcomes(ctx: AppContext) -> None:
    other = process_ctx(ctx)
    now = utcnow()
    sent = now - timedelta(seconds=4)
    quality.record_receipts(
        other,
        [("con_x", "delivered", sent), ("con_x", "undelivered", sent), ("con_x", "sent", sent)],
        now=now,
    )
    assert quality.get_quality(other.caches, other.settings).local("con_x") == (2, 1)
