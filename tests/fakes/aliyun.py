"""A local Aliyun SMS (Dysmsapi 2017-05-25), as the vendor documents it, for tests.

It checks requests the way the vendor does, independently of Hongyan's own signing code:

- **ACS3-HMAC-SHA256** (``Authorization: ACS3-HMAC-SHA256 Credential=<AK>,SignedHeaders=...,
  Signature=...``): the canonical request is rebuilt from what arrived — the query decoded and
  re-encoded, the headers the client says it signed (lower-cased, trimmed), the
  ``x-acs-content-sha256`` it sent, which must be the SHA-256 of the body — and signed with the
  secret; ``host`` and every ``x-acs-*`` header sent must be among the signed ones.
- **HMAC-SHA1** (the RPC ``Signature`` parameter): every parameter of the query and the form
  body but ``Signature``, sorted and encoded, signed with ``secret + "&"``.
- Refusals as the gateway gives them, HTTP 4xx with ``{RequestId, HostId, Code, Message}``:
  ``SignatureDoesNotMatch`` (a wrong secret), ``InvalidAccessKeyId.NotFound``,
  ``IncompleteSignature``, ``InvalidTimeStamp.Expired`` (over 15 minutes off),
  ``SignatureNonceUsed`` (a nonce seen before), ``InvalidAction.NotFound``.

Actions: ``SendSms``, ``SendBatchSms`` (business refusals at HTTP 200 with ``Code != "OK"``:
sign, template, TemplateParam, numbers; then by the number's last digits, below) and
``QuerySendDetails``. Switches: ``mode`` = ``timeout`` (hang until ``release()``),
``http500``, or ``error:<Code>`` (every request refused with that code, at HTTP 200 for
``isv.*``/``isp.*`` codes and 400 for gateway ones).

=================  ==============================================================
number ends in     answer, then the receipt
=================  ==============================================================
``0001``           OK, then failed ``MOBILE_NOT_ON_SERVICE``
``0002``           ``isv.MOBILE_NUMBER_ILLEGAL``
``0003``           ``isp.SYSTEM_ERROR`` (retryable)
``0004``           ``isv.BUSINESS_LIMIT_CONTROL``
``0005``           the request hangs (the client times out)
``0006``           OK, and no receipt ever (SendStatus stays 1)
anything else      OK, then ``DELIVERED``
=================  ==============================================================

A send's status turns final ``report_after_secs`` after it was accepted (QuerySendDetails shows
SendStatus 3 or 2 from then on); with ``report_url`` set it is also pushed there (SmsReport: a
JSON array; the receiver answers ``{"code": 0}``). ``push_receipts`` pushes on demand, through any
httpx client (an ASGI one included); ``inbound_body`` is the SmsUp array of a handset's reply.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import re
import secrets
import threading
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qsl, quote

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.serving import serve_in_thread

ACCESS_KEY_ID = "LTAI5tFakeAliyunKeyId01"
ACCESS_KEY_SECRET = "fake-aliyun-access-key-secret-01"
SKEW = timedelta(minutes=15)
BEIJING = timezone(timedelta(hours=8))
_ACS3 = re.compile(
    r"ACS3-HMAC-SHA256\s+Credential=(?P<ak>[^,]+),\s*SignedHeaders=(?P<signed>[a-z0-9;\-]+),"
    r"\s*Signature=(?P<sig>[0-9a-f]{64})"
)
# last digits -> business refusal Code
REFUSALS = {
    "0002": "isv.MOBILE_NUMBER_ILLEGAL",
    "0003": "isp.SYSTEM_ERROR",
    "0004": "isv.BUSINESS_LIMIT_CONTROL",
}
# last digits -> receipt code (None: no receipt ever); DELIVERED for the others
OUTCOMES: dict[str, str | None] = {"0001": "MOBILE_NOT_ON_SERVICE", "0006": None}
HANG_SUFFIX = "0005"
MESSAGES = {
    "OK": "OK",
    "DELIVERED": "用户接收成功",
    "MOBILE_NOT_ON_SERVICE": "停机、空号、暂停服务、关机、不在服务区",
    "isv.MOBILE_NUMBER_ILLEGAL": "非法手机号",
    "isv.BUSINESS_LIMIT_CONTROL": "触发分钟级流控Permits:1",
    "isv.SMS_SIGNATURE_ILLEGAL": "签名不合法",
    "isv.SMS_TEMPLATE_ILLEGAL": "模板不合法",
    "isv.INVALID_JSON_PARAM": "JSON参数不合法,只接受字符串值",
    "isv.TEMPLATE_MISSING_PARAMETERS": "模板变量缺少对应参数值",
    "isv.MOBILE_COUNT_OVER_LIMIT": "手机号码数量超过限制",
    "isv.INVALID_PARAMETERS": "参数异常",
    "isp.SYSTEM_ERROR": "系统错误",
    "SignatureDoesNotMatch": "Specified signature is not matched with our calculation.",
    "InvalidAccessKeyId.NotFound": "Specified access key is not found.",
    "IncompleteSignature": "The request signature does not conform to Aliyun standards.",
    "InvalidTimeStamp.Expired": "Specified time stamp or date value is expired.",
    "SignatureNonceUsed": "Specified signature nonce was used already.",
    "InvalidAction.NotFound": "Specified api is not found, please check your url and method.",
    "Throttling.User": "Request was denied due to user flow control.",
    "InternalError": "The request processing has failed due to some unknown error.",
}


class RefusedError(Exception):
    """An answer other than OK: the Code, and the HTTP status it comes with."""

    def __init__(self, code: str, status: int = 200) -> None:
        super().__init__(code)
        self.code, self.status = code, status


@dataclass
class Call:
    """One request as it arrived, and the Code it was answered with."""

    action: str
    params: dict[str, str]
    headers: dict[str, str]
    signature: str  # "v3" or "v2"
    code: str = "OK"


@dataclass
class Sent:
    """One accepted number of a SendSms / SendBatchSms request."""

    biz_id: str
    phone: str
    sign: str
    template: str
    params: dict[str, str]
    out_id: str | None
    extend_code: str | None
    outcome: str | None  # receipt code; None: no receipt ever
    sent_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    pushed: bool = False


@dataclass
class FakeAliyun:
    """The fake vendor's state and its Starlette app (``app``)."""

    access_key_id: str = ACCESS_KEY_ID
    access_key_secret: str = ACCESS_KEY_SECRET
    signs: set[str] | None = None  # approved SignNames; None: any
    templates: dict[str, str] | None = None  # TemplateCode -> content with ${var}; None: any
    mode: str | None = None  # "timeout", "http500", "error:<Code>"
    hang_secs: float = 30.0
    report_after_secs: float = 0.0
    report_url: str | None = None
    clock_offset: timedelta = timedelta(0)  # the fake's clock minus the real one
    refusals: dict[str, str] = field(default_factory=lambda: dict(REFUSALS))
    outcomes: dict[str, str | None] = field(default_factory=lambda: dict(OUTCOMES))
    calls: list[Call] = field(default_factory=list)
    sent: list[Sent] = field(default_factory=list)
    push_answers: list[int] = field(default_factory=list)  # HTTP status of each auto-push

    def __post_init__(self) -> None:
        self.app = Starlette(routes=[Route("/", self._handle, methods=["GET", "POST"])])
        self._nonces: set[str] = set()
        self._release = threading.Event()
        self._sequence = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def release(self) -> None:
        """Let hanging requests finish (they were told to time out)."""
        self._release.set()

    def count(self, action: str, *, accepted: bool | None = None) -> int:
        """Requests of an action that arrived (only the accepted or refused ones, if asked)."""
        return sum(
            1
            for c in self.calls
            if c.action == action and (accepted is None or (c.code == "OK") == accepted)
        )

    # --- the HTTP side ----------------------------------------------------------------------

    async def _handle(self, request: Request) -> Response:
        body = await request.body()
        query = parse_qsl(request.url.query, keep_blank_values=True)
        form = (
            parse_qsl(body.decode(), keep_blank_values=True)
            if "x-www-form-urlencoded" in request.headers.get("content-type", "")
            else []
        )
        headers = {k.lower(): ",".join(request.headers.getlist(k)) for k in request.headers}
        params = dict(query) | dict(form)
        version = "v3" if "authorization" in headers else "v2"
        action = headers.get("x-acs-action") if version == "v3" else params.get("Action")
        call = Call(action or "", params, headers, version)
        self.calls.append(call)
        try:
            await self._switches(params)
            if version == "v3":
                self._verify_v3(request.method, query, headers, body)
            else:
                self._verify_v2(request.method, params)
            answer = await self._act(call.action, params)
        except RefusedError as refused:
            call.code = refused.code
            return _refusal(refused)
        return _json(answer)

    async def _switches(self, params: Mapping[str, str]) -> None:
        numbers = params.get("PhoneNumbers", "") + params.get("PhoneNumberJson", "")
        hang = self.mode == "timeout" or HANG_SUFFIX + "," in numbers + ","
        hang = hang or f'{HANG_SUFFIX}"' in numbers
        if hang:
            await asyncio.to_thread(self._release.wait, self.hang_secs)
        if self.mode == "http500":
            raise RefusedError("InternalError", 500)
        if self.mode and self.mode.startswith("error:"):
            code = self.mode.split(":", 1)[1]
            raise RefusedError(code, 200 if code.startswith(("isv.", "isp.")) else 400)

    def _now(self) -> datetime:
        return datetime.now(UTC) + self.clock_offset

    def _fresh(self, stamp: str | None, nonce: str | None) -> None:
        """The time stamp within 15 minutes and the nonce never seen, as the gateway checks."""
        try:
            at = datetime.strptime(stamp or "", "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        except ValueError:
            raise RefusedError("InvalidTimeStamp.Format", 400) from None
        if abs(self._now() - at) > SKEW:
            raise RefusedError("InvalidTimeStamp.Expired", 400)
        if not nonce:
            raise RefusedError("MissingSignatureNonce", 400)
        if nonce in self._nonces:
            raise RefusedError("SignatureNonceUsed", 400)
        self._nonces.add(nonce)

    def _secret(self, access_key_id: str | None) -> str:
        if access_key_id != self.access_key_id:
            raise RefusedError("InvalidAccessKeyId.NotFound", 404)
        return self.access_key_secret

    def _verify_v3(
        self, method: str, query: list[tuple[str, str]], headers: dict[str, str], body: bytes
    ) -> None:
        found = _ACS3.fullmatch(headers["authorization"].strip())
        if found is None:
            raise RefusedError("IncompleteSignature", 400)
        secret = self._secret(found["ak"])
        signed = found["signed"].split(";")
        must = {"host", *(name for name in headers if name.startswith("x-acs-"))}
        if not must <= set(signed) or not set(signed) <= set(headers):
            raise RefusedError("IncompleteSignature", 400)
        if headers.get("x-acs-content-sha256") != hashlib.sha256(body).hexdigest():
            raise RefusedError("SignatureDoesNotMatch", 400)  # the body is not what was signed
        canonical = "\n".join(
            [
                method,
                "/",
                _canonical(query),
                "".join(f"{name}:{headers[name].strip()}\n" for name in signed),
                ";".join(signed),
                headers["x-acs-content-sha256"],
            ]
        )
        to_sign = "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical.encode()).hexdigest()
        expected = hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, found["sig"]):
            raise RefusedError("SignatureDoesNotMatch", 400)
        self._fresh(headers.get("x-acs-date"), headers.get("x-acs-signature-nonce"))

    def _verify_v2(self, method: str, params: dict[str, str]) -> None:
        signature = params.get("Signature")
        if not signature or params.get("SignatureMethod") != "HMAC-SHA1":
            raise RefusedError("IncompleteSignature", 400)
        secret = self._secret(params.get("AccessKeyId"))
        signed = [(k, v) for k, v in params.items() if k != "Signature"]
        to_sign = f"{method}&%2F&{_encode(_canonical(signed))}"
        digest = hmac.new(f"{secret}&".encode(), to_sign.encode(), hashlib.sha1).digest()
        if not hmac.compare_digest(base64.b64encode(digest).decode(), signature):
            raise RefusedError("SignatureDoesNotMatch", 400)
        self._fresh(params.get("Timestamp"), params.get("SignatureNonce"))

    # --- the actions ------------------------------------------------------------------------

    async def _act(self, action: str, params: dict[str, str]) -> dict[str, Any]:
        if action == "SendSms":
            numbers = params.get("PhoneNumbers", "").split(",")
            signs = [params.get("SignName", "")] * len(numbers)
            values = [params.get("TemplateParam", "{}")] * len(numbers)
            extend = [params.get("SmsUpExtendCode")] * len(numbers)
            return self._send(params, numbers, signs, values, extend, limit=1000)
        if action == "SendBatchSms":
            numbers, signs = _array(params, "PhoneNumberJson"), _array(params, "SignNameJson")
            values = [json.dumps(v) for v in _array(params, "TemplateParamJson", numbers)]
            extend = _array(params, "SmsUpExtendCodeJson", [None] * len(numbers))
            if not len(numbers) == len(signs) == len(values) == len(extend):
                raise RefusedError("isv.INVALID_PARAMETERS")
            return self._send(params, numbers, signs, values, extend, limit=100)
        if action == "QuerySendDetails":
            return self._query(params)
        raise RefusedError("InvalidAction.NotFound", 404)

    def _send(
        self,
        params: dict[str, str],
        numbers: list[Any],
        signs: list[Any],
        values: list[str],
        extend: list[Any],
        *,
        limit: int,
    ) -> dict[str, Any]:
        template = params.get("TemplateCode", "")
        if not numbers or not template or not all(signs):
            raise RefusedError("isv.INVALID_PARAMETERS")
        if len(numbers) > limit:
            raise RefusedError("isv.MOBILE_COUNT_OVER_LIMIT")
        if self.signs is not None and not set(signs) <= self.signs:
            raise RefusedError("isv.SMS_SIGNATURE_ILLEGAL")
        if self.templates is not None and template not in self.templates:
            raise RefusedError("isv.SMS_TEMPLATE_ILLEGAL")
        decoded = [self._template_params(template, v) for v in values]
        for number in numbers:
            if not re.fullmatch(r"\d{6,15}", str(number)):
                raise RefusedError("isv.MOBILE_NUMBER_ILLEGAL")
            refusal = next((c for s, c in self.refusals.items() if str(number).endswith(s)), None)
            if refusal:
                raise RefusedError(refusal)
        biz_id = f"{secrets.randbelow(10**18):018d}^0"
        accepted = [
            Sent(biz_id, str(n), str(s), template, p, params.get("OutId"), e, self._outcome(n))
            for n, s, p, e in zip(numbers, signs, decoded, extend, strict=True)
        ]
        self.sent.extend(accepted)
        if self.report_url:
            self._later(self._auto_push(accepted))
        return {"Code": "OK", "Message": "OK", "BizId": biz_id, "RequestId": _request_id()}

    def _template_params(self, template: str, raw: str) -> dict[str, str]:
        try:
            values = json.loads(raw)
        except ValueError:
            raise RefusedError("isv.INVALID_JSON_PARAM") from None
        if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
            raise RefusedError("isv.INVALID_JSON_PARAM")
        content = (self.templates or {}).get(template, "")
        if any(name not in values for name in re.findall(r"\$\{(\w+)\}", content)):
            raise RefusedError("isv.TEMPLATE_MISSING_PARAMETERS")
        return values

    def _outcome(self, number: object) -> str | None:
        found = next((s for s in self.outcomes if str(number).endswith(s)), None)
        return self.outcomes[found] if found is not None else "DELIVERED"

    def _final(self, sms: Sent) -> bool:
        due = sms.sent_at + timedelta(seconds=self.report_after_secs)
        return sms.outcome is not None and datetime.now(UTC) >= due

    def _query(self, params: dict[str, str]) -> dict[str, Any]:
        phone, day = params.get("PhoneNumber"), params.get("SendDate", "")
        size, page = int(params.get("PageSize") or 0), int(params.get("CurrentPage") or 0)
        if not phone or not re.fullmatch(r"\d{8}", day) or not 1 <= size <= 50 or page < 1:
            raise RefusedError("isv.INVALID_PARAMETERS")
        found = [
            s
            for s in self.sent
            if s.phone == phone
            and _beijing(s.sent_at, "%Y%m%d") == day
            and params.get("BizId") in (None, "", s.biz_id)
        ]
        dtos = [self._detail(s) for s in found[(page - 1) * size : page * size]]
        return {
            "Code": "OK",
            "Message": "OK",
            "RequestId": _request_id(),
            "TotalCount": len(found),
            "SmsSendDetailDTOs": {"SmsSendDetailDTO": dtos},
        }

    def _detail(self, sms: Sent) -> dict[str, Any]:
        final = self._final(sms)
        status = 1 if not final else 3 if sms.outcome == "DELIVERED" else 2
        detail = {
            "PhoneNum": sms.phone,
            "SendStatus": status,
            "ErrCode": sms.outcome if final else "",
            "TemplateCode": sms.template,
            "Content": f"【{sms.sign}】{self._render(sms)}",
            "SendDate": _beijing(sms.sent_at),
            "OutId": sms.out_id or "",
        }
        if final:
            detail["ReceiveDate"] = _beijing(sms.sent_at + timedelta(seconds=1))
        return detail

    def _render(self, sms: Sent) -> str:
        content = (self.templates or {}).get(sms.template)
        if content is None:
            return json.dumps(sms.params, ensure_ascii=False)
        return re.sub(r"\$\{(\w+)\}", lambda m: sms.params.get(m[1], ""), content)

    # --- pushes (SmsReport, SmsUp) -------------------------------------------------------------

    def report_body(self, sms: list[Sent] | None = None) -> list[dict[str, Any]]:
        """The SmsReport array for these sends (default: every final one not pushed yet)."""
        chosen = sms if sms is not None else [s for s in self.sent if not s.pushed]
        return [
            {
                "phone_number": s.phone,
                "send_time": _beijing(s.sent_at),
                "report_time": _beijing(s.sent_at + timedelta(seconds=1)),
                "success": s.outcome == "DELIVERED",
                "err_code": s.outcome,
                "err_msg": MESSAGES.get(s.outcome or "", "失败"),
                "sms_size": "1",
                "biz_id": s.biz_id,
                "out_id": s.out_id or "",
            }
            for s in chosen
            if s.outcome is not None and self._final(s)
        ]

    def inbound_body(
        self, phone: str, content: str, *, dest_code: str = "", sign_name: str = ""
    ) -> list[dict[str, Any]]:
        """The SmsUp array for one reply from a handset."""
        self._sequence += 1
        return [
            {
                "phone_number": phone,
                "content": content,
                "send_time": _beijing(datetime.now(UTC)),
                "dest_code": dest_code,
                "sequence_id": 100_000 + self._sequence,
                "sign_name": sign_name,
            }
        ]

    async def push_receipts(
        self, http: httpx.AsyncClient, url: str, sms: list[Sent] | None = None
    ) -> httpx.Response:
        """POST the SmsReport array to ``url``; the sends count as pushed if it answers code 0."""
        body = self.report_body(sms)
        answer = await http.post(url, json=body)
        self._mark_pushed(body, answer)
        return answer

    def push_receipts_sync(self, url: str, sms: list[Sent] | None = None) -> httpx.Response:
        """``push_receipts`` for code that is not async (a test driving a subprocess)."""
        body = self.report_body(sms)
        answer = httpx.post(url, json=body, timeout=10)
        self._mark_pushed(body, answer)
        return answer

    def _mark_pushed(self, body: list[dict[str, Any]], answer: httpx.Response) -> None:
        if answer.status_code == 200 and isinstance(_json_of(answer), dict):
            ids = {(item["biz_id"], item["phone_number"]) for item in body}
            for s in self.sent:
                s.pushed = s.pushed or (s.biz_id, s.phone) in ids

    def _later(self, job: Any) -> None:
        task = asyncio.get_running_loop().create_task(job)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _auto_push(self, sms: list[Sent]) -> None:
        await asyncio.sleep(self.report_after_secs)
        assert self.report_url is not None
        async with httpx.AsyncClient(timeout=10) as http:
            for _ in range(3):  # the vendor pushes again after a failure (minutes apart)
                try:
                    answer = await self.push_receipts(http, self.report_url, sms)
                except httpx.HTTPError:
                    self.push_answers.append(0)
                else:
                    self.push_answers.append(answer.status_code)
                    if answer.status_code == 200:
                        return
                await asyncio.sleep(0.2)


