"""``acquire`` on both databases and both limiter backends, and the limits API.

Each test uses tenants of its own, so the process-wide memory limiter of the session's context
never mixes their counts; Redis runs use a key prefix per test.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from redis.asyncio import Redis

from hongyan.accounts import service as accounts
from hongyan.api.context import AppContext
from hongyan.errors import HongyanError
from hongyan.limits import service as limits
from hongyan.limits.backend import CACHE_KEY as LIMITER_KEY
from hongyan.limits.memory import MemoryLimiter
from hongyan.limits.redis_backend import RedisLimiter
from hongyan.limits.schemas import LimitsUpdate, WhitelistAdd
from tests.conftest import REDIS_URL, KeyPair, make_tenant

A, B = "+8613800138000", "+8613900139000"
SIGN = "鸿雁"


def otp(msisdn: str = A, sign: str = SIGN) -> limits.LimitItem:
    return limits.LimitItem(msisdn=msisdn, kind="verification", sign=sign, template_id="tpl_v")


def notice(msisdn: str = A, template_id: str = "tpl_n") -> limits.LimitItem:
    return limits.LimitItem(msisdn=msisdn, kind="notification", sign=SIGN, template_id=template_id)


@pytest.fixture(params=["memory", "redis"])
async def lctx(request: pytest.FixtureRequest, ctx: AppContext) -> AsyncIterator[AppContext]:
    """The session's context (memory limiter), or one on the same database using Redis."""
    if request.param == "memory":
        yield ctx
        return
    if not REDIS_URL:
        pytest.skip("HONGYAN_TEST_REDIS_URL not set")
    prefix = f"hy:test:{secrets.token_hex(4)}:"
    settings = ctx.settings.model_copy(update={"redis_url": REDIS_URL, "limits_key_prefix": prefix})
    redis_ctx = AppContext.build(settings, ctx.db)
    yield redis_ctx
    await limits.get_limiter(redis_ctx).aclose()
    client = Redis.from_url(REDIS_URL)
    keys = [k async for k in client.scan_iter(match=f"{prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def acquire(
    of: AppContext, tenant_id: str, items: list[limits.LimitItem], now: float | None = None
) -> limits.Acquired:
    async with of.db.session() as session:
        return await limits.acquire(of, session, tenant_id=tenant_id, items=items, now=now)


def codes(acquired: limits.Acquired, count: int) -> list[str | None]:
    return [acquired.rejected[i].code if i in acquired.rejected else None for i in range(count)]


async def set_policy(of: AppContext, tenant_id: str, **fields: Any) -> None:
    async with of.db.session() as session:
        await limits.set_limits(
            session,
            ctx=of,
            actor=accounts.CLI_ACTOR,
            tenant_id=tenant_id,
            req=LimitsUpdate.model_validate(fields),
        )


async def new_tenant(of: AppContext, **fields: object) -> str:
    tenant_id = (await make_tenant(of, **fields)).tenant_id
    assert tenant_id
    return tenant_id


# --- acquire: the defaults --------------------------------------------------------------------


async def test_verification_defaults_name_the_window_hit(lctx: AppContext) -> None:
    tenant = await new_tenant(lctx)
    t0 = time.time()
    assert (await acquire(lctx, tenant, [otp()], t0)).rejected == {}
    second = (await acquire(lctx, tenant, [otp()], t0 + 30)).rejected[0]
    assert second.code == "FREQUENCY_LIMITED" and second.status == 429
    assert second.message() == (
        f"Too many messages to {A} in the last minute: at most 1 with the same sign."
    )
    assert second.message("zh") == f"1 分钟内发送给 {A} 的短信过多:同一签名最多 1 条。"
    assert second.params["window_secs"] == 60
    for minute in range(1, 5):  # 5 an hour
        assert (await acquire(lctx, tenant, [otp()], t0 + 61 * minute)).rejected == {}
    hour = (await acquire(lctx, tenant, [otp()], t0 + 61 * 5)).rejected[0]
    assert "in the last hour: at most 5" in hour.message()
    for hours in range(1, 6):  # 10 a day
        assert (await acquire(lctx, tenant, [otp()], t0 + 3601 * hours)).rejected == {}
    day = (await acquire(lctx, tenant, [otp()], t0 + 3601 * 6)).rejected[0]
    assert "in the last day: at most 10" in day.message()
    # Another sign, another number: counted apart.
    other = await acquire(lctx, tenant, [otp(sign="另一个"), otp(B)], t0 + 3601 * 6)
    assert other.rejected == {}


async def test_notification_counts_per_template_and_batches_count_in_order(
    lctx: AppContext,
) -> None:
    tenant = await new_tenant(lctx)
    items = [notice() for _ in range(52)] + [notice(template_id="tpl_other"), notice(B)]
    acquired = await acquire(lctx, tenant, items)
    assert set(acquired.rejected) == {50, 51}
    assert "in the last day: at most 50 with the same template" in acquired.rejected[50].message()


async def test_release_gives_back_the_hits(lctx: AppContext) -> None:
    tenant = await new_tenant(lctx)
    await set_policy(lctx, tenant, daily_cap=3)
    first = await acquire(lctx, tenant, [otp(), otp(B), otp(A)])
    assert codes(first, 3) == [None, None, "FREQUENCY_LIMITED"]
    async with lctx.db.session() as session:
        assert (await limits.get_limits(session, ctx=lctx, tenant_id=tenant)).used_today == 2
    await first.release()
    await first.release()  # a second release gives back nothing more
    async with lctx.db.session() as session:
        assert (await limits.get_limits(session, ctx=lctx, tenant_id=tenant)).used_today == 0
    again = await acquire(lctx, tenant, [otp(), otp(B), notice()])
    assert again.rejected == {}


async def test_whitelisted_numbers_skip_frequency_but_not_caps(lctx: AppContext) -> None:
    tenant = await new_tenant(lctx)
    await set_policy(lctx, tenant, daily_cap=4)
    async with lctx.db.session() as session:
        await limits.add_whitelisted(
            session,
            ctx=lctx,
            actor=accounts.CLI_ACTOR,
            tenant_id=tenant,
            req=WhitelistAdd(msisdn="13800138000"),
        )
    acquired = await acquire(lctx, tenant, [otp()] * 5)  # the change applies at once here
    assert codes(acquired, 5) == [None] * 4 + ["DAILY_CAP_REACHED"]
    async with lctx.db.session() as session:
        await limits.remove_whitelisted(
            session, ctx=lctx, actor=accounts.CLI_ACTOR, tenant_id=tenant, entry=A
        )
    await set_policy(lctx, tenant)
    # Whitelisted messages left no hits in the number's log, so it starts from nothing.
    assert codes(await acquire(lctx, tenant, [otp(), otp()]), 2) == [None, "FREQUENCY_LIMITED"]


async def test_caps_and_rate(lctx: AppContext) -> None:
    tenant = await new_tenant(lctx, timezone="America/New_York")
    await set_policy(lctx, tenant, daily_cap=3, monthly_cap=5, rate_per_sec=2)
    zone = ZoneInfo("America/New_York")
    late = datetime(2031, 3, 30, 23, 30, tzinfo=zone).timestamp()
    items = [notice(f"+86138001380{i:02d}") for i in range(5)]
    day = await acquire(lctx, tenant, items, late)
    assert codes(day, 5) == [None] * 3 + ["DAILY_CAP_REACHED"] * 2
    error = day.rejected[3]
    assert error.message() == (
        "This account has reached its cap of 3 messages per day (2031-03-30, America/New_York)."
    )
    rate = await acquire(lctx, tenant, items[:1], late + 0.5)
    assert codes(rate, 1) == ["DAILY_CAP_REACHED"]  # the second request of this second
    limited = await acquire(lctx, tenant, items[:2], late + 0.7)
    assert codes(limited, 2) == ["TENANT_RATE_LIMITED"] * 2
    assert "at most 2 per second" in limited.rejected[0].message()
    # After local midnight a new day starts; the month (March) allows 2 more.
    month = await acquire(lctx, tenant, items, late + 3600)
    assert codes(month, 5) == [None] * 2 + ["MONTHLY_CAP_REACHED"] * 3
    assert "(2031-03, America/New_York)" in month.rejected[2].message()


async def test_concurrent_acquires_never_exceed_a_limit(lctx: AppContext) -> None:
    tenant = await new_tenant(lctx)
    await set_policy(
        lctx, tenant, rules={"verification": [{"window_secs": 3600, "max": 7}]}, daily_cap=20
    )
    results = await asyncio.gather(
        *(acquire(lctx, tenant, [otp(), notice(f"+861390013{i:04d}")]) for i in range(40))
    )
    assert sum(0 not in r.rejected for r in results) == 7
    assert sum(2 - len(r.rejected) for r in results) == 20


async def test_a_change_reaches_other_processes_on_their_next_revision_check(
    ctx: AppContext,
) -> None:
    tenant = await new_tenant(ctx)
    # Two more "processes": separate caches (and limiters), the same database.
    slow = AppContext.build(ctx.settings.model_copy(update={"limits_refresh_secs": 3600}), ctx.db)
    eager = AppContext.build(ctx.settings.model_copy(update={"limits_refresh_secs": 0}), ctx.db)
    for other in (slow, eager):
        assert (await acquire(other, tenant, [otp(), otp()])).rejected.keys() == {1}
    await set_policy(ctx, tenant, rules={"verification": []})
    assert (await acquire(eager, tenant, [otp(), otp()])).rejected == {}
    assert (await acquire(slow, tenant, [otp()])).rejected.keys() == {0}  # still cached


async def test_unknown_tenant_and_empty_batch(ctx: AppContext) -> None:
    with pytest.raises(HongyanError) as caught:
        await acquire(ctx, "ten_nobody", [otp()])
    assert caught.value.code == "TENANT_NOT_FOUND"
    assert (await acquire(ctx, "ten_nobody", [])).rejected == {}


async def test_limiter_is_made_from_settings(ctx: AppContext) -> None:
    assert isinstance(limits.get_limiter(ctx), MemoryLimiter)
    assert limits.get_limiter(ctx) is ctx.caches[LIMITER_KEY]
    with_redis = AppContext.build(
        ctx.settings.model_copy(update={"redis_url": "redis://127.0.0.1:6379/15"}), ctx.db
    )
    limiter = limits.get_limiter(with_redis)
    assert isinstance(limiter, RedisLimiter)
    await limiter.aclose()


# --- the API ----------------------------------------------------------------------------------


async def test_operator_sets_limits_and_tenant_reads_them(
    client: httpx.AsyncClient, tenant: KeyPair, operator: KeyPair
) -> None:
    own = await client.get("/v1/limits", headers=tenant.basic)
    assert own.status_code == 200, own.text
    body = own.json()
    assert body["rules"]["verification"] == [
        {"window_secs": 60, "max": 1},
        {"window_secs": 3600, "max": 5},
        {"window_secs": 86400, "max": 10},
    ]
    assert body["customized"] == [] and body["daily_cap"] is None and body["revision"] == 0

    path = f"/v1/admin/tenants/{tenant.tenant_id}/limits"
    policy = {
        "rules": {"marketing": [{"window_secs": 86400, "max": 3}, {"window_secs": 3600, "max": 1}]},
        "daily_cap": 1000,
        "rate_per_sec": 20,
    }
    put = await client.put(path, json=policy, headers=operator.basic)
    assert put.status_code == 200, put.text
    assert put.json()["rules"]["marketing"] == [
        {"window_secs": 3600, "max": 1},
        {"window_secs": 86400, "max": 3},
    ]
    seen = (await client.get("/v1/limits", headers=tenant.basic)).json()
    assert seen["customized"] == ["marketing"] and seen["revision"] == 1
    assert (seen["daily_cap"], seen["rate_per_sec"], seen["monthly_cap"]) == (1000, 20, None)
    assert (await client.get(path, headers=operator.basic)).json() == seen

    # PUT replaces: what is left out goes back to its default.
    reset = (await client.put(path, json={}, headers=operator.basic)).json()
    assert reset["customized"] == [] and reset["daily_cap"] is None and reset["revision"] == 2
    audit = await client.get(
        f"/v1/admin/audit?tenant_id={tenant.tenant_id}", headers=operator.basic
    )
    assert [a["action"] for a in audit.json()["data"]][:2] == ["limits.set", "limits.set"]


@pytest.mark.parametrize(
    ("policy", "code", "field"),
    [
        ({"rules": {"verification": [{"window_secs": 0, "max": 1}]}}, "FIELD_INVALID", None),
        ({"rules": {"sms": []}}, "FIELD_INVALID", None),
        ({"daily_cap": 0}, "FIELD_INVALID", "daily_cap"),
        ({"rate": 5}, "FIELD_UNKNOWN", "rate"),
        (
            {
                "rules": {
                    "marketing": [{"window_secs": 60, "max": 1}, {"window_secs": 60, "max": 2}]
                }
            },
            "FIELD_INVALID",
            "rules.marketing",
        ),
        (
            {"rules": {"marketing": [{"window_secs": s, "max": 1} for s in range(1, 8)]}},
            "FIELD_INVALID",
            "rules.marketing",
        ),
    ],
)
async def test_bad_policies_are_refused(
    client: httpx.AsyncClient,
    tenant: KeyPair,
    operator: KeyPair,
    policy: dict[str, Any],
    code: str,
    field: str | None,
) -> None:
    path = f"/v1/admin/tenants/{tenant.tenant_id}/limits"
    response = await client.put(path, json=policy, headers=operator.basic)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == code
    if field:
        assert error["field"] == field
    assert (await client.get(path, headers=operator.basic)).json()["revision"] == 0


async def test_limits_endpoints_check_roles(
    client: httpx.AsyncClient, ctx: AppContext, tenant: KeyPair, operator: KeyPair
) -> None:
    path = f"/v1/admin/tenants/{tenant.tenant_id}/limits"
    denied = await client.put(path, json={}, headers=tenant.basic)
    assert denied.json()["error"]["code"] == "OPERATOR_REQUIRED"
    missing = await client.get("/v1/admin/tenants/ten_nobody/limits", headers=operator.basic)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "TENANT_NOT_FOUND"
    put_missing = await client.put(
        "/v1/admin/tenants/ten_nobody/limits", json={}, headers=operator.basic
    )
    assert put_missing.json()["error"]["code"] == "TENANT_NOT_FOUND"
    reader = await make_tenant(ctx, scopes=["read"])
    assert (await client.get("/v1/limits", headers=reader.basic)).status_code == 200
    listed = await client.get("/v1/limits/whitelist", headers=reader.basic)
    assert listed.json()["error"]["code"] == "SCOPE_MISSING"
    own = await client.get("/v1/limits", headers=operator.basic)
    assert own.json()["error"]["code"] == "TENANT_KEY_REQUIRED"


async def test_whitelist_over_the_api(
    client: httpx.AsyncClient, ctx: AppContext, tenant: KeyPair
) -> None:
    h = tenant.basic
    added = await client.post("/v1/limits/whitelist", json={"msisdn": "138 0013 8000"}, headers=h)
    assert added.status_code == 201, added.text
    entry = added.json()
    assert entry["id"].startswith("lwl_") and entry["msisdn"] == A
    again = await client.post("/v1/limits/whitelist", json={"msisdn": A}, headers=h)
    assert again.status_code == 409 and again.json()["error"]["code"] == "WHITELIST_ENTRY_EXISTS"
    bad = await client.post("/v1/limits/whitelist", json={"msisdn": "12345"}, headers=h)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "msisdn"
    us = await client.post(
        "/v1/limits/whitelist",
        json={"msisdn": "(415) 555-2671", "region": "US", "note": "QA"},
        headers=h,
    )
    assert us.status_code == 201 and us.json()["msisdn"] == "+14155552671"

    page = (await client.get("/v1/limits/whitelist?limit=1", headers=h)).json()
    assert [e["msisdn"] for e in page["data"]] == ["+14155552671"] and page["next_cursor"]
    rest = await client.get(f"/v1/limits/whitelist?cursor={page['next_cursor']}", headers=h)
    assert [e["msisdn"] for e in rest.json()["data"]] == [A]
    assert (await client.get("/v1/limits", headers=h)).json()["whitelisted"] == 2

    # Whitelisted right away: two verification codes in a row pass.
    assert tenant.tenant_id
    assert (await acquire(ctx, tenant.tenant_id, [otp(), otp()])).rejected == {}

    assert (await client.delete(f"/v1/limits/whitelist/{A}", headers=h)).status_code == 204
    gone = await client.delete("/v1/limits/whitelist/13800138000", headers=h)
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "WHITELIST_ENTRY_NOT_FOUND"
    by_id = await client.delete(f"/v1/limits/whitelist/{us.json()['id']}", headers=h)
    assert by_id.status_code == 204
    assert (await client.get("/v1/limits/whitelist", headers=h)).json()["data"] == []
    other = await make_tenant(ctx)
    assert (await client.get("/v1/limits/whitelist", headers=other.basic)).json()["data"] == []


async def test_whitelist_is_bounded(ctx: AppContext, monkeypatch: pytest.MonkeyPatch) -> None:
    tenant = await new_tenant(ctx)
    monkeypatch.setattr(limits, "WHITELIST_MAX", 1)
    async with ctx.db.session() as session:
        await limits.add_whitelisted(
            session, ctx=ctx, actor=accounts.CLI_ACTOR, tenant_id=tenant, req=WhitelistAdd(msisdn=A)
        )
    with pytest.raises(HongyanError) as caught:
        async with ctx.db.session() as session:
            await limits.add_whitelisted(
                session,
                ctx=ctx,
                actor=accounts.CLI_ACTOR,
                tenant_id=tenant,
                req=WhitelistAdd(msisdn=B),
            )
    assert caught.value.code == "WHITELIST_FULL"
