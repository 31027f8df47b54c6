"""Inbound messages and suppressions on both backends: matching, keywords, webhooks, isolation."""

from __future__ import annotations

import secrets
from typing import Any

import httpx

from hongyan.api.context import AppContext
from hongyan.connectors.base import InboundSms
from hongyan.connectors.simulator import SimulatorConnector
from hongyan.dlr import service as dlr
from hongyan.ids import new_id
from hongyan.inbound import service as inbound
from hongyan.messages import repository as repo
from tests.conftest import KeyPair, make_tenant
from tests.factories import make_messages

Json = dict[str, Any]


def mobile() -> str:
    """A CN mobile number no other test uses."""
    return f"+86139{secrets.randbelow(10**8):08d}"


def mo(msisdn: str, text: str, **extra: Any) -> InboundSms:
    return InboundSms(
        connector_id=extra.pop("connector_id", "con_sim"),
        msisdn=msisdn,
        to="1069000012345",
        text=text,
        **extra,
    )


async def talked_to(ctx: AppContext, who: KeyPair, msisdn: str) -> str:
    """Send ``who`` one outbound message to ``msisdn`` (the last conversation); its id."""
    assert who.tenant_id
    [message] = await make_messages(ctx, who.tenant_id, msisdn=msisdn, status="sent")
    return message.id


async def get(client: httpx.AsyncClient, who: KeyPair, path: str, **params: Any) -> Json:
    response = await client.get(path, headers=who.basic, params=params)
    assert response.status_code == 200, response.text
    body: Json = response.json()
    return body


async def suppressed(ctx: AppContext, who: KeyPair, msisdn: str) -> bool:
    assert who.tenant_id
    async with ctx.db.session() as session:
        return msisdn in await repo.suppressed_among(session, who.tenant_id, [msisdn])


# --- matching and storing ---------------------------------------------------------------------


async def test_inbound_goes_to_the_tenant_of_the_last_conversation(
    ctx: AppContext, client: httpx.AsyncClient
) -> None:
    first, last = await make_tenant(ctx), await make_tenant(ctx)
    number = mobile()
    await talked_to(ctx, first, number)
    message_id = await talked_to(ctx, last, number)

    result = await inbound.receive(ctx, [mo(number, "好的,收到")])

    assert (result.stored, result.unmatched) == (1, 0)
    [item] = (await get(client, last, "/v1/inbound"))["data"]
    assert (item["msisdn"], item["text"], item["in_reply_to"]) == (number, "好的,收到", message_id)
    assert item["opt_action"] is None and item["to"] == "1069000012345"
    assert (await get(client, first, "/v1/inbound"))["data"] == []
    one = await get(client, last, f"/v1/inbound/{item['id']}")
    assert one["id"] == item["id"]


async def test_unmatched_inbound_is_kept_for_the_operator(
    ctx: AppContext, client: httpx.AsyncClient, operator: KeyPair
) -> None:
    number = mobile()
    result = await inbound.receive(ctx, [mo(number, "hello?")])

    assert (result.stored, result.unmatched) == (1, 1)
    listed = await get(client, operator, "/v1/admin/inbound", unmatched="true", msisdn=number)
    [item] = listed["data"]
    assert item["tenant_id"] is None and item["text"] == "hello?"


async def test_a_resent_inbound_message_is_stored_once(ctx: AppContext) -> None:
    number = mobile()
    upstream_id = f"mo-{secrets.token_hex(4)}"
    first = await inbound.receive(ctx, [mo(number, "hi", upstream_id=upstream_id)])
    again = await inbound.receive(ctx, [mo(number, "hi", upstream_id=upstream_id)])

    assert (first.stored, first.duplicates) == (1, 0)
    assert (again.stored, again.duplicates) == (0, 1)


async def test_sender_without_plus_is_stored_in_e164(ctx: AppContext) -> None:
    number = mobile()
    result = await inbound.receive(ctx, [mo(number.removeprefix("+"), "hi")])
    async with ctx.db.session() as session:
        rows = await inbound.list_inbound(
            session, tenant_id=None, limit=5, before_id=None, msisdn=number
        )
    assert result.stored == 1 and [r.msisdn for r in rows] == [number]


# --- opt-out and opt-in keywords ----------------------------------------------------------------


