"""The Tencent Cloud SMS connector against the local fake vendor (tests/fakes/tencent.py).

Wire cases are tables: the signature (witnessed by the official SDK), the request fields and
grouping, the error mapping, receipts pushed and pulled, and replies (MO).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from tencentcloud.common import credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.http.request import RequestInternal
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.sms.v20210111 import models, sms_client

from hongyan.accounts import service as accounts
from hongyan.api.context import AppContext
from hongyan.connectors import tencent_tasks
from hongyan.connectors.base import (
    OutboundSms,
    PermanentSendError,
    Receipt,
    RetryableSendError,
    SendError,
    SendResult,
    Sinks,
)
from hongyan.connectors.tencent import CONCURRENT_REQUESTS, TencentConnector
from hongyan.connectors.tencent_callbacks import beijing_time, parse_inbound, parse_receipts
from hongyan.connectors.tencent_wire import make_receipt, receipt_outcome, send_error, tc3_headers
from hongyan.dlr import service as dlr
from hongyan.messages import repository as messages_repo
from hongyan.messages import transitions
from hongyan.models import Message
from hongyan.routing import service as routing
from hongyan.routing.manager import get_manager
from hongyan.routing.schemas import ConnectorCreate
from hongyan.worker.dispatcher import outbound
from tests.conftest import KeyPair, make_tenant
from tests.factories import make_messages
from tests.fakes.tencent import CONTRACT_SETTINGS, FakeTencent, serving
from tests.sinks import Collector as KeepingSinks

TOKEN = "tencent-callback-token-0123456789"
TEMPLATES = {"100001": 1, "100002": 2, "100009": 1}
TEMPLATE_MAP = {
    "tpl_verify": {"template_id": "100001", "params": ["code"]},
    "tpl_notice": {"template_id": "100002", "params": ["name", "order"]},
    "tpl_unknown_there": {"template_id": "999999", "params": []},
    "tpl_short": {"template_id": "100002", "params": ["name"]},
}


class Collector(KeepingSinks):
    def __init__(self, *, fail: int = 0) -> None:
        super().__init__()
        self.fail = fail  # refuse this many receipt batches first

    async def on_receipts(self, items: Sequence[Receipt]) -> None:
        if self.fail:
            self.fail -= 1
            raise RuntimeError("storage down")
        await super().on_receipts(items)


@dataclass
class Peer:
    fake: FakeTencent
    url: str

    def settings(self, **overrides: Any) -> dict[str, Any]:
        base = {
            **CONTRACT_SETTINGS,
            "endpoint": self.url,
            "sign_map": {"鸿雁": "鸿雁科技"},
            "default_sign": "默认签名",
            "template_map": TEMPLATE_MAP,
            "poll_receipts": False,
            "callback_token": TOKEN,
        }
        return {**base, **overrides}


@pytest.fixture
def peer() -> Iterator[Peer]:
    fake = FakeTencent(templates=dict(TEMPLATES), signs={"鸿雁科技", "默认签名"})
    with serving(fake) as url:
        yield Peer(fake, url)


async def _started(settings: dict[str, Any], sinks: Sinks | None = None) -> TencentConnector:
    connector = TencentConnector("con_tencent_test", settings)
    await connector.start(sinks or Collector().sinks)
    return connector


@pytest.fixture
async def connector(peer: Peer) -> AsyncIterator[TencentConnector]:
    built = await _started(peer.settings())
    yield built
    await built.close()


def sms(
    msisdn: str = "+8613800138000",
    *,
    template_id: str | None = "tpl_verify",
    params: dict[str, str] | None = None,
    sign: str | None = "鸿雁",
    text: str = "【鸿雁】您的验证码是1234",
    sender: str | None = None,
) -> OutboundSms:
    return OutboundSms(
        message_id=f"msg_{secrets.token_hex(6)}",
        tenant_id="ten_test",
        msisdn=msisdn,
        text=text,
        encoding="ucs2",
        segments=1,
        kind="verification",
        region="CN",
        sign=sign,
        template_id=template_id,
        params={"code": "1234"} if params is None else params,
        sender=sender,
    )


# --- the signature ------------------------------------------------------------------------------


SIGNING_CASES = [
    ("ascii body", "sms.tencentcloudapi.com", {"PhoneNumberSet": ["+8613800138000"]}),
    ("chinese body", "sms.tencentcloudapi.com", {"SignName": "鸿雁", "TemplateParamSet": ["你好"]}),
    ("host with a port", "127.0.0.1:8080", {"Limit": 100, "SmsSdkAppId": "1400000001"}),
]


@pytest.mark.parametrize(
    ("case", "host", "payload"), SIGNING_CASES, ids=[c[0] for c in SIGNING_CASES]
)
def test_our_signature_is_the_official_sdks(case: str, host: str, payload: dict[str, Any]) -> None:
    body = json.dumps(payload, ensure_ascii=False).encode()
    stamp = 1_700_000_000
    ours = tc3_headers(
        secret_id="AKIDexample",
        secret_key="example-secret",
        host=host,
        action="SendSms",
        region="ap-guangzhou",
        body=body,
        timestamp=stamp,
    )
    client = sms_client.SmsClient(credential.Credential("AKIDexample", "example-secret"), "x")
    req = RequestInternal(host, "POST", "/", header={})
    req.header.update({"Content-Type": "application/json", "Host": host})
    req.header["X-TC-Timestamp"] = str(stamp)
    req.data = body
    sdk = client._get_tc3_signature(payload, req, "2023-11-14", "sms", "example-secret")
    assert ours["Authorization"] == (
        "TC3-HMAC-SHA256 Credential=AKIDexample/2023-11-14/sms/tc3_request, "
        f"SignedHeaders=content-type;host, Signature={sdk}"
    )
    assert (ours["X-TC-Action"], ours["X-TC-Version"], ours["X-TC-Region"]) == (
        "SendSms",
        "2021-01-11",
        "ap-guangzhou",
    )


def _sdk_send(peer: Peer, secret_key: str, numbers: list[str]) -> Any:
    host = peer.url.split("://", 1)[1]
    profile = ClientProfile(httpProfile=HttpProfile(endpoint=host, protocol="http"))
    client = sms_client.SmsClient(
        credential.Credential(peer.fake.secret_id, secret_key), "ap-guangzhou", profile
    )
    req = models.SendSmsRequest()
    req.PhoneNumberSet = numbers
    req.SmsSdkAppId = peer.fake.sms_sdk_app_id
    req.TemplateId = "100001"
    req.SignName = "鸿雁科技"
    req.TemplateParamSet = ["1234"]
    return client.SendSms(req)


def test_the_fake_accepts_the_official_sdk(peer: Peer) -> None:
    answer = _sdk_send(peer, peer.fake.secret_key, ["+8613800138000", "+8613800000002"])
    codes = [(s.PhoneNumber, s.Code) for s in answer.SendStatusSet]
    assert codes == [
        ("+8613800138000", "Ok"),
        ("+8613800000002", "InvalidParameterValue.IncorrectPhoneNumber"),
    ]
    assert answer.SendStatusSet[0].SerialNo and peer.fake.send_calls()[0].error is None


def test_the_fake_refuses_the_official_sdk_with_a_wrong_secret(peer: Peer) -> None:
    with pytest.raises(TencentCloudSDKException) as caught:
        _sdk_send(peer, "not-the-secret", ["+8613800138000"])
    assert caught.value.code == "AuthFailure.SignatureFailure"
    assert peer.fake.sent == []


async def test_the_fake_accepts_our_connector(connector: TencentConnector, peer: Peer) -> None:
    [result] = await connector.send([sms()])
    assert isinstance(result, SendResult) and result.raw_code == "Ok"
    assert result.upstream_ids == (peer.fake.sent[0].serial_no,)


def _raw_request(
    peer: Peer,
    *,
    body: bytes,
    signed_body: bytes | None = None,
    signed_host: str | None = None,
    skew: int = 0,
    **over: Any,
) -> str:
    """Send a hand-signed SendSms; the error code the fake answered, or "accepted"."""
    host = peer.url.split("://", 1)[1]
    args: dict[str, Any] = {
        "secret_id": peer.fake.secret_id,
        "secret_key": peer.fake.secret_key,
        "host": signed_host or host,
        "action": "SendSms",
        "region": "ap-guangzhou",
        "body": body if signed_body is None else signed_body,
        "timestamp": int(time.time()) + skew,
    }
    args.update(over)
    headers = {**tc3_headers(**args), "Host": host}
    answer = httpx.post(peer.url + "/", content=body, headers=headers)
    assert answer.headers["content-type"] == "application/json"
    error = answer.json()["Response"].get("Error")
    return str(error["Code"]) if error else "accepted"


BODY = json.dumps(
    {
        "PhoneNumberSet": ["+8613800138000"],
        "SmsSdkAppId": "1400000001",
        "TemplateId": "100001",
        "SignName": "鸿雁科技",
        "TemplateParamSet": ["1234"],
    }
).encode()
FAKE_SIGNATURE_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("right secret", {}, "accepted"),
    ("wrong secret", {"secret_key": "wrong"}, "AuthFailure.SignatureFailure"),
    ("unknown secret id", {"secret_id": "AKIDnobody"}, "AuthFailure.SecretIdNotFound"),
    ("6 minutes late", {"skew": -360}, "AuthFailure.SignatureExpire"),
    ("6 minutes early", {"skew": 360}, "AuthFailure.SignatureExpire"),
    ("4 minutes late", {"skew": -240}, "accepted"),
    ("another host signed", {"signed_host": "sms.example.com"}, "AuthFailure.SignatureFailure"),
    ("body changed after signing", {"signed_body": b"{}"}, "AuthFailure.SignatureFailure"),
]


@pytest.mark.parametrize(
    ("case", "change", "expected"), FAKE_SIGNATURE_CASES, ids=[c[0] for c in FAKE_SIGNATURE_CASES]
)
def test_the_fake_checks_signatures_as_the_vendor(
    peer: Peer, case: str, change: dict[str, Any], expected: str
) -> None:
    assert _raw_request(peer, body=BODY, **change) == expected


# --- the request --------------------------------------------------------------------------------


async def test_request_fields_and_headers(connector: TencentConnector, peer: Peer) -> None:
    notice = sms(template_id="tpl_notice", params={"order": "A-1", "name": "张三"}, sender="0123")
    await connector.send([notice, sms(sign=None)])
    # The two groups are requested concurrently: compare them in template order.
    calls = sorted(peer.fake.send_calls(), key=lambda c: str(c.body["TemplateId"]), reverse=True)
    assert [c.body for c in calls] == [
        {
            "PhoneNumberSet": ["+8613800138000"],
            "SmsSdkAppId": "1400000001",
            "TemplateId": "100002",
            "TemplateParamSet": ["张三", "A-1"],  # the template's order, not the dict's
            "SignName": "鸿雁科技",  # sign_map
            "ExtendCode": "0123",
        },
        {
            "PhoneNumberSet": ["+8613800138000"],
            "SmsSdkAppId": "1400000001",
            "TemplateId": "100001",
            "TemplateParamSet": ["1234"],
            "SignName": "默认签名",  # default_sign
        },
    ]
    headers = calls[0].headers
    assert headers["x-tc-action"] == "SendSms" and headers["x-tc-version"] == "2021-01-11"
    assert (
        headers["x-tc-region"] == "ap-guangzhou" and headers["content-type"] == "application/json"
    )


async def test_free_text_goes_through_the_free_text_template(
    connector: TencentConnector, peer: Peer
) -> None:
    [result] = await connector.send([sms(template_id=None, params={}, text="【鸿雁】您好,明天见")])
    assert isinstance(result, SendResult)
    assert peer.fake.send_calls()[0].body["TemplateId"] == "100009"
    assert peer.fake.send_calls()[0].body["TemplateParamSet"] == ["您好,明天见"]


def _nth(i: int) -> str:
    """A distinct number the fake delivers (its rules look at endings 0001-0008)."""
    return f"+861380{i:04d}555"


GROUPING_CASES: list[tuple[str, list[OutboundSms], list[int]]] = [
    (
        "same template and values share a request",
        [sms(_nth(i)) for i in range(5)],
        [5],
    ),
    (
        "other values, other request",
        [sms(_nth(1)), sms(_nth(2), params={"code": "9999"})],
        [1, 1],
    ),
    ("the same number twice goes in two requests", [sms(), sms()], [1, 1]),
    (
        "at most 200 numbers per request",
        [sms(_nth(i)) for i in range(450)],
        [200, 200, 50],
    ),
]


@pytest.mark.parametrize(
    ("case", "batch", "sizes"), GROUPING_CASES, ids=[c[0] for c in GROUPING_CASES]
)
async def test_grouping(
    connector: TencentConnector, peer: Peer, case: str, batch: list[OutboundSms], sizes: list[int]
) -> None:
    results = await connector.send(batch)
    assert sorted(len(c.body["PhoneNumberSet"]) for c in peer.fake.send_calls()) == sorted(sizes)
    assert len(results) == len(batch)
    ids = [r.upstream_ids[0] for r in results if isinstance(r, SendResult)]
    assert len(ids) == len(set(ids)) == len(batch)
    by_serial = {s.serial_no: s.phone for s in peer.fake.sent}
    assert [by_serial[i] for i in ids] == [m.msisdn for m in batch]  # in order, by number


# --- errors -------------------------------------------------------------------------------------

Expected = tuple[type[SendError], str, str | None]

PER_NUMBER_CASES: list[tuple[str, Expected]] = [
    (
        "+8613800000002",
        (PermanentSendError, "NUMBER_INVALID", "InvalidParameterValue.IncorrectPhoneNumber"),
    ),
    ("+8613800000003", (RetryableSendError, "SUBMIT_TIMEOUT", "InternalError.SendAndRecvFail")),
    (
        "+8613800000007",
        (PermanentSendError, "NUMBER_SUPPRESSED", "FailedOperation.PhoneNumberInBlacklist"),
    ),
    (
        "+8613800000008",
        (PermanentSendError, "FREQUENCY_LIMITED", "LimitExceeded.PhoneNumberDailyLimit"),
    ),
]


def _check(result: SendResult | SendError, expected: Expected) -> None:
    cls, code, raw = expected
    assert type(result) is cls, result
    assert isinstance(result, SendError) and (result.code, result.raw_code) == (code, raw)


@pytest.mark.parametrize(
    ("number", "expected"), PER_NUMBER_CASES, ids=[c[0] for c in PER_NUMBER_CASES]
)
async def test_per_number_errors(
    connector: TencentConnector, number: str, expected: Expected
) -> None:
    good, bad = await connector.send([sms("+8613800138000"), sms(number)])
    assert isinstance(good, SendResult)
    _check(bad, expected)


REQUEST_ERROR_CASES: list[tuple[str, Expected]] = [
    (
        "AuthFailure.SignatureFailure",
        (RetryableSendError, "VENDOR_AUTH_FAILED", "AuthFailure.SignatureFailure"),
    ),
    (
        "AuthFailure.SecretIdNotFound",
        (RetryableSendError, "VENDOR_AUTH_FAILED", "AuthFailure.SecretIdNotFound"),
    ),
    (
        "UnauthorizedOperation.ServiceSuspendDueToArrears",
        (
            RetryableSendError,
            "VENDOR_ACCOUNT_UNAVAILABLE",
            "UnauthorizedOperation.ServiceSuspendDueToArrears",
        ),
    ),
    (
        "FailedOperation.InsufficientBalanceInSmsPackage",
        (
            RetryableSendError,
            "VENDOR_ACCOUNT_UNAVAILABLE",
            "FailedOperation.InsufficientBalanceInSmsPackage",
        ),
    ),
    (
        "LimitExceeded.AppMainlandChinaDailyLimit",
        (
            RetryableSendError,
            "VENDOR_ACCOUNT_UNAVAILABLE",
            "LimitExceeded.AppMainlandChinaDailyLimit",
        ),
    ),
    (
        "FailedOperation.SignatureIncorrectOrUnapproved",
        (
            RetryableSendError,
            "VENDOR_TEMPLATE_REJECTED",
            "FailedOperation.SignatureIncorrectOrUnapproved",
        ),
    ),
    ("InternalError", (RetryableSendError, "CONNECTOR_UNAVAILABLE", "InternalError")),
    ("InternalError.Timeout", (RetryableSendError, "SUBMIT_TIMEOUT", "InternalError.Timeout")),
    ("RequestLimitExceeded", (RetryableSendError, "CONNECTOR_UNAVAILABLE", "RequestLimitExceeded")),
    (
        "FailedOperation.ContainSensitiveWord",
        (PermanentSendError, "CONTENT_BLOCKED", "FailedOperation.ContainSensitiveWord"),
    ),
    (
        "InvalidParameterValue.ProhibitedUseUrlInTemplateParameter",
        (
            PermanentSendError,
            "PARAM_CONTAINS_URL",
            "InvalidParameterValue.ProhibitedUseUrlInTemplateParameter",
        ),
    ),
    (
        "InvalidParameterValue.TemplateParameterFormatError",
        (PermanentSendError, "PARAM_INVALID", "InvalidParameterValue.TemplateParameterFormatError"),
    ),
    (
        "InvalidParameterValue.ContentLengthLimit",
        (PermanentSendError, "TOO_MANY_SEGMENTS", "InvalidParameterValue.ContentLengthLimit"),
    ),
    (
        "UnsupportedOperation.UnsupportedRegion",
        (PermanentSendError, "REJECTED_BY_CARRIER", "UnsupportedOperation.UnsupportedRegion"),
    ),
]


@pytest.mark.parametrize(
    ("code", "expected"), REQUEST_ERROR_CASES, ids=[c[0] for c in REQUEST_ERROR_CASES]
)
async def test_request_errors_apply_to_every_message_of_the_request(
    connector: TencentConnector, peer: Peer, code: str, expected: Expected
) -> None:
    peer.fake.mode = f"error:{code}"
    results = await connector.send([sms(_nth(1)), sms(_nth(2))])
    for result in results:
        _check(result, expected)


CONFIG_CASES: list[tuple[str, OutboundSms, dict[str, Any], Expected, int]] = [
    (
        "template not in template_map",
        sms(template_id="tpl_other"),
        {},
        (RetryableSendError, "VENDOR_TEMPLATE_NOT_MAPPED", None),
        0,
    ),
    (
        "free text without a free-text template",
        sms(template_id=None),
        {"free_text_template_id": None},
        (RetryableSendError, "VENDOR_TEMPLATE_NOT_MAPPED", None),
        0,
    ),
    (
        "no sign and no default_sign",
        sms(sign=None),
        {"default_sign": None},
        (RetryableSendError, "VENDOR_TEMPLATE_NOT_MAPPED", None),
        0,
    ),
    (
        "a variable the message lacks",
        sms(template_id="tpl_notice", params={"name": "x"}),
        {},
        (RetryableSendError, "VENDOR_TEMPLATE_NOT_MAPPED", None),
        0,
    ),
    (
        "template unknown at the vendor",
        sms(template_id="tpl_unknown_there", params={}),
        {},
        (
            RetryableSendError,
            "VENDOR_TEMPLATE_REJECTED",
            "FailedOperation.TemplateIncorrectOrUnapproved",
        ),
        1,
    ),
    (
        "too few variables for the vendor",
        sms(template_id="tpl_short", params={"name": "x"}),
        {},
        (
            RetryableSendError,
            "VENDOR_TEMPLATE_REJECTED",
            "FailedOperation.TemplateParamSetNotMatchApprovedTemplate",
        ),
        1,
    ),
    (
        "sign unapproved at the vendor",
        sms(sign="别的签名"),
        {},
        (
            RetryableSendError,
            "VENDOR_TEMPLATE_REJECTED",
            "FailedOperation.SignatureIncorrectOrUnapproved",
        ),
        1,
    ),
    (
        "another app id",
        sms(),
        {"sms_sdk_app_id": "1400999999"},
        (RetryableSendError, "VENDOR_AUTH_FAILED", "UnauthorizedOperation.SmsSdkAppIdVerifyFail"),
        1,
    ),
    (
        "wrong secret",
        sms(),
        {"secret_key": "wrong"},
        (RetryableSendError, "VENDOR_AUTH_FAILED", "AuthFailure.SignatureFailure"),
        1,
    ),
]


@pytest.mark.parametrize(
    ("case", "message", "settings", "expected", "requests"),
    CONFIG_CASES,
    ids=[c[0] for c in CONFIG_CASES],
)
async def test_configuration_errors_fail_over(
    peer: Peer,
    case: str,
    message: OutboundSms,
    settings: dict[str, Any],
    expected: Expected,
    requests: int,
) -> None:
    built = await _started(peer.settings(**settings))
    try:
        [result] = await built.send([message])
    finally:
        await built.close()
    _check(result, expected)
    assert len(peer.fake.send_calls()) == requests


async def test_a_failing_vendor_ends_the_batch_without_a_request_per_group(
    connector: TencentConnector, peer: Peer
) -> None:
    peer.fake.mode = "error:InternalError"
    batch = [sms(_nth(i), params={"code": f"{i:04d}"}) for i in range(40)]  # 40 requests
    results = await connector.send(batch)
    assert len(peer.fake.send_calls()) <= CONCURRENT_REQUESTS
    for result in results:
        _check(result, (RetryableSendError, "CONNECTOR_UNAVAILABLE", "InternalError"))


async def test_a_template_refused_at_the_vendor_does_not_stop_the_others(
    connector: TencentConnector, peer: Peer
) -> None:
    refused, sent = await connector.send([sms(template_id="tpl_unknown_there", params={}), sms()])
    assert isinstance(refused, RetryableSendError) and refused.code == "VENDOR_TEMPLATE_REJECTED"
    assert isinstance(sent, SendResult)


async def test_http_500_is_retryable(connector: TencentConnector, peer: Peer) -> None:
    peer.fake.mode = "http500"
    [result] = await connector.send([sms()])
    _check(result, (RetryableSendError, "CONNECTOR_UNAVAILABLE", "HTTP_500"))


async def test_a_timeout_is_retryable(peer: Peer) -> None:
    built = await _started(peer.settings(timeout_secs=0.3))
    peer.fake.mode = "timeout"
    try:
        [result] = await built.send([sms()])
    finally:
        peer.fake.mode = "ok"
        await built.close()
    _check(result, (RetryableSendError, "SUBMIT_TIMEOUT", None))
    assert peer.fake.sent == []


async def test_an_unreachable_vendor_is_retryable(peer: Peer) -> None:
    built = await _started(peer.settings(endpoint="http://127.0.0.1:9"))
    try:
        [result] = await built.send([sms()])
    finally:
        await built.close()
    _check(result, (RetryableSendError, "CONNECTOR_UNAVAILABLE", None))


@pytest.mark.parametrize(
    ("code", "kind", "ours"),
    [
        ("LimitExceeded.PhoneNumberOneHourLimit", PermanentSendError, "FREQUENCY_LIMITED"),
        ("FailedOperation.PhoneNumberParseFail", PermanentSendError, "NUMBER_INVALID"),
        ("InvalidParameter.DirtyWordFound", PermanentSendError, "CONTENT_BLOCKED"),
        (
            "FailedOperation.TemplateUnapprovedOrNotExist",
            RetryableSendError,
            "VENDOR_TEMPLATE_REJECTED",
        ),
        ("AuthFailure.SignatureExpire", RetryableSendError, "VENDOR_AUTH_FAILED"),
        (
            "UnauthorizedOperation.SdkAppIdIsDisabled",
            RetryableSendError,
            "VENDOR_ACCOUNT_UNAVAILABLE",
        ),
        ("InternalError.OtherError", RetryableSendError, "CONNECTOR_UNAVAILABLE"),
        ("ResourceUnavailable.SomethingNew", RetryableSendError, "CONNECTOR_UNAVAILABLE"),
        ("FailedOperation.SomethingNew", PermanentSendError, "REJECTED_BY_CARRIER"),
        ("InvalidParameterValue.SomethingNew", PermanentSendError, "REJECTED_BY_CARRIER"),
    ],
)
def test_error_table(code: str, kind: type[SendError], ours: str) -> None:
    error = send_error(code, "message")
    assert type(error) is kind and error.code == ours and error.raw_code == code


async def test_sends_after_close_are_refused(connector: TencentConnector) -> None:
    await connector.close()
    with pytest.raises(RetryableSendError):
        await connector.send([sms()])


# --- receipts -----------------------------------------------------------------------------------

RECEIPT_CASES = [
    ("SUCCESS", "DELIVRD", "delivered", None, "DELIVRD"),
    ("FAIL", "UNDELIV", "undelivered", "UNDELIVERABLE", "UNDELIV"),
    ("FAIL", "EXPIRED", "expired", "DELIVERY_EXPIRED", "EXPIRED"),
    ("FAIL", "REJECTD", "rejected", "REJECTED_BY_CARRIER", "REJECTD"),
    ("FAIL", "DELETED", "undelivered", "UNDELIVERABLE", "DELETED"),
    ("FAIL", "SUBFAIL", "rejected", "REJECTED_BY_CARRIER", "SUBFAIL"),
    ("FAIL", "UNKNOWN", "unknown", "DELIVERY_UNKNOWN", "UNKNOWN"),
    ("FAIL", "MK:0001", "undelivered", "UNDELIVERABLE", "MK:0001"),
    ("FAIL", "DELIVRD", "undelivered", "UNDELIVERABLE", "DELIVRD"),  # FAIL decides
    ("FAIL", "用户短信未送达", "undelivered", "UNDELIVERABLE", "FAIL"),  # a description
    ("success", "", "delivered", None, "SUCCESS"),
]


@pytest.mark.parametrize(("report", "code", "status", "ours", "raw"), RECEIPT_CASES)
def test_receipt_table(report: str, code: str, status: str, ours: str | None, raw: str) -> None:
    assert receipt_outcome(report, code) == (status, ours)
    receipt = make_receipt("con_x", sid="s-1", report_status=report, code=code, done_at=None)
    assert (receipt.status, receipt.error_code, receipt.raw_code) == (status, ours, raw)


def test_status_callback_parsing() -> None:
    items: list[Any] = [
        {
            "user_receive_time": "2015-10-17 08:03:04",
            "nationcode": "86",
            "mobile": "13800138000",
            "report_status": "SUCCESS",
            "errmsg": "DELIVRD",
            "description": "用户短信送达成功",
            "sid": "2433:1",
        },
        {"report_status": "FAIL", "errmsg": "UNDELIV", "sid": "2433:2", "user_receive_time": "x"},
        {"report_status": "SUCCESS"},  # no sid: skipped
        "not an object",
    ]
    first, second = parse_receipts("con_x", items)
    assert first == Receipt(
        "con_x", "2433:1", "delivered", None, "DELIVRD", datetime(2015, 10, 17, 0, 3, 4, tzinfo=UTC)
    )
    assert (second.status, second.error_code, second.raw_code, second.done_at) == (
        "undelivered",
        "UNDELIVERABLE",
        "UNDELIV",
        None,
    )
    assert beijing_time("2024-01-01 07:59:59") == datetime(2023, 12, 31, 23, 59, 59, tzinfo=UTC)


def test_reply_callback_parsing() -> None:
    reply = {
        "extend": "01",
        "mobile": "13800138000",
        "nationcode": "86",
        "sign": "鸿雁",
        "text": "TD",
        "time": 1457336869,
    }
    [one] = parse_inbound("con_x", [reply])
    assert (one.msisdn, one.to, one.text) == ("+8613800138000", "01", "TD")
    assert one.received_at == datetime.fromtimestamp(1457336869, UTC)
    [again] = parse_inbound("con_x", [dict(reply)])
    [other] = parse_inbound("con_x", [{**reply, "time": 1457336870}])
    assert one.upstream_id == again.upstream_id != other.upstream_id
    assert parse_inbound("con_x", [{"text": "no number"}, {"mobile": "138"}]) == []


async def test_the_connector_pulls_receipts_while_sends_wait(peer: Peer) -> None:
    collector = Collector()
    built = await _started(
        peer.settings(poll_receipts=True, poll_interval_secs=0.02), collector.sinks
    )
    try:
        results = await built.send(
            [sms("+8613800138000"), sms("+8613800000001"), sms("+8613800000004")]
        )
        ids = [r.upstream_ids[0] for r in results if isinstance(r, SendResult)]
        for _ in range(500):
            if len(collector.receipts) == 3:
                break
            await asyncio.sleep(0.01)
    finally:
        await built.close()
    got = {r.upstream_id: (r.status, r.raw_code) for r in collector.receipts}
    assert got == {
        ids[0]: ("delivered", "DELIVRD"),
        ids[1]: ("undelivered", "UNDELIV"),
        ids[2]: ("expired", "EXPIRED"),
    }


async def test_pulled_receipts_the_sink_refused_are_handed_over_next_time(peer: Peer) -> None:
    collector = Collector(fail=1)
    built = await _started(
        peer.settings(poll_receipts=True, poll_interval_secs=3600), collector.sinks
    )
    try:
        [result] = await built.send([sms()])
        with pytest.raises(RuntimeError):
            await built.poll_once()  # pulled (gone at the vendor), but not stored
        assert await built.poll_once() == 1
    finally:
        await built.close()
    assert isinstance(result, SendResult)
    assert [r.upstream_id for r in collector.receipts] == list(result.upstream_ids)


# --- through Hongyan: callbacks and the poll job ------------------------------------------------


async def _connector_row(ctx: AppContext, peer: Peer, **settings: Any) -> str:
    req = ConnectorCreate(
        name=f"tencent-{secrets.token_hex(4)}", kind="tencent", settings=peer.settings(**settings)
    )
    async with ctx.db.session() as session:
        row = await routing.create_connector(session, ctx=ctx, actor=accounts.CLI_ACTOR, req=req)
    return row.id


async def _sent_through(
    ctx: AppContext, connector_id: str, tenant: KeyPair, numbers: list[str]
) -> tuple[list[Message], list[str]]:
    """Messages sent through the connector (as the dispatcher records them), and their ids."""
    assert tenant.tenant_id
    messages = [
        (await make_messages(ctx, tenant.tenant_id, 1, status="sending", msisdn=n))[0]
        for n in numbers
    ]
    get_manager(ctx).set_sinks(dlr.sinks(ctx))
    built = await get_manager(ctx).get(connector_id)
    results = await built.send(
        [replace(outbound(m), template_id="tpl_verify", params={"code": "1234"}) for m in messages]
    )
    ids = [r.upstream_ids[0] for r in results if isinstance(r, SendResult)]
    assert len(ids) == len(messages)
    async with ctx.db.session() as session:
        await messages_repo.insert_parts(
            session,
            [
                {"message_id": m.id, "seq": 0, "connector_id": connector_id, "upstream_id": u}
                for m, u in zip(messages, ids, strict=True)
            ],
        )
        fresh = await messages_repo.get_many(session, [m.id for m in messages])
        changes = [transitions.Change(m, "sent", connector_id=connector_id) for m in fresh]
        await transitions.apply(session, ctx=ctx, changes=changes)
    return messages, ids


async def _statuses(ctx: AppContext, messages: list[Message]) -> list[tuple[str, str | None]]:
    async with ctx.db.session() as session:
        found = {m.id: m for m in await messages_repo.get_many(session, [m.id for m in messages])}
    return [(found[m.id].status, found[m.id].raw_code) for m in messages]


def _number() -> str:
    return f"+86139{secrets.randbelow(10**5):05d}555"  # no suffix the fake has a rule for


async def test_pushed_receipts_finish_the_messages(
    ctx: AppContext, client: httpx.AsyncClient, peer: Peer
) -> None:
    tenant = await make_tenant(ctx)
    cid = await _connector_row(ctx, peer)
    messages, _ = await _sent_through(ctx, cid, tenant, [_number(), "+8613900000001"])
    url = f"/callbacks/tencent/{cid}/receipts?token={TOKEN}"
    answer = await peer.fake.push_receipts(client, url)
    assert answer is not None and answer.status_code == 200
    assert answer.json() == {"result": 0, "errmsg": "OK"}
    assert await _statuses(ctx, messages) == [("delivered", "DELIVRD"), ("undelivered", "UNDELIV")]


CALLBACK_REFUSALS = [
    ("wrong token", "receipts", "?token=wrong-token-wrong-token", 403),
    ("no token", "receipts", "", 403),
    ("reply with a wrong token", "inbound", "?token=wrong-token-wrong-token", 403),
]


@pytest.mark.parametrize(
    ("case", "path", "query", "status"), CALLBACK_REFUSALS, ids=[c[0] for c in CALLBACK_REFUSALS]
)
async def test_callbacks_refused_store_nothing(
    ctx: AppContext,
    client: httpx.AsyncClient,
    peer: Peer,
    case: str,
    path: str,
    query: str,
    status: int,
) -> None:
    tenant = await make_tenant(ctx)
    cid = await _connector_row(ctx, peer)
    messages, _ = await _sent_through(ctx, cid, tenant, [_number()])
    answer = await peer.fake.push_receipts(client, f"/callbacks/tencent/{cid}/{path}{query}")
    assert answer is not None and answer.status_code == status
    assert answer.json()["result"] != 0
    assert await _statuses(ctx, messages) == [("sent", None)]


async def test_callbacks_of_unknown_or_tokenless_connectors_are_refused(
    ctx: AppContext, client: httpx.AsyncClient, peer: Peer
) -> None:
    tokenless = await _connector_row(ctx, peer, callback_token=None)
    simulator = await _simulator_row(ctx)
    cases = [
        (f"/callbacks/tencent/{tokenless}/receipts?token=", 403),
        (f"/callbacks/tencent/{tokenless}/receipts?token={TOKEN}", 403),
        (f"/callbacks/tencent/con_nobody/receipts?token={TOKEN}", 404),
        (f"/callbacks/tencent/{simulator}/receipts?token={TOKEN}", 404),
    ]
    for url, status in cases:
        answer = await client.post(url, json=[])
        assert answer.status_code == status, url


async def _simulator_row(ctx: AppContext) -> str:
    req = ConnectorCreate(name=f"sim-{secrets.token_hex(4)}", kind="simulator", settings={})
    async with ctx.db.session() as session:
        row = await routing.create_connector(session, ctx=ctx, actor=accounts.CLI_ACTOR, req=req)
    return row.id


async def test_malformed_pushes_are_answered_400(
    ctx: AppContext, client: httpx.AsyncClient, peer: Peer
) -> None:
    cid = await _connector_row(ctx, peer)
    for body in (b"not json", b"42"):
        answer = await client.post(f"/callbacks/tencent/{cid}/receipts?token={TOKEN}", content=body)
        assert answer.status_code == 400 and answer.json()["result"] == 1


async def test_replies_become_inbound_messages_of_the_last_conversation(
    ctx: AppContext, client: httpx.AsyncClient, peer: Peer
) -> None:
    tenant = await make_tenant(ctx)
    cid = await _connector_row(ctx, peer)
    number = _number()
    await _sent_through(ctx, cid, tenant, [number])
    url = f"/callbacks/tencent/{cid}/inbound?token={TOKEN}"
    for _ in range(2):  # pushed twice: stored once
        answer = await peer.fake.push_mo(
            client,
            url,
            mobile=number[3:],
            text="退订",
            extend="01",
            sign="鸿雁科技",
            at=1_700_000_000,
        )
        assert answer.status_code == 200 and answer.json() == {"result": 0, "errmsg": "OK"}
    listed = await client.get("/v1/inbound", headers=tenant.basic)
    assert [(i["msisdn"], i["to"], i["text"], i["opt_action"]) for i in listed.json()["data"]] == [
        (number, "01", "退订", "opt_out")
    ]


async def test_the_poll_job_pulls_for_messages_awaiting_receipts(
    ctx: AppContext, peer: Peer
) -> None:
    tenant = await make_tenant(ctx)
    # The instance's own loop waits an hour: only the job pulls here.
    cid = await _connector_row(ctx, peer, poll_receipts=True, poll_interval_secs=3600)
    messages, _ = await _sent_through(ctx, cid, tenant, [_number(), "+8613900000004"])
    assert await tencent_tasks.poll_receipts(ctx) >= 2
    assert await _statuses(ctx, messages) == [("delivered", "DELIVRD"), ("expired", "EXPIRED")]
    pulls = [c for c in peer.fake.calls if c.action == "PullSmsSendStatus"]
    assert len(pulls) == 1
    # Nothing awaits any more: the next turn (once the interval passed) asks nothing.
    tencent_tasks_last = ctx.caches[tencent_tasks._LAST_POLL]
    tencent_tasks_last[cid] = float("-inf")
    await tencent_tasks.poll_receipts(ctx)
    assert len([c for c in peer.fake.calls if c.action == "PullSmsSendStatus"]) == 1


async def test_the_poll_job_leaves_push_only_connectors_alone(ctx: AppContext, peer: Peer) -> None:
    tenant = await make_tenant(ctx)
    cid = await _connector_row(ctx, peer, poll_receipts=False)
    messages, _ = await _sent_through(ctx, cid, tenant, [_number()])
    await tencent_tasks.poll_receipts(ctx)
    assert [c.action for c in peer.fake.calls] == ["SendSms"]
    assert await _statuses(ctx, messages) == [("sent", None)]
