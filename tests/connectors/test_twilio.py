"""The Twilio connector against a local Twilio (tests/fakes/twilio.py), with twilio-python as
the witness that the fake speaks Twilio: tables of wire cases, the signature, the callbacks."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from hongyan import errors
from hongyan.accounts import service as accounts
from hongyan.api.app import create_app
from hongyan.api.context import AppContext
from hongyan.connectors import registry, twilio
from hongyan.connectors.base import (
    OutboundSms,
    PermanentSendError,
    RetryableSendError,
    SendError,
    SendResult,
)
from hongyan.connectors.twilio import TwilioConnector, receipt_of, send_error, signature
from hongyan.dlr import service as dlr
from hongyan.errors import HongyanError
from hongyan.messages import repository as messages_repo
from hongyan.models import utcnow
from hongyan.routing import service as routing
from hongyan.routing.schemas import ConnectorUpdate
from tests.conftest import make_tenant
from tests.factories import make_messages
from tests.fakes.twilio import (
    ACCOUNT_SID,
    API_KEY_SECRET,
    API_KEY_SID,
    AUTH_TOKEN,
    CONTRACT_SETTINGS,
    FROM_NUMBER,
    SERVICE_SID,
    FakeTwilio,
    twilio_signature,
)
from tests.integration.routing_kit import add_connector
from tests.integration.test_receipts import record_sent
from tests.sinks import Collector

HONGYAN = "http://hongyan.test"  # the base URL of the `client` fixture's app


def us(suffix: str = "") -> str:
    """A US mobile number no other test uses, ending in ``suffix``."""
    digits = f"415{secrets.randbelow(10**7):07d}"
    return "+1" + digits[: len(digits) - len(suffix)] + suffix


def sms(msisdn: str, **extra: Any) -> OutboundSms:
    fields: dict[str, Any] = {
        "message_id": f"msg_{secrets.token_hex(6)}",
        "tenant_id": "ten_twilio",
        "msisdn": msisdn,
        "text": "Your Hongyan code is 123456",
        "encoding": "gsm7",
        "segments": 1,
        "kind": "verification",
        "region": "US",
    }
    fields.update(extra)
    return OutboundSms(**fields)


def settings_for(base_url: str, **extra: Any) -> dict[str, Any]:
    found = {
        "account_sid": ACCOUNT_SID,
        "auth_token": AUTH_TOKEN,
        "from_number": FROM_NUMBER,
        "base_url": base_url,
        "timeout_secs": 5,
    }
    found.update(extra)
    return found


@dataclass
class Peer:
    fake: FakeTwilio
    url: str


@pytest.fixture
async def peer() -> AsyncIterator[Peer]:
    fake = FakeTwilio()
    async with fake.serve() as url:
        yield Peer(fake, url)


async def started(connector_id: str, settings: dict[str, Any]) -> TwilioConnector:
    connector = registry.build("twilio", connector_id, settings)
    assert isinstance(connector, TwilioConnector)
    await connector.start(Collector().sinks)
    return connector


async def send_one(peer: Peer, msg: OutboundSms, **extra: Any) -> SendResult | SendError:
    connector = await started("con_twilio_wire", settings_for(peer.url, **extra))
    try:
        [result] = await connector.send([msg])
    finally:
        await connector.close()
    return result


# --- settings ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"account_sid": "AC123"},
        {"auth_token": None},  # and no API key
        {"api_key_sid": API_KEY_SID},  # without its secret
        {"from_number": None},  # and no messaging service
        {"messaging_service_sid": "MG1"},
        {
            "auth_token": None,
            "api_key_sid": API_KEY_SID,
            "api_key_secret": "s",
            "status_callback_base": "https://x",
        },
        {"base_url": "api.twilio.com"},
        {"region": "us1"},
    ],
)
def test_incomplete_or_unknown_settings_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(HongyanError) as refused:
        registry.validate_settings("twilio", {**settings_for("https://api.twilio.com"), **changes})
    assert refused.value.code == errors.CONNECTOR_SETTINGS_INVALID.code


def test_secrets_are_declared() -> None:
    assert registry.secret_keys("twilio") == {"auth_token", "api_key_secret"}
    checked = registry.validate_settings("twilio", CONTRACT_SETTINGS)
    assert checked["base_url"] == "https://api.twilio.com" and checked["poll_receipts"] is True


# --- sending: a table of wire cases ------------------------------------------------------------

REFUSALS = [
    # (To, error class, Hongyan code, Twilio code)
    ("4155550123", PermanentSendError, errors.NUMBER_INVALID.code, "21211"),
    (us("21610"), PermanentSendError, errors.RECIPIENT_OPTED_OUT.code, "21610"),
    (us("21614"), PermanentSendError, errors.NUMBER_NOT_MOBILE.code, "21614"),
    (us("21408"), PermanentSendError, errors.DESTINATION_NOT_PERMITTED.code, "21408"),
    (us("21612"), PermanentSendError, errors.DESTINATION_NOT_PERMITTED.code, "21612"),
    (us("20429"), RetryableSendError, errors.CONNECTOR_UNAVAILABLE.code, "20429"),
    (us("20500"), RetryableSendError, errors.CONNECTOR_UNAVAILABLE.code, "20500"),
]


@pytest.mark.parametrize(("to", "cls", "code", "raw"), REFUSALS)
async def test_refusals_map_by_the_table(
    peer: Peer, to: str, cls: type[SendError], code: str, raw: str
) -> None:
    result = await send_one(peer, sms(to))
    assert type(result) is cls
    assert (result.code, result.raw_code) == (code, raw)


SETTINGS_REFUSALS = [
    # (settings changed, error class, Hongyan code, Twilio code)
    ({"auth_token": "wrong" * 6}, RetryableSendError, errors.VENDOR_AUTH_FAILED.code, "20003"),
    (
        {"api_key_sid": API_KEY_SID, "api_key_secret": "wrong"},
        RetryableSendError,
        errors.VENDOR_AUTH_FAILED.code,
        "20003",
    ),
    (
        {"from_number": "+14155559999"},
        RetryableSendError,
        errors.VENDOR_SENDER_INVALID.code,
        "21606",
    ),
    (
        {"messaging_service_sid": "MG" + "ab" * 16},
        RetryableSendError,
        errors.VENDOR_SENDER_INVALID.code,
        "21701",
    ),
]


@pytest.mark.parametrize(("changed", "cls", "code", "raw"), SETTINGS_REFUSALS)
async def test_connector_level_refusals_fail_over(
    peer: Peer, changed: dict[str, Any], cls: type[SendError], code: str, raw: str
) -> None:
    result = await send_one(peer, sms(us()), **changed)
    assert type(result) is cls
    assert (result.code, result.raw_code) == (code, raw)


async def test_a_body_over_1600_characters_is_refused_for_good(peer: Peer) -> None:
    result = await send_one(peer, sms(us(), text="x" * 1601, segments=11))
    assert isinstance(result, PermanentSendError)
    assert (result.code, result.raw_code) == (errors.TOO_MANY_SEGMENTS.code, "21617")


async def test_accepted_message_carries_the_documented_fields(peer: Peer) -> None:
    to = us()
    msg = sms(to, validity_until=utcnow() + timedelta(minutes=10))
    result = await send_one(peer, msg, status_callback_base="https://sms.example.com/")
    assert isinstance(result, SendResult) and result.raw_code == "queued"
    [sid] = result.upstream_ids
    sent = peer.fake.messages[sid]
    assert sid.startswith("SM") and len(sid) == 34
    assert (sent.to, sent.from_, sent.service, sent.body) == (to, FROM_NUMBER, None, msg.text)
    assert sent.status_callback == "https://sms.example.com/callbacks/twilio/con_twilio_wire/status"
    assert sent.validity_period is not None and 590 <= int(sent.validity_period) <= 600


@pytest.mark.parametrize(
    ("changed", "sender", "service"),
    [
        ({"api_key_sid": API_KEY_SID, "api_key_secret": API_KEY_SECRET}, FROM_NUMBER, None),
        ({"messaging_service_sid": SERVICE_SID, "from_number": None}, None, SERVICE_SID),
    ],
)
async def test_api_key_and_messaging_service(
    peer: Peer, changed: dict[str, Any], sender: str | None, service: str | None
) -> None:
    result = await send_one(peer, sms(us()), **changed)
    assert isinstance(result, SendResult)
    sent = peer.fake.messages[result.upstream_ids[0]]
    assert (sent.from_, sent.service, sent.status_callback) == (sender, service, None)


async def test_validity_beyond_twilios_maximum_is_left_to_its_default(peer: Peer) -> None:
    result = await send_one(peer, sms(us(), validity_until=utcnow() + timedelta(days=2)))
    assert isinstance(result, SendResult)
    assert peer.fake.messages[result.upstream_ids[0]].validity_period is None


async def test_expired_validity_is_not_sent(peer: Peer) -> None:
    result = await send_one(peer, sms(us(), validity_until=utcnow() - timedelta(seconds=1)))
    assert isinstance(result, PermanentSendError) and result.code == errors.EXPIRED.code
    assert peer.fake.creates == 0


async def test_time_out_and_server_error_are_retryable(peer: Peer) -> None:
    peer.fake.mode = "timeout"
    timed_out = await send_one(peer, sms(us()), timeout_secs=0.3)
    peer.fake.mode = "error"
    failed = await send_one(peer, sms(us()))
    assert isinstance(timed_out, RetryableSendError)
    assert timed_out.code == errors.SUBMIT_TIMEOUT.code
    assert isinstance(failed, RetryableSendError)
    assert (failed.code, failed.raw_code) == (errors.CONNECTOR_UNAVAILABLE.code, "20500")


async def test_unreachable_twilio_is_retryable() -> None:
    fake = FakeTwilio()
    async with fake.serve() as url:
        pass  # stopped: nothing listens there any more
    connector = await started("con_twilio_down", settings_for(url))
    try:
        [result] = await connector.send([sms(us())])
    finally:
        await connector.close()
    assert isinstance(result, RetryableSendError)
    assert result.code == errors.CONNECTOR_UNAVAILABLE.code


async def test_a_batch_keeps_its_order(peer: Peer) -> None:
    numbers = [us(), us("21614"), us(), "12", us("20429"), us()]
    connector = await started("con_twilio_batch", settings_for(peer.url, max_concurrency=3))
    try:
        results = await connector.send([sms(n) for n in numbers])
    finally:
        await connector.close()
    kinds = [type(r).__name__ for r in results]
    assert kinds == [
        "SendResult",
        "PermanentSendError",
        "SendResult",
        "PermanentSendError",
        "RetryableSendError",
        "SendResult",
    ]
    tos = [peer.fake.messages[r.upstream_ids[0]].to for r in results if isinstance(r, SendResult)]
    assert tos == [numbers[0], numbers[2], numbers[5]]


@pytest.mark.parametrize(
    ("http_status", "body", "retry_after", "cls", "code", "raw", "retry_in"),
    [
        (
            400,
            {"code": 21999, "message": "?"},
            None,
            PermanentSendError,
            "REJECTED_BY_CARRIER",
            "21999",
            None,
        ),
        (400, "not json", None, PermanentSendError, "REJECTED_BY_CARRIER", "HTTP_400", None),
        (502, None, None, RetryableSendError, "CONNECTOR_UNAVAILABLE", "HTTP_502", None),
        (429, {"code": 20429}, "7", RetryableSendError, "CONNECTOR_UNAVAILABLE", "20429", 7),
        (401, {"code": 20003}, None, RetryableSendError, "VENDOR_AUTH_FAILED", "20003", None),
        (404, {"code": 20404}, None, RetryableSendError, "VENDOR_AUTH_FAILED", "20404", None),
        (400, {"code": 21604}, None, PermanentSendError, "NUMBER_INVALID", "21604", None),
    ],
)
def test_send_error_table(
    http_status: int,
    body: Any,
    retry_after: str | None,
    cls: type[SendError],
    code: str,
    raw: str,
    retry_in: int | None,
) -> None:
    error = send_error(http_status, body, retry_after)
    assert type(error) is cls and (error.code, error.raw_code) == (code, raw)
    if isinstance(error, RetryableSendError):
        assert error.retry_in == (timedelta(seconds=retry_in) if retry_in else None)


# --- statuses ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error_code", "expected"),
    [
        ("queued", None, None),
        ("sending", None, None),
        ("accepted", None, None),
        ("sent", None, ("accepted", None, "sent")),
        ("delivered", None, ("delivered", None, "delivered")),
        ("read", None, ("delivered", None, "read")),
        ("undelivered", "30003", ("undelivered", "UNDELIVERABLE", "30003")),
        ("undelivered", "30004", ("undelivered", "REJECTED_BY_CARRIER", "30004")),
        ("undelivered", "30005", ("undelivered", "UNDELIVERABLE", "30005")),
        ("undelivered", "30006", ("undelivered", "NUMBER_NOT_MOBILE", "30006")),
        ("undelivered", "30007", ("undelivered", "CARRIER_FILTERED", "30007")),
        ("undelivered", "30008", ("undelivered", "UNDELIVERABLE", "30008")),
        ("undelivered", "30034", ("undelivered", "CARRIER_FILTERED", "30034")),
        ("undelivered", "30099", ("undelivered", None, "30099")),
        ("failed", "30001", ("rejected", None, "30001")),
        ("failed", 21610, ("rejected", "RECIPIENT_OPTED_OUT", "21610")),
        ("canceled", None, ("rejected", None, "canceled")),
    ],
)
def test_status_table(
    status: str, error_code: str | int | None, expected: tuple[str, str | None, str] | None
) -> None:
    receipt = receipt_of("con_x", "SM1", status, error_code)
    if expected is None:
        assert receipt is None
        return
    assert receipt is not None
    assert (receipt.status, receipt.error_code, receipt.raw_code) == expected


async def test_polling_hands_final_receipts_to_the_sink(peer: Peer) -> None:
    collector = Collector()
    numbers = [us(), us("30003"), us("30001")]
    connector = registry.build(
        "twilio",
        "con_twilio_poll",
        settings_for(peer.url, poll_receipts=True, poll_interval_secs=0.05),
    )
    await connector.start(collector.sinks)
    try:
        results = await connector.send([sms(n) for n in numbers])
        sids = [r.upstream_ids[0] for r in results if isinstance(r, SendResult)]
        for _ in range(400):
            if len(collector.receipts) >= 3:
                break
            await asyncio.sleep(0.01)
    finally:
        await connector.close()
    got = {r.upstream_id: (r.status, r.raw_code) for r in collector.receipts}
    assert got == {
        sids[0]: ("delivered", "delivered"),
        sids[1]: ("undelivered", "30003"),
        sids[2]: ("rejected", "30001"),
    }


# --- the signature, with twilio-python's RequestValidator as witness ---------------------------

SIGNED = [
    ("https://sms.example.com/callbacks/twilio/con_1/status", {"MessageSid": ["SM1"]}),
    (
        "https://sms.example.com/callbacks/twilio/con_1/inbound?x=1&y=2",
        {"Body": ["退订 please"], "From": ["+8613800138000"], "To": ["+14155550100"]},
    ),
    ("http://127.0.0.1:8080/cb", {"B": ["2", "1", "2"], "A": ["z"], "a": [""]}),
    ("https://sms.example.com/cb", {}),
]


class _Multi(dict[str, list[str]]):
    def getall(self, name: str) -> list[str]:
        return self[name]


@pytest.mark.parametrize(("url", "params"), SIGNED)
def test_our_signature_is_twilio_pythons(url: str, params: dict[str, list[str]]) -> None:
    sdk = RequestValidator(AUTH_TOKEN).compute_signature(url, _Multi(params))
    assert signature(AUTH_TOKEN, url, params) == sdk
    assert twilio.signature_valid(AUTH_TOKEN, [url], params, sdk)
    assert not twilio.signature_valid("x" + AUTH_TOKEN, [url], params, sdk)
    assert not twilio.signature_valid(AUTH_TOKEN, [url + "x"], params, sdk)


def test_the_signature_holds_with_or_without_the_default_port() -> None:
    params = {"MessageSid": ["SM1"]}
    with_port = RequestValidator(AUTH_TOKEN).compute_signature(
        "https://sms.example.com:443/cb", _Multi(params)
    )
    assert twilio.signature_valid(AUTH_TOKEN, ["https://sms.example.com/cb"], params, with_port)
    without = signature(AUTH_TOKEN, "https://sms.example.com/cb", params)
    assert twilio.signature_valid(AUTH_TOKEN, ["https://sms.example.com:443/cb"], params, without)
    assert not twilio.signature_valid(AUTH_TOKEN, ["https://sms.example.com/cb"], params, "")
    assert twilio.url_variants("https://h:x/cb") == ["https://h:x/cb"]  # a Host header's junk


@pytest.mark.parametrize(
    ("url", "params"), [(u, p) for u, p in SIGNED if all(len(v) == 1 for v in p.values())]
)
def test_the_fake_signs_as_twilio_python_validates(url: str, params: dict[str, list[str]]) -> None:
    flat = {k: v[0] for k, v in params.items()}
    fake_signature = twilio_signature(AUTH_TOKEN, url, flat)
    assert RequestValidator(AUTH_TOKEN).validate(url, flat, fake_signature)
    assert not RequestValidator("wrong").validate(url, flat, fake_signature)


# --- twilio-python against the fake ------------------------------------------------------------


def sdk_client(url: str, user: str = ACCOUNT_SID, password: str = AUTH_TOKEN) -> Client:
    client = Client(user, password, ACCOUNT_SID)
    client.api.base_url = url
    return client


async def test_twilio_python_sends_through_the_fake(peer: Peer) -> None:
    to = us()
    client = sdk_client(peer.url)
    created = await asyncio.to_thread(
        client.messages.create, to=to, from_=FROM_NUMBER, body="hello from the SDK"
    )
    assert created.sid in peer.fake.messages and created.status == "queued"
    assert (created.to, created.body, created.num_segments) == (to, "hello from the SDK", "1")
    fetched = await asyncio.to_thread(client.messages(created.sid).fetch)
    assert fetched.status == "delivered"
    with_key = sdk_client(peer.url, API_KEY_SID, API_KEY_SECRET)
    by_key = await asyncio.to_thread(
        with_key.messages.create, to=us(), messaging_service_sid=SERVICE_SID, body="hi"
    )
    assert peer.fake.messages[by_key.sid].service == SERVICE_SID


async def test_the_fake_refuses_twilio_python_with_a_wrong_token(peer: Peer) -> None:
    client = sdk_client(peer.url, password="wrong" * 6)
    with pytest.raises(TwilioRestException) as refused:
        await asyncio.to_thread(client.messages.create, to=us(), from_=FROM_NUMBER, body="x")
    assert (refused.value.status, refused.value.code) == (401, 20003)
    assert peer.fake.refused_auth == 1 and not peer.fake.messages


async def test_twilio_python_reads_the_fakes_errors(peer: Peer) -> None:
    client = sdk_client(peer.url)
    with pytest.raises(TwilioRestException) as refused:
        await asyncio.to_thread(client.messages.create, to=us("21610"), from_=FROM_NUMBER, body="x")
    assert (refused.value.status, refused.value.code) == (400, 21610)


# --- callbacks into Hongyan (SQLite and PostgreSQL) --------------------------------------------


@dataclass
class Wired:
    """A twilio connector row, its running instance, and the fake pushing to the app."""

    ctx: AppContext
    connector_id: str
    connector: TwilioConnector
    fake: FakeTwilio
    tenant_id: str

    async def send(self, *numbers: str) -> list[tuple[str, str]]:
        """Messages to ``numbers`` sent through the connector and recorded: (message id, sid)."""
        messages = [
            m
            for number in numbers
            for m in await make_messages(
                self.ctx, self.tenant_id, status="sending", region="US", msisdn=number
            )
        ]
        results = await self.connector.send([_outbound(m) for m in messages])
        sids = []
        for result in results:
            assert isinstance(result, SendResult), result
            sids.append(list(result.upstream_ids))
        await record_sent(self.ctx, self.connector_id, messages, sids, match=True)
        return [(m.id, s[0]) for m, s in zip(messages, sids, strict=True)]

    async def message(self, message_id: str) -> tuple[str, str | None, str | None]:
        async with self.ctx.db.session() as session:
            [found] = await messages_repo.get_many(session, [message_id])
        return found.status, found.error_code, found.raw_code


def _outbound(message: Any) -> OutboundSms:
    return sms(message.msisdn, message_id=message.id, tenant_id=message.tenant_id)


@pytest.fixture
async def wired(ctx: AppContext, client: httpx.AsyncClient) -> AsyncIterator[Wired]:
    fake = FakeTwilio()
    fake.push_client = client
    tenant = await make_tenant(ctx)
    assert tenant.tenant_id
    async with fake.serve() as url:
        settings = settings_for(url, status_callback_base=HONGYAN)
        connector_id = await add_connector(ctx, kind="twilio", **settings)
        connector = registry.build("twilio", connector_id, settings)
        assert isinstance(connector, TwilioConnector)
        await connector.start(dlr.sinks(ctx))
        try:
            yield Wired(ctx, connector_id, connector, fake, tenant.tenant_id)
        finally:
            await connector.close()


async def test_status_callbacks_finish_messages(wired: Wired) -> None:
    sent = await wired.send(us(), us("30003"), us("30007"), us("30001"))
    for _, sid in sent:
        progress = await wired.fake.push_status(sid, "sent")
        final = await wired.fake.push_status(sid)
        assert (progress.status_code, final.status_code) == (204, 204)
    assert [await wired.message(m) for m, _ in sent] == [
        ("delivered", None, "delivered"),
        ("undelivered", "UNDELIVERABLE", "30003"),
        ("undelivered", "CARRIER_FILTERED", "30007"),
        ("undelivered", "REJECTED_BY_CARRIER", "30001"),
    ]
    # what the fake pushed is what twilio-python's validator accepts
    validator = RequestValidator(AUTH_TOKEN)
    assert len(wired.fake.pushed) == 8
    assert all(validator.validate(p.url, p.params, p.signature) for p in wired.fake.pushed)


async def test_progress_statuses_decide_nothing(wired: Wired) -> None:
    [(message_id, sid)] = await wired.send(us())
    for status in ("queued", "sending", "sent"):
        assert (await wired.fake.push_status(sid, status)).status_code == 204
    assert (await wired.message(message_id))[0] == "sent"


async def test_a_wrong_signature_is_refused_and_nothing_stored(
    wired: Wired, client: httpx.AsyncClient
) -> None:
    [(message_id, sid)] = await wired.send(us())
    refused = await wired.fake.push_status(sid, token="wrong" * 6)
    assert refused.status_code == 403
    unsigned = await client.post(
        f"/callbacks/twilio/{wired.connector_id}/status",
        data={"MessageSid": sid, "MessageStatus": "delivered"},
    )
    assert unsigned.status_code == 403
    assert unsigned.json()["error"]["code"] == errors.CALLBACK_SIGNATURE_INVALID.code
    assert (await wired.message(message_id))[0] == "sent"
    async with wired.ctx.db.session() as session:
        assert await messages_repo.pending_for(session, [(wired.connector_id, sid)]) == []


async def test_the_url_behind_a_proxy_is_the_one_signed(
    wired: Wired, client: httpx.AsyncClient
) -> None:
    [(message_id, sid)] = await wired.send(us())
    path = f"/callbacks/twilio/{wired.connector_id}/status"
    params = wired.fake.status_params(wired.fake.messages[sid], "delivered")
    signed = twilio_signature(AUTH_TOKEN, f"https://sms.example.com{path}", params)
    headers = {
        "X-Twilio-Signature": signed,
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "sms.example.com",
    }
    assert (await client.post(path, data=params, headers=headers)).status_code == 204
    assert (await wired.message(message_id))[0] == "delivered"


async def test_the_public_url_setting_is_one_signed(wired: Wired) -> None:
    [(message_id, sid)] = await wired.send(us())
    public = "https://hongyan.example.org/sms"
    other = AppContext(
        settings=wired.ctx.settings.model_copy(update={"public_url": public}),
        db=wired.ctx.db,
        box=wired.ctx.box,
        auth=wired.ctx.auth,
    )
    transport = httpx.ASGITransport(app=create_app(ctx=other))
    async with httpx.AsyncClient(transport=transport, base_url="http://10.0.0.7:8080") as app:
        path = f"/callbacks/twilio/{wired.connector_id}/status"
        params = wired.fake.status_params(wired.fake.messages[sid], "delivered")
        signed = twilio_signature(
            AUTH_TOKEN, f"{public}/callbacks/twilio/{wired.connector_id}/status", params
        )
        answer = await app.post(path, data=params, headers={"X-Twilio-Signature": signed})
    assert answer.status_code == 204
    assert (await wired.message(message_id))[0] == "delivered"


async def test_inbound_messages_are_stored_and_answered_with_empty_twiml(
    wired: Wired, client: httpx.AsyncClient
) -> None:
    number = us()
    await wired.send(number)
    url = f"{HONGYAN}/callbacks/twilio/{wired.connector_id}/inbound"
    pushed = await wired.fake.push_inbound(url, sender=number, text="STOP")
    again = await wired.fake.push(url, wired.fake.pushed[-1].params)  # Twilio retrying
    refused = await wired.fake.push_inbound(url, sender=number, text="hi", token="wrong" * 6)
    assert (pushed.status_code, again.status_code, refused.status_code) == (200, 200, 403)
    answer = await client.post(
        url, data=pushed.params, headers={"X-Twilio-Signature": pushed.signature}
    )
    assert answer.headers["content-type"].startswith("text/xml")
    assert answer.text == '<?xml version="1.0" encoding="UTF-8"?><Response/>'
    async with wired.ctx.db.session() as session:
        assert number in await messages_repo.suppressed_among(session, wired.tenant_id, [number])
    rows = await _inbound_of(wired, number)
    assert [(r.text, r.upstream_id) for r in rows] == [("STOP", pushed.params["MessageSid"])]


async def _inbound_of(wired: Wired, number: str) -> list[Any]:
    from sqlalchemy import select

    from hongyan.models import InboundMessage

    async with wired.ctx.db.session() as session:
        found = await session.execute(select(InboundMessage).where(InboundMessage.msisdn == number))
        return list(found.scalars())


async def test_callbacks_for_unknown_or_other_connectors_are_404(
    wired: Wired, client: httpx.AsyncClient, ctx: AppContext
) -> None:
    simulator = await add_connector(ctx, kind="simulator")
    for connector_id in ("con_nope", simulator, "some-name"):
        answer = await client.post(f"/callbacks/twilio/{connector_id}/status", data={})
        assert answer.status_code == 404, connector_id


async def test_a_disabled_connector_still_takes_its_receipts(wired: Wired) -> None:
    [(message_id, sid)] = await wired.send(us())
    async with wired.ctx.db.session() as session:
        await routing.update_connector(
            session,
            ctx=wired.ctx,
            actor=accounts.CLI_ACTOR,
            ref=wired.connector_id,
            req=ConnectorUpdate(enabled=False),
        )
    wired.ctx.caches.pop("connectors.callback_settings", None)
    assert (await wired.fake.push_status(sid)).status_code == 204
    assert (await wired.message(message_id))[0] == "delivered"


async def test_auto_callbacks_deliver_without_being_asked(wired: Wired) -> None:
    wired.fake.auto_callbacks = True
    [(message_id, _)] = await wired.send(us())
    for _ in range(500):
        await dlr.apply_matchable(wired.ctx)  # a receipt that came while the submit was recorded
        if (await wired.message(message_id))[0] == "delivered":
            break
        await asyncio.sleep(0.01)
    assert (await wired.message(message_id))[0] == "delivered"