async def test_opt_out_keyword_suppresses_and_start_lifts_it(
    ctx: AppContext, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(ctx)
    number = mobile()
    await talked_to(ctx, tenant, number)

    out = await inbound.receive(ctx, [mo(number, " td ")])

    assert out.opted_out == 1 and await suppressed(ctx, tenant, number)
    [row] = (await get(client, tenant, "/v1/suppressions"))["data"]
    assert (row["msisdn"], row["source"]) == (number, "opt_out")
    [item] = (await get(client, tenant, "/v1/inbound", opt_action="opt_out"))["data"]
    assert item["msisdn"] == number

    back = await inbound.receive(ctx, [mo(number, "START")])

    assert back.opted_in == 1 and not await suppressed(ctx, tenant, number)


async def test_reply_never_lifts_a_suppression_the_tenant_made(
    ctx: AppContext, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(ctx)
    number = mobile()
    await talked_to(ctx, tenant, number)
    added = await client.post(
        "/v1/suppressions", json={"msisdn": number, "note": "complained"}, headers=tenant.basic
    )
    assert added.status_code == 201, added.text

    result = await inbound.receive(ctx, [mo(number, "yes")])

    assert result.opted_in == 0 and await suppressed(ctx, tenant, number)


async def test_last_keyword_of_a_batch_wins(ctx: AppContext) -> None:
    tenant = await make_tenant(ctx)
    number = mobile()
    await talked_to(ctx, tenant, number)

    await inbound.receive(ctx, [mo(number, "退订"), mo(number, "unstop")])

    assert not await suppressed(ctx, tenant, number)


async def test_inbound_webhook_carries_the_optout_flag(
    ctx: AppContext, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(ctx)
    endpoint = await client.post(
        "/v1/webhooks",
        json={"url": "http://127.0.0.1:9/hooks", "events": ["inbound.received"]},
        headers=tenant.basic,
    )
    assert endpoint.status_code == 201, endpoint.text
    number = mobile()
    await talked_to(ctx, tenant, number)

    await inbound.receive(ctx, [mo(number, "STOP")])

    path = f"/v1/webhooks/{endpoint.json()['id']}/deliveries"
    [delivery] = (await get(client, tenant, path))["data"]
    assert delivery["event_type"] == "inbound.received"
    payload = delivery["payload"]
    assert (payload["msisdn"], payload["text"], payload["optout"]) == (number, "STOP", True)


# --- the suppression API ------------------------------------------------------------------------


async def test_suppression_api(client: httpx.AsyncClient, ctx: AppContext) -> None:
    tenant = await make_tenant(ctx)
    numbers = [mobile() for _ in range(3)]
    for number in numbers:
        created = await client.post(
            "/v1/suppressions",
            json={"msisdn": number.removeprefix("+86"), "source": "import"},
            headers=tenant.basic,
        )
        assert created.status_code == 201, created.text
        assert created.json()["msisdn"] == number  # read in region CN, stored in E.164
    again = await client.post("/v1/suppressions", json={"msisdn": numbers[0]}, headers=tenant.basic)
    assert again.status_code == 200 and again.json()["source"] == "import"

    first = await get(client, tenant, "/v1/suppressions", limit=2)
    rest = await get(client, tenant, "/v1/suppressions", limit=2, cursor=first["next_cursor"])
    listed = [r["msisdn"] for r in first["data"] + rest["data"]]
    assert sorted(listed) == sorted(numbers) and rest["next_cursor"] is None
    assert (await get(client, tenant, "/v1/suppressions", source="manual"))["data"] == []
    one = await get(client, tenant, f"/v1/suppressions/{numbers[1]}")
    assert one["source"] == "import"

    gone = await client.delete(f"/v1/suppressions/{numbers[1]}", headers=tenant.basic)
    assert gone.status_code == 204
    missing = await client.delete(f"/v1/suppressions/{numbers[1]}", headers=tenant.basic)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "SUPPRESSION_NOT_FOUND"


async def test_suppression_api_refusals(client: httpx.AsyncClient, ctx: AppContext) -> None:
    tenant = await make_tenant(ctx)
    reader = await make_tenant(ctx, scopes=["read"])
    bad = await client.post("/v1/suppressions", json={"msisdn": "hello"}, headers=tenant.basic)
    assert (bad.status_code, bad.json()["error"]["code"]) == (422, "NUMBER_UNPARSEABLE")
    denied = await client.post("/v1/suppressions", json={"msisdn": mobile()}, headers=reader.basic)
    assert (denied.status_code, denied.json()["error"]["code"]) == (403, "SCOPE_MISSING")
    cursor = await client.get("/v1/suppressions?cursor=bm9wZQ", headers=tenant.basic)
    assert cursor.json()["error"]["code"] == "INVALID_CURSOR"

    key = {"Idempotency-Key": secrets.token_hex(8), **tenant.basic}
    number = mobile()
    one = await client.post("/v1/suppressions", json={"msisdn": number}, headers=key)
    same = await client.post("/v1/suppressions", json={"msisdn": number}, headers=key)
    other = await client.post("/v1/suppressions", json={"msisdn": mobile()}, headers=key)
    assert (one.status_code, same.status_code) == (201, 201) and one.json() == same.json()
    assert (other.status_code, other.json()["error"]["code"]) == (409, "IDEMPOTENCY_KEY_REUSED")


async def test_tenants_see_only_their_own(client: httpx.AsyncClient, ctx: AppContext) -> None:
    owner, other = await make_tenant(ctx), await make_tenant(ctx)
    number = mobile()
    await talked_to(ctx, owner, number)
    await inbound.receive(ctx, [mo(number, "T", connector_id=new_id("con"))])
    [item] = (await get(client, owner, "/v1/inbound"))["data"]

    assert (await get(client, other, "/v1/inbound"))["data"] == []
    assert (await get(client, other, "/v1/suppressions"))["data"] == []
    hidden = await client.get(f"/v1/inbound/{item['id']}", headers=other.basic)
    assert (hidden.status_code, hidden.json()["error"]["code"]) == (404, "INBOUND_NOT_FOUND")
    for response in (
        await client.get(f"/v1/suppressions/{number}", headers=other.basic),
        await client.delete(f"/v1/suppressions/{number}", headers=other.basic),
    ):
        assert response.json()["error"]["code"] == "SUPPRESSION_NOT_FOUND"
    assert await suppressed(ctx, owner, number)


async def test_simulator_inbound_reaches_the_tenant(
    ctx: AppContext, client: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(ctx)
    number = mobile()
    await talked_to(ctx, tenant, number)
    simulator = SimulatorConnector(new_id("con"), {})
    await simulator.start(dlr.sinks(ctx))
    try:
        sms = await simulator.emit_inbound(number, "退订", "10690000")
    finally:
        await simulator.close()

    [item] = (await get(client, tenant, "/v1/inbound"))["data"]
    assert (item["connector_id"], item["opt_action"]) == (sms.connector_id, "opt_out")
    assert await suppressed(ctx, tenant, number)
