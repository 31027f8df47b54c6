"""The Aliyun connector against a local fake of the vendor (``tests.fakes.aliyun``).

- the witness: the official SDK's requests (V3 and V2 signatures) are accepted by the fake, a
  wrong secret refused; our signing functions agree with the SDK's own;
- the wire: the fields of SendSms / SendBatchSms / QuerySendDetails, the signatures, and every
  vendor code mapped to what Hongyan does (a table);
- receipts pushed (the callback endpoint, its token check, storage before the answer), polled
  by the connector itself and by the worker job; inbound messages pushed (SmsUp).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import socket
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from alibabacloud_dysmsapi20170525 import models as sdk_models
from alibabacloud_dysmsapi20170525.client import Client as SdkClient
from alibabacloud_tea_openapi.exceptions import ClientException
from alibabacloud_tea_openapi.models import Config as SdkConfig
from alibabacloud_tea_openapi.utils import Utils as SdkUtils
from darabonba.request import DaraRequest
from sqlalchemy import update

from hongyan.accounts.service import CLI_ACTOR
from hongyan.api.app import create_app
from hongyan.api.context import AppContext
from hongyan.config import Settings
from hongyan.connectors import aliyun, aliyun_callbacks, aliyun_tasks, registry
from hongyan.connectors import aliyun_wire as wire
from hongyan.connectors.aliyun import AliyunConnector
from hongyan.connectors.base import (
    OutboundSms,
    PermanentSendError,
    RetryableSendError,
    SendError,
    SendResult,
    Sinks,
)
from hongyan.messages import repository as messages_repo
from hongyan.models import Message
from hongyan.routing import service as routing
from hongyan.routing.manager import get_manager
from hongyan.routing.schemas import ConnectorCreate, ConnectorUpdate, RouteCreate
from hongyan.runtime import start as start_runtime
from hongyan.worker import dispatcher
from tests.conftest import BACKENDS, make_tenant
from tests.factories import make_messages
from tests.fakes.aliyun import FakeAliyun, connector_settings, serving
from tests.fresh_db import fresh_database
from tests.sinks import Collector

TEMPLATES = {"tpl_code": "SMS_100001", "tpl_order": "SMS_100002"}
TOKEN = "callback-token-0123456789abcdef"


@pytest.fixture
def fake() -> FakeAliyun:
    return FakeAliyun()


@pytest.fixture
def url(fake: FakeAliyun) -> Iterator[str]:
    with serving(fake) as found:
        yield found


@asynccontextmanager
async def started(
    url: str, fake: FakeAliyun, collector: Collector | None = None, **settings: Any
) -> AsyncIterator[AliyunConnector]:
    """An aliyun connector built through the registry, talking to the fake, started."""
    settings.setdefault("template_map", TEMPLATES)
    connector = registry.build(
        "aliyun", "con_aliyun_test", connector_settings(url, fake, **settings)
    )
    assert isinstance(connector, AliyunConnector)
    sink = collector or Collector()
    await connector.start(Sinks(receipts=sink.on_receipts, inbound=sink.on_inbound))
    try:
        yield connector
    finally:
        await connector.close()


def sms(msisdn: str = "+8613800138000", index: int = 0, **fields: Any) -> OutboundSms:
    values: dict[str, Any] = {
        "message_id": f"msg_aliyun_{index}",
        "tenant_id": "ten_aliyun",
        "msisdn": msisdn,
        "text": "【鸿雁】您的验证码是123456,5分钟内有效。",
        "encoding": "ucs2",
        "segments": 1,
        "kind": "verification",
        "region": "CN",
        "sign": "鸿雁",
        "template_id": "tpl_code",
        "params": {"code": "123456"},
    }
    values.update(fields)
    return OutboundSms(**values)


def number(suffix: str | None = None) -> str:
    """A mainland mobile number; the fake looks at its last 4 digits."""
    tail = suffix or str(secrets.randbelow(8000) + 2000)  # never 0001..0006
    return f"+86139{secrets.randbelow(10**4):04d}{tail}"


def ok(result: SendResult | SendError) -> SendResult:
    assert isinstance(result, SendResult), result
    return result


# --- the witness: the official SDK and the fake -------------------------------------------------


def sdk(url: str, fake: FakeAliyun, algorithm: str | None, secret: str | None = None) -> SdkClient:
    config = SdkConfig(
        access_key_id=fake.access_key_id,
        access_key_secret=secret or fake.access_key_secret,
        endpoint=url.split("://", 1)[1],
        protocol="http",
    )
    if algorithm:
        config.signature_algorithm = algorithm
    return SdkClient(config)


@pytest.mark.parametrize("algorithm", [None, "v2"], ids=["v3-acs3", "v2-hmac-sha1"])
def test_the_official_sdk_is_accepted_by_the_fake(
    fake: FakeAliyun, url: str, algorithm: str | None
) -> None:
    client = sdk(url, fake, algorithm)
    sent = client.send_sms(
        sdk_models.SendSmsRequest(
            phone_numbers="13800138000",
            sign_name="鸿雁",
            template_code="SMS_100001",
            template_param='{"code":"12 34"}',
            out_id="msg-1",
        )
    )
    assert sent.body.code == "OK" and sent.body.biz_id == fake.sent[0].biz_id
    batch = client.send_batch_sms(
        sdk_models.SendBatchSmsRequest(
            phone_number_json='["13800138000","13900139000"]',
            sign_name_json='["鸿雁","鸿雁"]',
            template_code="SMS_100002",
            template_param_json='[{"order":"A+1&2"},{"order":"B 2"}]',
        )
    )
    assert batch.body.code == "OK" and [s.params["order"] for s in fake.sent[1:]] == [
        "A+1&2",
        "B 2",
    ]
    details = client.query_send_details(
        sdk_models.QuerySendDetailsRequest(
            phone_number="13800138000",
            send_date=wire.send_date(datetime.now(UTC)),
            page_size=10,
            current_page=1,
            biz_id=sent.body.biz_id,
        )
    )
    assert details.body.code == "OK" and details.body.total_count == 1
    assert details.body.sms_send_detail_dtos.sms_send_detail_dto[0].send_status == 3
    expected = "v2" if algorithm == "v2" else "v3"
    assert [(c.signature, c.code) for c in fake.calls] == [(expected, "OK")] * 3


@pytest.mark.parametrize("algorithm", [None, "v2"], ids=["v3-acs3", "v2-hmac-sha1"])
def test_the_fake_refuses_the_official_sdk_with_a_wrong_secret(
    fake: FakeAliyun, url: str, algorithm: str | None
) -> None:
    client = sdk(url, fake, algorithm, secret="not-the-secret")
    request = sdk_models.SendSmsRequest(
        phone_numbers="13800138000", sign_name="鸿雁", template_code="SMS_100001"
    )
    with pytest.raises(ClientException) as refused:
        client.send_sms(request)
    assert refused.value.code == "SignatureDoesNotMatch" and refused.value.status_code == 400
    assert fake.sent == []


def test_rpc_signature_agrees_with_the_sdk() -> None:
    params = {
        "AccessKeyId": "testid",
        "Action": "SendSms",
        "PhoneNumbers": "13800138000",
        "SignName": "鸿雁",
        "TemplateParam": '{"code":"1 2*3~4/5"}',
        "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
        "Timestamp": "2024-02-23T12:46:24Z",
    }
    expected = SdkUtils.get_rpcsignature(params, "POST", "testsecret")
    assert wire.rpc_signature(params, "testsecret") == expected


def test_acs3_authorization_agrees_with_the_sdk() -> None:
    request = DaraRequest()
    request.method, request.pathname = "POST", "/"
    request.query = {"PhoneNumbers": "13800138000", "TemplateParam": '{"code":"1 2*3"}'}
    body = b"SignNameJson=%5B%22%E9%B8%BF%E9%9B%81%22%5D"
    payload = hashlib.sha256(body).hexdigest()
    request.headers = {
        "host": "dysmsapi.aliyuncs.com",
        "x-acs-action": "SendBatchSms",
        "x-acs-version": "2017-05-25",
        "x-acs-date": "2024-01-01T00:00:00Z",
        "x-acs-signature-nonce": "nonce-1",
        "x-acs-content-sha256": payload,
        "content-type": "application/x-www-form-urlencoded",
    }
    expected = SdkUtils.get_authorization(request, wire.ACS3, payload, "ak", "secret")
    ours = wire.acs3_authorization(
        method="POST",
        query=request.query,
        headers=request.headers,
        payload_hash=payload,
        key_id="ak",
        secret="secret",
    )
    assert ours == expected


# --- the wire: what our connector sends ---------------------------------------------------------


@pytest.mark.parametrize("version", ["v3", "v2"])
async def test_send_sms_fields_and_signature(fake: FakeAliyun, url: str, version: str) -> None:
    async with started(
        url, fake, signature_version=version, sign_map={"鸿雁": "阿里鸿雁"}
    ) as connector:
        [result] = await connector.send([sms(sender="0123", index=7)])
    call = fake.calls[-1]
    assert (call.action, call.signature, call.code) == ("SendSms", version, "OK")
    assert {k: call.params[k] for k in ("PhoneNumbers", "SignName", "TemplateCode", "OutId")} == {
        "PhoneNumbers": "13800138000",
        "SignName": "阿里鸿雁",
        "TemplateCode": "SMS_100001",
        "OutId": "msg_aliyun_7",
    }
    assert json.loads(call.params["TemplateParam"]) == {"code": "123456"}
    assert call.params["SmsUpExtendCode"] == "0123"
    if version == "v3":
        signed = call.headers["authorization"].split("SignedHeaders=")[1].split(",")[0]
        assert {"host", "x-acs-action", "x-acs-date", "x-acs-content-sha256"} <= set(
            signed.split(";")
        )
        assert call.headers["x-acs-version"] == "2017-05-25"
    else:
        assert (call.params["SignatureMethod"], call.params["SignatureVersion"]) == (
            "HMAC-SHA1",
            "1.0",
        )
        assert call.params["Version"] == "2017-05-25"
    assert ok(result).upstream_ids == (f"{fake.sent[-1].biz_id}:13800138000",)


@pytest.mark.parametrize("version", ["v3", "v2"])
async def test_send_batch_sms_groups_by_template(fake: FakeAliyun, url: str, version: str) -> None:
    a, b = number(), number()
    batch = [
        sms(a, 0),
        sms(b, 1, sign="鸿雁二", params={"code": "654321"}),
        sms(a, 2),  # the same number again: a request of its own
        sms(b, 3, template_id="tpl_order", params={"order": "A1"}),
    ]
    async with started(url, fake, use_batch=True, signature_version=version) as connector:
        results = await connector.send(batch)
    ids = [uid for r in results for uid in ok(r).upstream_ids]
    assert len(set(ids)) == 4
    batches = [c for c in fake.calls if c.action == "SendBatchSms"]
    assert len(batches) == 1 and fake.count("SendSms") == 2
    params = batches[0].params
    assert json.loads(params["PhoneNumberJson"]) == [a[3:], b[3:]]
    assert json.loads(params["SignNameJson"]) == ["鸿雁", "鸿雁二"]
    assert json.loads(params["TemplateParamJson"]) == [{"code": "123456"}, {"code": "654321"}]
    assert params["TemplateCode"] == "SMS_100001"
    assert ids[0].split(":")[0] == ids[1].split(":")[0]  # one BizId for the batch


async def test_a_batch_refused_for_one_number_is_sent_one_by_one(
    fake: FakeAliyun, url: str
) -> None:
    batch = [sms(number(), 0), sms(number("0002"), 1), sms(number(), 2)]
    async with started(url, fake, use_batch=True) as connector:
        results = await connector.send(batch)
    assert isinstance(results[0], SendResult) and isinstance(results[2], SendResult)
    assert isinstance(results[1], PermanentSendError) and results[1].code == "NUMBER_INVALID"
    assert fake.count("SendBatchSms") == 1 and fake.count("SendSms", accepted=True) == 2


async def test_a_batch_refused_for_its_template_is_not_sent_again(
    fake: FakeAliyun, url: str
) -> None:
    fake.templates = {"SMS_100002": "订单${order}"}  # SMS_100001 is not approved at the vendor
    async with started(url, fake, use_batch=True) as connector:
        results = await connector.send([sms(number(), i) for i in range(3)])
    assert all(isinstance(r, RetryableSendError) for r in results)
    assert {(r.code, r.raw_code) for r in results if isinstance(r, SendError)} == {
        ("VENDOR_TEMPLATE_REJECTED", "isv.SMS_TEMPLATE_ILLEGAL")
    }
    assert len(fake.calls) == 1


async def test_free_text_goes_through_the_free_text_template(fake: FakeAliyun, url: str) -> None:
    free = sms(template_id=None, params={}, sign=None, text="【鸿雁】会议改到三点")
    async with started(
        url, fake, free_text_template="SMS_900001", default_sign="鸿雁"
    ) as connector:
        [result] = await connector.send([free])
    ok(result)
    call = fake.calls[-1]
    assert call.params["TemplateCode"] == "SMS_900001" and call.params["SignName"] == "鸿雁"
    assert json.loads(call.params["TemplateParam"]) == {"content": "会议改到三点"}


@pytest.mark.parametrize(
    "message",
    [
        sms(template_id="tpl_unknown"),
        sms(template_id=None, params={}),
        sms(sign=None),
    ],
    ids=["unmapped-template", "free-text", "no-sign"],
)
async def test_what_cannot_go_this_way_fails_over_without_a_request(
    fake: FakeAliyun, url: str, message: OutboundSms
) -> None:
    async with started(url, fake) as connector:
        [result] = await connector.send([message])
    assert isinstance(result, RetryableSendError)
    assert result.code == "VENDOR_TEMPLATE_NOT_MAPPED" and fake.calls == []


def _signed_request(
    fake: FakeAliyun, url: str, *, secret: str | None = None, key_id: str | None = None, **more: str
) -> tuple[str, bytes, dict[str, str]]:
    """A SendSms request signed with our acs3_authorization; ``more`` overrides headers."""
    query = {"PhoneNumbers": "13800138000", "SignName": "鸿雁", "TemplateCode": "SMS_100001"}
    headers = {
        "host": url.split("://", 1)[1],
        "x-acs-action": "SendSms",
        "x-acs-version": wire.API_VERSION,
        "x-acs-date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "x-acs-signature-nonce": secrets.token_hex(8),
        "x-acs-content-sha256": hashlib.sha256(b"").hexdigest(),
        **more,
    }
    headers["authorization"] = wire.acs3_authorization(
        method="POST",
        query=query,
        headers=headers,
        payload_hash=headers["x-acs-content-sha256"],
        key_id=key_id or fake.access_key_id,
        secret=secret or fake.access_key_secret,
    )
    return f"{url}/?{wire.canonical_query(query)}", b"", headers


def _twenty_minutes_ago() -> str:
    return (datetime.now(UTC) - timedelta(minutes=20)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("valid", 200, "OK"),
        ("wrong secret", 400, "SignatureDoesNotMatch"),
        ("unknown access key", 404, "InvalidAccessKeyId.NotFound"),
        ("20 minutes old", 400, "InvalidTimeStamp.Expired"),
        ("body not as signed", 400, "SignatureDoesNotMatch"),
        ("x-acs header not signed", 400, "IncompleteSignature"),
        ("nonce used twice", 400, "SignatureNonceUsed"),
    ],
)
async def test_the_fake_checks_v3_requests_as_the_gateway_does(
    fake: FakeAliyun, url: str, case: str, status: int, code: str
) -> None:
    overrides: dict[str, Any] = {
        "wrong secret": {"secret": "wrong"},
        "unknown access key": {"key_id": "LTAI-nobody"},
        "20 minutes old": {"x-acs-date": _twenty_minutes_ago()},
    }.get(case, {})
    target, body, headers = _signed_request(fake, url, **overrides)
    if case == "body not as signed":
        body = b"PhoneNumbers=13900139000"
    if case == "x-acs header not signed":
        headers["x-acs-extra"] = "1"
    async with httpx.AsyncClient() as http:
        answer = await http.post(target, content=body, headers=headers)
        if case == "nonce used twice":
            assert answer.status_code == 200
            answer = await http.post(target, content=body, headers=headers)
    assert answer.status_code == status
    assert answer.json()["Code"] == code and "RequestId" in answer.json()


# --- errors: vendor code -> Hongyan ----------------------------------------------------------

ERROR_CASES = [(code, kind, ours) for code, (kind, ours, _) in wire.SEND_ERRORS.items()] + [
    ("isv.SOMETHING_NEW", "permanent", "REJECTED_BY_CARRIER"),
    ("isp.SOMETHING_NEW", "retryable", "CONNECTOR_UNAVAILABLE"),
    ("Throttling.Api", "retryable", "CONNECTOR_UNAVAILABLE"),
    ("InvalidAccessKeySecret", "retryable", "VENDOR_AUTH_FAILED"),
    ("Forbidden.RAM", "retryable", "VENDOR_AUTH_FAILED"),
    ("InvalidAction.NotFound", "retryable", "CONNECTOR_UNAVAILABLE"),
]


@pytest.mark.parametrize(("vendor_code", "kind", "ours"), ERROR_CASES)
async def test_every_vendor_code_maps_to_a_hongyan_code(
    fake: FakeAliyun, url: str, vendor_code: str, kind: str, ours: str
) -> None:
    fake.mode = f"error:{vendor_code}"
    async with started(url, fake) as connector:
        [result] = await connector.send([sms()])
    expected = RetryableSendError if kind == "retryable" else PermanentSendError
    assert isinstance(result, expected), result
    assert (result.code, result.raw_code) == (ours, vendor_code)


@pytest.mark.parametrize(
    ("suffix", "kind", "ours", "raw"),
    [
        ("0002", PermanentSendError, "NUMBER_INVALID", "isv.MOBILE_NUMBER_ILLEGAL"),
        ("0003", RetryableSendError, "CONNECTOR_UNAVAILABLE", "isp.SYSTEM_ERROR"),
        ("0004", PermanentSendError, "FREQUENCY_LIMITED", "isv.BUSINESS_LIMIT_CONTROL"),
    ],
)
async def test_numbers_the_vendor_refuses(
    fake: FakeAliyun, url: str, suffix: str, kind: type[SendError], ours: str, raw: str
) -> None:
    async with started(url, fake) as connector:
        [result] = await connector.send([sms(number(suffix))])
    assert isinstance(result, kind) and (result.code, result.raw_code) == (ours, raw)


def _closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.mark.parametrize(
    ("case", "ours", "raw"),
    [
        ("http500", "CONNECTOR_UNAVAILABLE", "InternalError"),
        ("timeout", "SUBMIT_TIMEOUT", None),
        ("refused", "CONNECTOR_UNAVAILABLE", None),
        ("throttled", "CONNECTOR_UNAVAILABLE", "Throttling.User"),
    ],
)
async def test_transport_failures_are_retryable(
    fake: FakeAliyun, url: str, case: str, ours: str, raw: str | None
) -> None:
    fake.mode = {
        "http500": "http500",
        "timeout": "timeout",
        "throttled": "error:Throttling.User",
    }.get(case)
    target = _closed_port() if case == "refused" else url
    async with started(target, fake, timeout_secs=0.5) as connector:
        [result] = await connector.send([sms()])
    assert isinstance(result, RetryableSendError), result
    assert (result.code, result.raw_code) == (ours, raw)


async def test_a_connector_wide_failure_fails_the_rest_of_the_batch_over_at_once(
    fake: FakeAliyun, url: str
) -> None:
    fake.mode = "error:isv.AMOUNT_NOT_ENOUGH"
    async with started(url, fake, max_concurrency=1) as connector:
        results = await connector.send([sms(number(), i) for i in range(5)])
    assert fake.count("SendSms") == 1
    assert all(
        isinstance(r, RetryableSendError) and r.code == "VENDOR_ACCOUNT_UNAVAILABLE"
        for r in results
    )


async def test_a_wrong_secret_is_vendor_auth_failed(fake: FakeAliyun, url: str) -> None:
    async with started(url, fake, access_key_secret="wrong-secret") as connector:
        [result] = await connector.send([sms()])
    assert isinstance(result, RetryableSendError)
    assert (result.code, result.raw_code) == ("VENDOR_AUTH_FAILED", "SignatureDoesNotMatch")


async def test_a_clock_far_off_is_vendor_auth_failed(fake: FakeAliyun, url: str) -> None:
    fake.clock_offset = timedelta(hours=1)
    async with started(url, fake, signature_version="v2") as connector:
        [result] = await connector.send([sms()])
    assert isinstance(result, RetryableSendError)
    assert (result.code, result.raw_code) == ("VENDOR_AUTH_FAILED", "InvalidTimeStamp.Expired")


async def test_a_closed_connector_refuses_the_batch(fake: FakeAliyun, url: str) -> None:
    async with started(url, fake) as connector:
        await connector.close()
        with pytest.raises(RetryableSendError):
            await connector.send([sms()])


# --- receipts: codes, pushes, polls -------------------------------------------------------------

RECEIPT_CASES = [(code, status, ours) for code, (status, ours) in wire.RECEIPT_CODES.items()]


@pytest.mark.parametrize(
    ("code", "status", "ours"), [*RECEIPT_CASES, ("MK:0001", "undelivered", "UNDELIVERABLE")]
)
def test_receipt_codes(code: str, status: str, ours: str | None) -> None:
    receipt = wire.make_receipt(
        "con_a", "1^0:13800138000", success=code == "DELIVERED", code=code, done_at=None
    )
    assert (receipt.status, receipt.error_code, receipt.raw_code) == (status, ours, code)


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        (
            {
                "phone_number": "13800138000",
                "success": True,
                "err_code": "DELIVERED",
                "biz_id": "9^0",
                "report_time": "2024-01-01 08:00:05",
            },
            ("9^0:13800138000", "delivered", None, "DELIVERED"),
        ),
        (
            {
                "phone_number": "+8613800138000",
                "success": False,
                "err_code": "MOBILE_IN_BLACK",
                "biz_id": "9^0",
            },
            ("9^0:13800138000", "rejected", "RECIPIENT_OPTED_OUT", "MOBILE_IN_BLACK"),
        ),
        (
            {
                "phone_number": "008613800138000",
                "success": "false",
                "err_code": "DB:0141",
                "biz_id": "9^0",
            },
            ("9^0:13800138000", "undelivered", "UNDELIVERABLE", "DB:0141"),
        ),
        ({"phone_number": "13800138000", "success": True}, None),
        ({"biz_id": "9^0", "success": True}, None),
    ],
)
def test_report_entries_become_receipts(
    item: dict[str, Any], expected: tuple[Any, ...] | None
) -> None:
    receipt = aliyun_callbacks.receipt_of("con_a", item)
    if expected is None:
        assert receipt is None
        return
    assert receipt is not None
    assert (receipt.upstream_id, receipt.status, receipt.error_code, receipt.raw_code) == expected
    if "report_time" in item:
        assert receipt.done_at == datetime(2024, 1, 1, 0, 0, 5, tzinfo=UTC)  # Beijing is UTC+8


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [(1, "", None), (3, "DELIVERED", "delivered"), (2, "MOBILE_NOT_ON_SERVICE", "undelivered")],
)
def test_send_details_become_receipts(status: int, code: str, expected: str | None) -> None:
    dto = {
        "PhoneNum": "13800138000",
        "SendStatus": status,
        "ErrCode": code,
        "ReceiveDate": "2024-01-01 08:00:00",
    }
    receipt = wire.detail_receipt("con_a", "9^0:13800138000", dto)
    assert (receipt.status if receipt else None) == expected


async def test_the_connector_polls_what_it_sent_and_hands_final_receipts_over(
    fake: FakeAliyun, url: str
) -> None:
    collector = Collector()
    numbers = [number(), number("0001"), number("0006")]
    async with started(url, fake, collector, poll_receipts=True, poll_interval_secs=0.05) as c:
        results = await c.send([sms(n, i) for i, n in enumerate(numbers)])
        ids = [ok(r).upstream_ids[0] for r in results]
        for _ in range(200):
            if len(collector.receipts) >= 2:
                break
            await asyncio.sleep(0.02)
        assert c.tracks(ids[2]) and not c.tracks(ids[0])  # 0006: no receipt, still asked
    by_id = {r.upstream_id: r for r in collector.receipts}
    assert set(by_id) == set(ids[:2])
    assert by_id[ids[0]].status == "delivered"
    assert (by_id[ids[1]].status, by_id[ids[1]].error_code, by_id[ids[1]].raw_code) == (
        "undelivered",
        "UNDELIVERABLE",
        "MOBILE_NOT_ON_SERVICE",
    )
    assert fake.count("QuerySendDetails") >= 3


async def test_poll_asks_about_given_sends_for_the_job(fake: FakeAliyun, url: str) -> None:
    fake.report_after_secs = 3600  # nothing is final yet
    async with started(url, fake) as connector:
        results = await connector.send([sms(number(), 0), sms(number("0001"), 1)])
        waiting = [(ok(r).upstream_ids[0], datetime.now(UTC)) for r in results]
        assert await connector.poll(waiting) == []
        fake.report_after_secs = 0
        found = await connector.poll(waiting)
    assert sorted(r.status for r in found) == ["delivered", "undelivered"]


def test_settings_are_checked_and_secrets_declared() -> None:
    described = registry.describe("aliyun")
    assert described["secret_settings"] == ["access_key_secret", "callback_token"]
    assert described["max_segments"] == 8
    good = {"access_key_id": "a", "access_key_secret": "b"}
    assert registry.validate_settings("aliyun", good)["endpoint"] == "dysmsapi.aliyuncs.com"
    for bad in (
        {"endpoint": "ftp://x"},
        {"signature_version": "v4"},
        {"callback_token": "short"},
        {"unknown": 1},
    ):
        with pytest.raises(Exception, match="CONNECTOR_SETTINGS_INVALID"):
            registry.validate_settings("aliyun", {**good, **bad})
    assert aliyun.endpoint_parts("http://127.0.0.1:8080") == (
        "http://127.0.0.1:8080",
        "127.0.0.1:8080",
    )
    assert aliyun.endpoint_parts("dysmsapi.aliyuncs.com")[0] == "https://dysmsapi.aliyuncs.com"


# --- through Hongyan: pushes to the callback endpoints, the poll job --------------------------


@pytest.fixture(scope="module", params=BACKENDS)
async def actx(
    request: pytest.FixtureRequest, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[AppContext]:
    """A context on a database of this module's own (the dispatcher claims every due message)."""
    async with fresh_database(request.param, tmp_path_factory.mktemp("aliyun")) as db:
        overrides = {"database_url": db.url, "routing_refresh_secs": 0.0}
        ctx = AppContext.build(settings.model_copy(update=overrides), db)
        start_runtime(ctx)
        try:
            yield ctx
        finally:
            await get_manager(ctx).close_all()