def _encode(value: str) -> str:
    return quote(value, safe="~")


def _canonical(pairs: list[tuple[str, str]]) -> str:
    return "&".join(f"{_encode(k)}={_encode(v)}" for k, v in sorted(pairs))


def _array(params: Mapping[str, str], name: str, default: list[Any] | None = None) -> list[Any]:
    if name not in params:
        if default is None:
            raise RefusedError("isv.INVALID_PARAMETERS")
        return default
    try:
        value = json.loads(params[name])
    except ValueError:
        raise RefusedError("isv.INVALID_JSON_PARAM") from None
    if not isinstance(value, list):
        raise RefusedError("isv.INVALID_JSON_PARAM")
    return value


def _beijing(at: datetime, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    return at.astimezone(BEIJING).strftime(fmt)


def _request_id() -> str:
    return str(uuid.uuid4()).upper()


def _json(body: dict[str, Any], status: int = 200) -> Response:
    return JSONResponse(body, status_code=status)


def _refusal(refused: RefusedError) -> Response:
    body = {"RequestId": _request_id(), "Code": refused.code}
    body["Message"] = MESSAGES.get(refused.code, refused.code)
    if refused.status != 200:
        body["HostId"] = "dysmsapi.aliyuncs.com"
    return _json(body, refused.status)


def _json_of(answer: httpx.Response) -> Any:
    try:
        return answer.json()
    except ValueError:
        return None


# --- running it on a real socket ---------------------------------------------------------------


def serving(fake: FakeAliyun) -> contextlib.AbstractContextManager[str]:
    """Run the fake on 127.0.0.1 (a free port) in a thread; yields its endpoint URL."""
    return serve_in_thread(fake.app, on_stop=fake.release, graceful_secs=1)


def connector_settings(url: str, fake: FakeAliyun, **more: Any) -> dict[str, Any]:
    """Settings of an aliyun connector that talks to ``fake`` at ``url``."""
    return {
        "access_key_id": fake.access_key_id,
        "access_key_secret": fake.access_key_secret,
        "endpoint": url,
        "timeout_secs": 5,
        **more,
    }


# Settings of a connector for the contract suite (endpoint and keys added by the peer).
CONTRACT_SETTINGS: dict[str, Any] = {
    "default_sign": "鸿雁",
    "free_text_template": "SMS_900001",
    "poll_receipts": True,
    "poll_interval_secs": 0.05,
}


@contextlib.asynccontextmanager
async def contract_peer(settings: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
    """The contract suite's peer: a fake on a real socket, and the settings pointing at it."""
    fake = FakeAliyun()
    with serving(fake) as url:
        yield connector_settings(url, fake, **settings)
