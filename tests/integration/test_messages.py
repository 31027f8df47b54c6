"""The sending API: acceptance, checks in order, batches, scheduling, idempotency, test keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from hongyan.api.context import AppContext
from tests.conftest import KeyPair
from tests.senders import UNIT_PRICE, Sender, make_sender


@pytest.fixture
async def sender(client: httpx.AsyncClient, ctx: AppContext) -> Sender:
    return await make_sender(client, ctx)


def otp(sender: Sender, to: str = "13800138000", **extra: object) -> dict[str, object]:
    return {
        "to": to,
        "sign": sender.sign,
        "template": sender.templates["verification"],
        "params": {"code": "123456"},
        **extra,
    }


async def balance_of(client: httpx.AsyncClient, key: KeyPair) -> int:
    return int((await client.get("/v1/balance", headers=key.basic)).json()["balance"])


async def test_send_one_is_accepted_priced_and_held(
    client: httpx.AsyncClient, sender: Sender
) -> None:
    before = await balance_of(client, sender.key)
    response = await client.post(
        "/v1/messages", json=otp(sender, out_id="order-1"), headers=sender.key.basic
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["id"].startswith("msg_") and body["status"] == "queued"
    assert body["to"] == "+8613800138000" and body["kind"] == "verification"
    assert body["text"] == f"【{sender.sign}】您的验证码是123456,5分钟内有效。"
    assert (body["encoding"], body["segments"]) == ("ucs2", 1)
    assert (body["price"], body["currency"]) == (UNIT_PRICE, "CNY")
    assert await balance_of(client, sender.key) == before - UNIT_PRICE
    ledger = (await client.get("/v1/ledger", headers=sender.key.basic)).json()["data"]
    assert ledger[0]["kind"] == "hold" and ledger[0]["message_id"] == body["id"]
    detail = (await client.get(f"/v1/messages/{body['id']}", headers=sender.key.basic)).json()
    assert detail["history"][0]["status"] == "queued"
    found = (
        await client.get("/v1/messages", params={"out_id": "order-1"}, headers=sender.key.basic)
    ).json()["data"]
    assert [m["id"] for m in found] == [body["id"]]


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"sign": "不存在的签名"}, "SIGN_NOT_FOUND", "sign"),
        ({"template": "tpl_missing"}, "TEMPLATE_NOT_FOUND", "template"),
        ({"params": {}}, "PARAM_MISSING", "params.code"),
        ({"params": {"code": "12"}}, "PARAM_VERIFICATION_CODE_INVALID", "params.code"),
        ({"to": "010-12345678"}, "NUMBER_NOT_MOBILE", "to"),
        ({"to": "12345"}, None, "to"),
        ({"sign": None}, "SIGN_REQUIRED", "sign"),
        ({"template": None, "body": "hello"}, "FREE_TEXT_NOT_ALLOWED", "body"),
        ({"body": "hello"}, "TEMPLATE_OR_BODY_REQUIRED", "template"),
        ({"send_at": "2020-01-01T00:00:00Z"}, "SEND_AT_INVALID", "send_at"),
    ],
)
async def test_each_check_refuses_with_its_code_and_changes_nothing(
    client: httpx.AsyncClient,
    sender: Sender,
    change: dict[str, object],
    code: str | None,
    field: str,
) -> None:
    before = await balance_of(client, sender.key)
    request = {k: v for k, v in {**otp(sender), **change}.items() if v is not None}
    response = await client.post("/v1/messages", json=request, headers=sender.key.basic)
    assert response.status_code in (403, 404, 409, 422), response.text
    error = response.json()["error"]
    if code:
        assert error["code"] == code
    else:
        assert error["code"].startswith("NUMBER_")
    assert error["field"] == field
    assert await balance_of(client, sender.key) == before
    listed = (await client.get("/v1/messages", headers=sender.key.basic)).json()["data"]
    assert listed == []


async def test_content_blocked_in_a_variable(client: httpx.AsyncClient, sender: Sender) -> None:
    request = {
        "to": "13800138000",
        "sign": sender.sign,
        "template": sender.templates["notification"],
        "params": {"order": "赌博"},
    }
    response = await client.post("/v1/messages", json=request, headers=sender.key.basic)
    assert response.json()["error"]["code"] == "CONTENT_BLOCKED"
    assert response.json()["error"]["field"] == "params.order"


async def test_suppressed_number_and_balance(client: httpx.AsyncClient, ctx: AppContext) -> None:
    poor = await make_sender(client, ctx, balance=UNIT_PRICE)
    added = await client.post(
        "/v1/suppressions", json={"msisdn": "+8613900000000"}, headers=poor.key.basic
    )
    assert added.status_code in (200, 201), added.text
    refused = await client.post(
        "/v1/messages", json=otp(poor, to="13900000000"), headers=poor.key.basic
    )
    assert refused.json()["error"]["code"] == "NUMBER_SUPPRESSED"
    ok = await client.post("/v1/messages", json=otp(poor), headers=poor.key.basic)
    assert ok.status_code == 202
    broke = await client.post(
        "/v1/messages", json=otp(poor, to="13912345678"), headers=poor.key.basic
    )
    assert (broke.status_code, broke.json()["error"]["code"]) == (402, "INSUFFICIENT_BALANCE")


async def test_frequency_limit_names_the_window(client: httpx.AsyncClient, sender: Sender) -> None:
    first = await client.post(
        "/v1/messages", json=otp(sender, to="13700000001"), headers=sender.key.basic
    )
    assert first.status_code == 202
    second = await client.post(
        "/v1/messages", json=otp(sender, to="13700000001"), headers=sender.key.basic
    )
    assert second.json()["error"]["code"] == "FREQUENCY_LIMITED"
    assert "minute" in second.json()["error"]["message"]


async def test_batch_partial_acceptance(client: httpx.AsyncClient, sender: Sender) -> None:
    before = await balance_of(client, sender.key)
    response = await client.post(
        "/v1/messages/batch",
        headers=sender.key.basic,
        json={
            "sign": sender.sign,
            "template": sender.templates["notification"],
            "recipients": [
                {"to": "13800138001", "params": {"order": "A1"}},
                {"to": "010-12345678", "params": {"order": "A2"}},
                {"to": "13800138003", "params": {}},
                {"to": "+86 138 0013 8004", "params": {"order": "A4"}, "out_id": "x4"},
            ],
        },
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert [m["to"] for m in body["accepted"]] == ["+8613800138001", "+8613800138004"]
    assert [(r["index"], r["error"]["code"]) for r in body["rejected"]] == [
        (1, "NUMBER_NOT_MOBILE"),
        (2, "PARAM_MISSING"),
    ]
    assert await balance_of(client, sender.key) == before - 2 * UNIT_PRICE


async def test_schedule_and_cancel_refunds(client: httpx.AsyncClient, sender: Sender) -> None:
    before = await balance_of(client, sender.key)
    later = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    request = {
        "to": "13800138010",
        "sign": sender.sign,
        "params": {"order": "S1"},
        "template": sender.templates["notification"],
        "send_at": later,
    }
    scheduled = await client.post("/v1/messages", json=request, headers=sender.key.basic)
    assert scheduled.json()["status"] == "scheduled" and scheduled.json()["send_at"]
    message_id = scheduled.json()["id"]
    canceled = await client.post(f"/v1/messages/{message_id}/cancel", headers=sender.key.basic)
    assert canceled.json()["status"] == "canceled"
    assert await balance_of(client, sender.key) == before
    again = await client.post(f"/v1/messages/{message_id}/cancel", headers=sender.key.basic)
    assert again.json()["error"]["code"] == "MESSAGE_NOT_CANCELABLE"


async def test_idempotency_key(client: httpx.AsyncClient, sender: Sender) -> None:
    headers = {**sender.key.basic, "Idempotency-Key": "otp-42"}
    first = await client.post("/v1/messages", json=otp(sender, to="13600000042"), headers=headers)
    second = await client.post("/v1/messages", json=otp(sender, to="13600000042"), headers=headers)
    assert first.status_code == second.status_code == 202
    assert first.json()["id"] == second.json()["id"]
    listed = (
        await client.get("/v1/messages", params={"to": "13600000042"}, headers=sender.key.basic)
    ).json()["data"]
    assert len(listed) == 1
    other = await client.post("/v1/messages", json=otp(sender, to="13600000043"), headers=headers)
    assert (other.status_code, other.json()["error"]["code"]) == (409, "IDEMPOTENCY_KEY_REUSED")


async def test_other_tenants_messages_are_404(
    client: httpx.AsyncClient, ctx: AppContext, sender: Sender
) -> None:
    sent = await client.post(
        "/v1/messages", json=otp(sender, to="13500000001"), headers=sender.key.basic
    )
    stranger = await make_sender(client, ctx)
    peek = await client.get(f"/v1/messages/{sent.json()['id']}", headers=stranger.key.basic)
    assert peek.status_code == 404 and peek.json()["error"]["code"] == "MESSAGE_NOT_FOUND"
    cancel = await client.post(
        f"/v1/messages/{sent.json()['id']}/cancel", headers=stranger.key.basic
    )
    assert cancel.status_code == 404


async def test_test_mode_key_is_not_billed(client: httpx.AsyncClient, sender: Sender) -> None:
    created = await client.post(
        "/v1/keys", json={"name": "sandbox", "test_mode": True}, headers=sender.key.basic
    )
    test_key = KeyPair(created.json()["id"], created.json()["secret"], sender.tenant_id)
    before = await balance_of(client, sender.key)
    response = await client.post(
        "/v1/messages", json=otp(sender, to="13300000001"), headers=test_key.basic
    )
    assert response.status_code == 202, response.text
    assert response.json()["test_mode"] is True and response.json()["price"] == 0
    assert await balance_of(client, sender.key) == before