@pytest.fixture
async def hongyan(actx: AppContext) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(ctx=actx))
    async with httpx.AsyncClient(transport=transport, base_url="http://hongyan.test") as http:
        yield http
    async with actx.db.session() as session:  # nothing left due for the next test's dispatch
        await session.execute(
            update(Message)
            .where(Message.status.in_(("queued", "sending")))
            .values(status="canceled")
        )


async def _connector(
    ctx: AppContext, tenant_id: str, url: str, fake: FakeAliyun, **more: Any
) -> str:
    """An aliyun connector talking to ``fake`` and a route to it for this tenant only."""
    more.setdefault("callback_token", TOKEN)
    async with ctx.db.session() as session:
        row = await routing.create_connector(
            session,
            ctx=ctx,
            actor=CLI_ACTOR,
            req=ConnectorCreate(
                name=f"aliyun-{secrets.token_hex(4)}",
                kind="aliyun",
                settings=connector_settings(url, fake, template_map=TEMPLATES, **more),
            ),
        )
        await routing.create_route(
            session,
            ctx=ctx,
            actor=CLI_ACTOR,
            req=RouteCreate(
                name=f"rte-{secrets.token_hex(4)}",
                connector_id=row.id,
                priority=0,
                tenant_ids=[tenant_id],
            ),
        )
    return row.id


