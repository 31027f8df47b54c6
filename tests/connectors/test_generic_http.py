"""The generic HTTP connector against a small local vendor (tests/fakes/generic_http.py): the
template language, tables of wire cases, polling, and the receipt endpoint."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from hongyan import errors
from hongyan.api.context import AppContext
from hongyan.connectors import registry
from hongyan.connectors.base import (
    OutboundSms,
    PermanentSendError,
    RetryableSendError,
    SendError,
    SendResult,
)
from hongyan.connectors.generic_http import GenericHttpConnector, ReceiptMapping
from hongyan.connectors.http_template import get_path, render, render_json, template_fields
from hongyan.errors import HongyanError
from hongyan.messages import repository as messages_repo
from tests.conftest import make_tenant
from tests.factories import make_messages
from tests.fakes.generic_http import (
    CALLBACK_TOKEN,
    FORM_USER,
    TOKEN,
    FakeVendor,
    json_vendor,
    poll_settings,
)
from tests.integration.routing_kit import add_connector
from tests.integration.test_receipts import record_sent
from tests.sinks import Collector

HONGYAN = "http://hongyan.test"


def cn(suffix: str = "") -> str:
    """A CN mobile number no other test uses, ending in ``suffix``."""
    digits = f"139{secrets.randbelow(10**8):08d}"
    return "+86" + digits[: len(digits) - len(suffix)] + suffix


def sms(msisdn: str, **extra: Any) -> OutboundSms:
    fields: dict[str, Any] = {
        "message_id": f"msg_{secrets.token_hex(6)}",
        "tenant_id": "ten_http",
        "msisdn": msisdn,
        "text": "【鸿雁】您的验证码是123456",
        "encoding": "ucs2",
        "segments": 1,
        "kind": "verification",
        "region": "CN",
    }
    fields.update(extra)
    return OutboundSms(**fields)


@dataclass
class Peer:
    vendor: FakeVendor
    url: str


@pytest.fixture
async def peer() -> AsyncIterator[Peer]:
    vendor = FakeVendor()
    async with vendor.serve() as url:
        yield Peer(vendor, url)


async def send(settings: dict[str, Any], *msgs: OutboundSms) -> list[SendResult | SendError]:
    connector = registry.build("http", "con_http_wire", settings)
    await connector.start(Collector().sinks)
    try:
        return await connector.send(list(msgs))
    finally:
        await connector.close()


def with_request(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**base, "request": {**base["request"], **changes}}


# --- the template language ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "fields"),
    [
        ("{to}", {"to"}),
        ("Bearer {secret}", {"secret"}),
        ("{{literal}} {text}{sign}", {"text", "sign"}),
        ("no placeholders", set()),
    ],
)
def test_plain_placeholders(template: str, fields: set[str]) -> None:
    assert template_fields(template) == fields


@pytest.mark.parametrize(
    "template",
    ["{to.__class__}", "{text[0]}", "{0}", "{}", "{to!r}", "{to:>20}", "{to", "to}"],
)
def test_anything_beyond_a_plain_name_is_refused(template: str) -> None:
    with pytest.raises(ValueError):
        template_fields(template)


@pytest.mark.parametrize(
    ("changes", "where"),
    [
        ({"body": {"x": "{password}"}}, "settings.request"),
        ({"url": "https://v.example/send?u={__class__}"}, "settings.request"),
        ({"headers": {"X": "{to.__init__.__globals__}"}}, "settings.request"),
        ({"error_map": {"1": "NOT_A_CODE"}}, "settings.request.error_map"),
        ({"success_path": "code", "success_value": None}, "settings.request"),
        ({"body_format": "form", "body": {"p": {"nested": "{to}"}}}, "settings.request"),
    ],
)
def test_bad_request_settings_are_refused_when_saved(changes: dict[str, Any], where: str) -> None:
    with pytest.raises(HongyanError) as refused:
        registry.validate_settings("http", with_request(json_vendor("http://v"), **changes))
    assert refused.value.code == errors.CONNECTOR_SETTINGS_INVALID.code
    assert refused.value.field is not None and refused.value.field.startswith(where)


@pytest.mark.parametrize(
    "changes",
    [
        {"poll": poll_settings("http://v"), "receipts": None},
        {"callback_token": None},
        {"basic_user": "me", "secret": None},
        {"poll": {**poll_settings("http://v"), "url": "http://v/{message_id}"}},
    ],
)
def test_incomplete_settings_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(HongyanError) as refused:
        registry.validate_settings("http", {**json_vendor("http://v"), **changes})
    assert refused.value.code == errors.CONNECTOR_SETTINGS_INVALID.code


def test_json_bodies_are_built_as_data() -> None:
    text = 'quote " backslash \\ newline \n {braces} 中文 </script>'
    values = {"text": text, "to": "+8613800138000"}
    body = render_json(
        {"m": "{text}", "n": ["{to}", 1, True, None], "p": "{params}"}, values, {"code": "1"}
    )
    assert json.loads(json.dumps(body)) == {
        "m": text,
        "n": ["+8613800138000", 1, True, None],
        "p": {"code": "1"},
    }
    assert render("a={text}", values, encode=True).startswith("a=quote%20%22%20backslash")


@pytest.mark.parametrize(
    ("data", "path", "found"),
    [
        ({"a": {"b": [{"c": 1}]}}, "a.b.0.c", 1),
        ({"a": {"b": [{"c": 1}]}}, "$.a.b.0.c", 1),
        ({"a": [1]}, "a.5", None),
        ({"a": "x"}, "a.b", None),
        ([{"id": "z"}], "0.id", "z"),
        ({"a": 1}, None, {"a": 1}),
    ],
)
def test_paths(data: Any, path: str | None, found: Any) -> None:
    assert get_path(data, path) == found


# --- sending: tables of wire cases -------------------------------------------------------------

REFUSALS = [
    # (number suffix, error class, Hongyan code, raw code)
    ("1001", PermanentSendError, "NUMBER_INVALID", "1001"),
    ("1002", PermanentSendError, "NUMBER_SUPPRESSED", "1002"),
    ("1003", RetryableSendError, "CONNECTOR_UNAVAILABLE", "1003"),
    ("0500", RetryableSendError, "CONNECTOR_UNAVAILABLE", "HTTP_500"),
    ("3000", SendError, "SUBMIT_OUTCOME_UNKNOWN", None),
]


@pytest.mark.parametrize(("suffix", "cls", "code", "raw"), REFUSALS)
async def test_answers_map_by_the_rules(
    peer: Peer, suffix: str, cls: type[SendError], code: str, raw: str | None
) -> None:
    [result] = await send(json_vendor(peer.url), sms(cn(suffix)))
    assert type(result) is cls
    assert (result.code, result.raw_code) == (code, raw)


async def test_an_accepted_message_sends_what_the_template_says(peer: Peer) -> None:
    msg = sms(cn(), text='【鸿雁】"引号" & 换行\n')
    [result] = await send(json_vendor(peer.url), msg)
    assert isinstance(result, SendResult) and result.raw_code == "0"
    [sid] = result.upstream_ids
    sent = peer.vendor.sent[sid]
    assert sent.request == {"mobile": msg.msisdn, "content": msg.text, "ref": msg.message_id}
    assert sent.headers["authorization"] == f"Bearer {TOKEN}"
    assert sent.headers["content-type"] == "application/json"


async def test_a_wrong_secret_can_be_mapped_to_fail_over(peer: Peer) -> None:
    settings = with_request(
        json_vendor(peer.url, secret="wrong"),
        retryable_statuses=[401, 429, 500, 502, 503, 504],
        error_map={"401": "VENDOR_AUTH_FAILED"},
    )
    plain = with_request(json_vendor(peer.url, secret="wrong"))
    [mapped] = await send(settings, sms(cn()))
    [unmapped] = await send(plain, sms(cn()))
    assert isinstance(mapped, RetryableSendError)
    assert (mapped.code, mapped.raw_code) == ("VENDOR_AUTH_FAILED", "401")
    assert isinstance(unmapped, PermanentSendError)
    assert (unmapped.code, unmapped.raw_code, unmapped.detail) == (
        "REJECTED_BY_CARRIER",
        "401",
        "unauthorized",
    )
    assert not peer.vendor.sent


async def test_template_codes_come_from_the_map(peer: Peer) -> None:
    body = {"mobile": "{to}", "template": "{template_code}", "params": "{params}", "p": "{params}x"}
    settings = with_request(json_vendor(peer.url), body=body)
    settings["template_map"] = {"tpl_a": "V-100"}
    mapped = sms(cn(), template_id="tpl_a", params={"code": "1234"})
    [ok, missing, free] = await send(
        settings, mapped, sms(cn(), template_id="tpl_b"), sms(cn(), template_id=None)
    )
    assert isinstance(ok, SendResult)
    assert peer.vendor.sent[ok.upstream_ids[0]].request == {
        "mobile": mapped.msisdn,
        "template": "V-100",
        "params": {"code": "1234"},
        "p": '{"code":"1234"}x',
    }
    for refused in (missing, free):
        assert isinstance(refused, RetryableSendError)
        assert refused.code == errors.VENDOR_TEMPLATE_NOT_MAPPED.code
    assert peer.vendor.requests == 1


async def test_a_get_request_encodes_values_in_the_url(peer: Peer) -> None:
    url = peer.url + "/sms/send?mobile={to_digits}&content={text}&ts={timestamp}"
    settings = with_request(json_vendor(peer.url), method="GET", url=url, body_format="none")
    msg = sms(cn(), text="a&b=c?d 【鸿雁】%20")
    [result] = await send(settings, msg)
    assert isinstance(result, SendResult)
    assert peer.vendor.query["mobile"] == msg.msisdn.removeprefix("+")
    assert peer.vendor.query["content"] == msg.text
    assert peer.vendor.query["ts"].isdigit()


async def test_a_form_vendor_that_refers_to_our_id(peer: Peer) -> None:
    request = {
        "url": f"{peer.url}/form/send",
        "body_format": "form",
        "body": {
            "user": FORM_USER,
            "key": "{secret}",
            "to": "{to}",
            "text": "{text}",
            "ref": "{message_id}",
        },
        "success_path": "result",
        "success_value": "OK",
        "error_code_path": "code",
    }
    settings = {"request": request, "secret": TOKEN}
    msg = sms(cn())
    [result] = await send(settings, msg)
    [refused] = await send({**settings, "secret": "wrong"}, sms(cn()))
    assert isinstance(result, SendResult) and result.upstream_ids == (msg.message_id,)
    sent = peer.vendor.by_ref(msg.message_id)
    assert (sent.mobile, sent.content) == (msg.msisdn, msg.text)
    assert isinstance(refused, PermanentSendError) and refused.raw_code == "AUTH"


async def test_basic_auth(peer: Peer) -> None:
    settings = with_request(json_vendor(peer.url, basic_user="acct"), headers={})
    [result] = await send(settings, sms(cn()))
    assert isinstance(result, PermanentSendError)  # this vendor wants a bearer token
    expected = "Basic " + base64.b64encode(f"acct:{TOKEN}".encode()).decode()
    assert peer.vendor.headers["authorization"] == expected


async def test_time_out_error_and_unreachable_are_retryable(peer: Peer) -> None:
    peer.vendor.mode = "timeout"
    [timed_out] = await send(json_vendor(peer.url, timeout_secs=0.3), sms(cn()))
    peer.vendor.mode = "error"
    [busy] = await send(json_vendor(peer.url), sms(cn()))
    [unreachable] = await send(json_vendor("http://127.0.0.1:9"), sms(cn()))
    assert isinstance(timed_out, RetryableSendError) and timed_out.code == "SUBMIT_TIMEOUT"
    assert isinstance(busy, RetryableSendError) and (busy.code, busy.raw_code) == (
        "CONNECTOR_UNAVAILABLE",
        "503",
    )
    assert isinstance(unreachable, RetryableSendError)
    assert unreachable.code == "CONNECTOR_UNAVAILABLE"


# --- receipts ----------------------------------------------------------------------------------

MAPPING = ReceiptMapping.model_validate(json_vendor("http://v")["receipts"])


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ({"sid": "V1", "state": "DELIVRD", "err": ""}, ("delivered", None, "DELIVRD")),
        (
            {"sid": "V1", "state": "UNDELIV", "err": "MK:0001"},
            ("undelivered", "UNDELIVERABLE", "MK:0001"),
        ),
        ({"sid": "V1", "state": "UNDELIV", "err": "MK:9999"}, ("undelivered", None, "MK:9999")),
        ({"sid": "V1", "state": "EXPIRED"}, ("expired", None, "EXPIRED")),
        ({"sid": "V1", "state": "ACCEPTD"}, ("accepted", None, "ACCEPTD")),
        ({"sid": "V1", "state": "WHAT"}, None),
        ({"state": "DELIVRD"}, None),
        ("not an object", None),
    ],
)
def test_receipt_mapping(item: Any, expected: tuple[str, str | None, str] | None) -> None:
    receipt = MAPPING.receipt("con_x", item)
    if expected is None:
        assert receipt is None
        return
    assert receipt is not None and receipt.upstream_id == "V1"
    assert (receipt.status, receipt.error_code, receipt.raw_code) == expected


async def test_polling_hands_final_receipts_to_the_sink(peer: Peer) -> None:
    collector = Collector()
    connector = registry.build(
        "http", "con_http_poll", json_vendor(peer.url, poll=poll_settings(peer.url))
    )
    assert isinstance(connector, GenericHttpConnector)
    await connector.start(collector.sinks)
    try:
        results = await connector.send([sms(cn()), sms(cn("2001")), sms(cn("2002"))])
        sids = [r.upstream_ids[0] for r in results if isinstance(r, SendResult)]
        for _ in range(400):
            if len(collector.receipts) >= 3:
                break
            await asyncio.sleep(0.01)
    finally:
        await connector.close()
    got = {r.upstream_id: (r.status, r.error_code, r.raw_code) for r in collector.receipts}
    assert got == {
        sids[0]: ("delivered", None, "DELIVRD"),
        sids[1]: ("undelivered", "UNDELIVERABLE", "MK:0001"),
        sids[2]: ("expired", None, "EXPIRED"),
    }


# --- the receipt endpoint (SQLite and PostgreSQL) ----------------------------------------------


@dataclass
class Wired:
    ctx: AppContext
    connector_id: str
    connector: GenericHttpConnector
    vendor: FakeVendor
    tenant_id: str

    @property
    def url(self) -> str:
        return f"{HONGYAN}/callbacks/http/{self.connector_id}/receipts?token={CALLBACK_TOKEN}"

    async def send(self, *numbers: str) -> list[tuple[str, str]]:
        messages = [
            m
            for number in numbers
            for m in await make_messages(self.ctx, self.tenant_id, status="sending", msisdn=number)
        ]
        results = await self.connector.send(
            [sms(m.msisdn, message_id=m.id, tenant_id=m.tenant_id) for m in messages]
        )
        sids = []
        for result in results:
            assert isinstance(result, SendResult), result
            sids.append(list(result.upstream_ids))
        await record_sent(self.ctx, self.connector_id, messages, sids, match=True)
        return [(m.id, s[0]) for m, s in zip(messages, sids, strict=True)]

    async def status(self, message_id: str) -> tuple[str, str | None, str | None]:
        async with self.ctx.db.session() as session:
            [found] = await messages_repo.get_many(session, [message_id])
        return found.status, found.error_code, found.raw_code


@pytest.fixture
async def wired(ctx: AppContext, client: httpx.AsyncClient) -> AsyncIterator[Wired]:
    vendor = FakeVendor()
    vendor.push_client = client
    tenant = await make_tenant(ctx)
    assert tenant.tenant_id
    async with vendor.serve() as url:
        settings = json_vendor(url)
        connector_id = await add_connector(ctx, kind="http", **settings)
        connector = registry.build("http", connector_id, settings)
        assert isinstance(connector, GenericHttpConnector)
        await connector.start(Collector().sinks)
        try:
            yield Wired(ctx, connector_id, connector, vendor, tenant.tenant_id)
        finally:
            await connector.close()


async def test_pushed_receipts_finish_messages(wired: Wired) -> None:
    sent = await wired.send(cn(), cn("2001"), cn("2002"))
    answer = await wired.vendor.push_receipts(wired.url, [sid for _, sid in sent])
    assert (answer.status_code, answer.json()) == (200, {"code": 0})
    assert [await wired.status(m) for m, _ in sent] == [
        ("delivered", None, "DELIVRD"),
        ("undelivered", "UNDELIVERABLE", "MK:0001"),
        ("expired", "DELIVERY_EXPIRED", "EXPIRED"),
    ]


async def test_a_single_object_is_one_receipt(wired: Wired, client: httpx.AsyncClient) -> None:
    [(message_id, sid)] = await wired.send(cn())
    answer = await client.post(wired.url, json={"reports": {"sid": sid, "state": "DELIVRD"}})
    assert answer.status_code == 200
    assert (await wired.status(message_id))[0] == "delivered"


async def test_a_wrong_token_stores_nothing(wired: Wired, client: httpx.AsyncClient) -> None:
    [(message_id, sid)] = await wired.send(cn())
    body = {"reports": [{"sid": sid, "state": "DELIVRD"}]}
    base = f"/callbacks/http/{wired.connector_id}/receipts"
    for url in (f"{base}?token=wrong", base):
        answer = await client.post(url, json=body)
        assert answer.status_code == 403
        assert answer.json()["error"]["code"] == errors.CALLBACK_SIGNATURE_INVALID.code
    assert (await wired.status(message_id))[0] == "sent"
    async with wired.ctx.db.session() as session:
        assert await messages_repo.pending_for(session, [(wired.connector_id, sid)]) == []


@pytest.mark.parametrize(
    ("content", "status"),
    [
        ({"content": b"not json", "headers": {"Content-Type": "application/json"}}, 400),
        ({"json": {"reports": "nope"}}, 422),
        ({"json": {"reports": [{"sid": "x", "state": "DELIVRD"}] * 1001}}, 422),
    ],
)
async def test_malformed_pushes_are_refused(
    wired: Wired, client: httpx.AsyncClient, content: dict[str, Any], status: int
) -> None:
    assert (await client.post(wired.url, **content)).status_code == status


async def test_form_pushes_and_other_connectors(
    wired: Wired, client: httpx.AsyncClient, ctx: AppContext
) -> None:
    settings = json_vendor("http://v")
    settings["receipts"] = {**settings["receipts"], "items_path": None, "response_body": "OK"}
    settings["receipts"]["response_content_type"] = "text/plain"
    form_connector = await add_connector(ctx, kind="http", **settings)
    wired.connector_id = form_connector  # messages recorded as sent through it
    [(message_id, sid)] = await wired.send(cn())
    answer = await client.post(wired.url, data={"sid": sid, "state": "UNDELIV", "err": "MK:0001"})
    assert (answer.status_code, answer.text) == (200, "OK")
    assert await wired.status(message_id) == ("undelivered", "UNDELIVERABLE", "MK:0001")
    without = await add_connector(ctx, kind="http", request=settings["request"])
    simulator = await add_connector(ctx, kind="simulator")
    for connector_id in (without, simulator, "con_nope"):
        answer = await client.post(
            f"/callbacks/http/{connector_id}/receipts?token={CALLBACK_TOKEN}", json=[]
        )
        assert answer.status_code == 404, connector_id