async def _sent(ctx: AppContext, tenant_id: str, numbers: list[str]) -> list[Message]:
    """Template messages to ``numbers``, dispatched through the tenant's route; as now stored."""
    messages = []
    for msisdn in numbers:
        messages += await make_messages(
            ctx, tenant_id, msisdn=msisdn, template_id="tpl_code", params={"code": "123456"}
        )
    while await dispatcher.dispatch_once(ctx):
        pass
    return await _fresh(ctx, messages)


async def _fresh(ctx: AppContext, messages: Sequence[Message]) -> list[Message]:
    async with ctx.db.session() as session:
        found = {m.id: m for m in await messages_repo.get_many(session, [m.id for m in messages])}
    return [found[m.id] for m in messages]


async def test_pushed_receipts_are_stored_before_the_vendor_is_answered(
    actx: AppContext, hongyan: httpx.AsyncClient, fake: FakeAliyun, url: str
) -> None:
    tenant = (await make_tenant(actx)).tenant_id
    assert tenant
    connector_id = await _connector(actx, tenant, url, fake)
    sent = await _sent(actx, tenant, [number(), number("0001")])
    assert [m.status for m in sent] == ["sent", "sent"]
    path = f"/callbacks/aliyun/{connector_id}/receipts"
    for token in ("wrong-token-0123456789", ""):
        refused = await fake.push_receipts(hongyan, f"{path}?token={token}")
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "CALLBACK_SIGNATURE_INVALID"
    assert [m.status for m in await _fresh(actx, sent)] == ["sent", "sent"]  # nothing stored
    not_json = await hongyan.post(f"{path}?token={TOKEN}", content=b"{oops")
    assert not_json.status_code == 400
    answer = await fake.push_receipts(hongyan, f"{path}?token={TOKEN}")
    assert answer.status_code == 200 and answer.json() == {"code": 0, "msg": "成功"}
    done = await _fresh(actx, sent)
    assert [m.status for m in done] == ["delivered", "undelivered"]
    assert (done[1].error_code, done[1].raw_code) == ("UNDELIVERABLE", "MOBILE_NOT_ON_SERVICE")
    again = await hongyan.post(f"{path}?token={TOKEN}", json=fake.report_body(fake.sent))
    assert again.json()["code"] == 0  # pushed twice: applied once, answered the same


async def test_a_connector_without_a_token_refuses_pushes(
    actx: AppContext, hongyan: httpx.AsyncClient, fake: FakeAliyun, url: str
) -> None:
    tenant = (await make_tenant(actx)).tenant_id
    assert tenant
    connector_id = await _connector(actx, tenant, url, fake, callback_token=None)
    for kind in ("receipts", "inbound"):
        answer = await hongyan.post(f"/callbacks/aliyun/{connector_id}/{kind}?token=", json=[])
        assert answer.status_code == 403
    unknown = await hongyan.post(f"/callbacks/aliyun/con_nobody/receipts?token={TOKEN}", json=[])
    assert unknown.status_code == 403


async def test_pushed_replies_reach_the_tenant_that_messaged_the_number(
    actx: AppContext, hongyan: httpx.AsyncClient, fake: FakeAliyun, url: str
) -> None:
    key = await make_tenant(actx)
    assert key.tenant_id
    connector_id = await _connector(actx, key.tenant_id, url, fake)
    msisdn = number()
    await _sent(actx, key.tenant_id, [msisdn])
    body = fake.inbound_body(msisdn[3:], "TD", dest_code="01", sign_name="鸿雁")
    path = f"/callbacks/aliyun/{connector_id}/inbound"
    assert (await hongyan.post(f"{path}?token=nope-nope-nope-nope", json=body)).status_code == 403
    answer = await hongyan.post(f"{path}?token={TOKEN}", json=body)
    assert answer.status_code == 200 and answer.json()["code"] == 0
    assert (await hongyan.post(f"{path}?token={TOKEN}", json=body)).json()["code"] == 0
    listed = (await hongyan.get("/v1/inbound", headers=key.basic)).json()["data"]
    assert [(m["msisdn"], m["text"], m["to"], m["opt_action"]) for m in listed] == [
        (msisdn, "TD", "01", "opt_out")
    ]
    assert listed[0]["connector_id"] == connector_id and listed[0]["in_reply_to"]
    suppressed = await hongyan.get(f"/v1/suppressions/{msisdn}", headers=key.basic)
    assert suppressed.status_code == 200


async def test_the_poll_job_stores_receipts_no_instance_is_watching(
    actx: AppContext, hongyan: httpx.AsyncClient, fake: FakeAliyun, url: str
) -> None:
    tenant = (await make_tenant(actx)).tenant_id
    assert tenant
    connector_id = await _connector(actx, tenant, url, fake)  # poll_receipts off while sending
    sent = await _sent(actx, tenant, [number(), number("0001"), number("0006")])
    async with actx.db.session() as session:
        await routing.update_connector(
            session,
            ctx=actx,
            actor=CLI_ACTOR,
            ref=connector_id,
            req=ConnectorUpdate(settings={"poll_receipts": True, "poll_interval_secs": 0.01}),
        )
    await asyncio.sleep(0.02)  # the job leaves the push poll_interval_secs to come first
    assert await aliyun_tasks.poll_receipts(actx) == 2
    assert [m.status for m in await _fresh(actx, sent)] == ["delivered", "undelivered", "sent"]
    await asyncio.sleep(0.02)
    assert await aliyun_tasks.poll_receipts(actx) == 0  # 0006: the vendor never reports
