"""A local Tencent Cloud SMS (API 2021-01-11), as the vendor documents it, for tests.

It checks requests the way the vendor does, independently of Hongyan's own signing code:

- ``Authorization: TC3-HMAC-SHA256 Credential=<SecretId>/<date>/sms/tc3_request,
  SignedHeaders=..., Signature=...``: the canonical request is rebuilt from what arrived (the
  headers the client says it signed, lower-cased and trimmed, the SHA-256 of the body) and the
  key derived from the secret as the vendor does; a wrong secret is
  ``AuthFailure.SignatureFailure``, an unknown SecretId ``AuthFailure.SecretIdNotFound``, a
  timestamp more than 5 minutes off ``AuthFailure.SignatureExpire``.
- Every answer is HTTP 200 with ``Content-Type: application/json`` exactly (the official SDK
  only reads errors from such answers) and ``{"Response": {..., "RequestId"}}``.

A request held by ``timeout`` is answered ``InternalError.Timeout`` once released, and sends
nothing. Actions: ``SendSms`` (request-level errors for the app id, sign, template and parameter
count; per-number outcomes by the number's last digits, below), ``PullSmsSendStatus`` (a queue:
each status is handed out once). Switches: ``mode`` = ``timeout`` (hang until released),
``http500``, or ``error:<Code>`` (every request refused with that code).

=================  ==============================================================
number ends in     SendSms answer for the number, then the receipt
=================  ==============================================================
``0001``           Ok, then FAIL ``UNDELIV``
``0002``           ``InvalidParameterValue.IncorrectPhoneNumber``
``0003``           ``InternalError.SendAndRecvFail`` (retryable)
``0004``           Ok, then FAIL ``EXPIRED``
``0006``           Ok, and no receipt
``0007``           ``FailedOperation.PhoneNumberInBlacklist``
``0008``           ``LimitExceeded.PhoneNumberDailyLimit``
anything else      Ok, then SUCCESS ``DELIVRD``
=================  ==============================================================

Receipts are queued for PullSmsSendStatus and, when ``receipt_url`` is set, pushed there after
each accepted request (as the vendor's status callback: a JSON array, retried until the
receiver answers ``{"result": 0}``); ``push_receipts`` and ``push_mo`` push on demand.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.serving import serve_in_thread

SKEW_SECS = 300
BEIJING = timezone(timedelta(hours=8))
_AUTH = re.compile(
    r"TC3-HMAC-SHA256 Credential=(?P<id>[^/]+)/(?P<date>\d{4}-\d{2}-\d{2})/(?P<service>[a-z]+)"
    r"/tc3_request, SignedHeaders=(?P<signed>[a-z0-9;\-]+), Signature=(?P<sig>[0-9a-f]{64})"
)
# last digits -> (per-number code, receipt status, receipt errmsg); receipt None: none comes
RULES: dict[str, tuple[str, str | None, str | None]] = {
    "0001": ("Ok", "FAIL", "UNDELIV"),
    "0002": ("InvalidParameterValue.IncorrectPhoneNumber", None, None),
    "0003": ("InternalError.SendAndRecvFail", None, None),
    "0004": ("Ok", "FAIL", "EXPIRED"),
    "0006": ("Ok", None, None),
    "0007": ("FailedOperation.PhoneNumberInBlacklist", None, None),
    "0008": ("LimitExceeded.PhoneNumberDailyLimit", None, None),
}
DESCRIPTIONS = {"DELIVRD": "用户短信送达成功", "UNDELIV": "用户短信未送达", "EXPIRED": "短信已过期"}


class RefusedError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(code)
        self.code, self.message = code, message


@dataclass
class Call:
    """One request as it arrived, and the error code it was answered with (None: accepted)."""

    action: str
    body: dict[str, Any]
    headers: dict[str, str]
    error: str | None = None


@dataclass
class Sent:
    serial_no: str
    phone: str
    template_id: str
    sign: str | None
    params: list[str]
    extend: str | None


@dataclass
class FakeTencent:
    """The fake vendor's state and its Starlette app (``app``)."""

    secret_id: str = "AKIDfakeTencentSecretId0001"
    secret_key: str = "fake-tencent-secret-key-0001"
    sms_sdk_app_id: str = "1400000001"
    templates: dict[str, int] | None = None  # TemplateId -> number of params; None: any
    signs: set[str] | None = None  # approved SignNames; None: any
    receipt_url: str | None = None
    mode: str = "ok"  # ok | timeout | http500 | error:<Code>
    calls: list[Call] = field(default_factory=list)
    sent: list[Sent] = field(default_factory=list)
    pushes: list[tuple[int, Any]] = field(default_factory=list)  # (HTTP status, answer)
    _queue: list[dict[str, Any]] = field(default_factory=list)  # for PullSmsSendStatus
    _unpushed: list[dict[str, Any]] = field(default_factory=list)  # for the callback
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stopping: bool = False

    def __post_init__(self) -> None:
        self.app = Starlette(routes=[Route("/", self._endpoint, methods=["POST"])])

    # --- counters for tests -----------------------------------------------------------------

    def numbers_sent(self) -> list[str]:
        """Every number the fake accepted, once per acceptance."""
        return [s.phone for s in self.sent]

    def send_calls(self) -> list[Call]:
        return [c for c in self.calls if c.action == "SendSms"]

    # --- the endpoint -----------------------------------------------------------------------

    async def _endpoint(self, request: Request) -> Response:
        raw = await request.body()
        action = request.headers.get("x-tc-action", "")
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {}
        call = Call(action, body, dict(request.headers))
        self.calls.append(call)
        if self.mode == "timeout":
            await self._hang()  # the client gave up meanwhile: nothing is sent
            call.error = "InternalError.Timeout"
            return _answer({"Error": {"Code": call.error, "Message": "held by the test"}})
        if self.mode == "http500":
            return Response("upstream exploded", status_code=500, media_type="text/plain")
        try:
            self._check(request, raw)
            answer, background = self._act(action, body)
        except RefusedError as exc:
            call.error = exc.code
            return _answer({"Error": {"Code": exc.code, "Message": exc.message}})
        return _answer(answer, background)

    async def _hang(self) -> None:
        """Hold the request until the test switches the mode back or the server stops (60 s)."""
        for _ in range(3000):
            if self.mode != "timeout" or self._stopping:
                return
            await asyncio.sleep(0.02)

    def _check(self, request: Request, raw: bytes) -> None:
        if self.mode.startswith("error:"):
            raise RefusedError(self.mode.split(":", 1)[1], "switched on by the test")
        match = _AUTH.fullmatch(request.headers.get("authorization", ""))
        if match is None:
            raise RefusedError("AuthFailure.InvalidAuthorization", "Authorization is malformed")
        if match["id"] != self.secret_id:
            raise RefusedError("AuthFailure.SecretIdNotFound", "SecretId does not exist")
        try:
            stamp = int(request.headers.get("x-tc-timestamp", ""))
        except ValueError:
            raise RefusedError("MissingParameter", "X-TC-Timestamp is missing") from None
        if abs(time.time() - stamp) > SKEW_SECS:
            raise RefusedError("AuthFailure.SignatureExpire", "signature expired")
        if request.headers.get("x-tc-version") != "2021-01-11":
            raise RefusedError("InvalidParameter", "X-TC-Version is not 2021-01-11")
        if not request.headers.get("x-tc-region"):
            raise RefusedError("MissingParameter", "X-TC-Region is missing")
        expected = _signature(self.secret_key, request, raw, match["signed"], stamp, match["date"])
        signed = match["signed"].split(";")
        if (
            "content-type" not in signed
            or "host" not in signed
            or match["service"] != "sms"
            or match["date"] != datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d")
            or not hmac.compare_digest(expected, match["sig"])
        ):
            raise RefusedError("AuthFailure.SignatureFailure", "the signature does not match")

    def _act(self, action: str, body: dict[str, Any]) -> tuple[dict[str, Any], Any]:
        if action == "SendSms":
            return self._send_sms(body)
        if action == "PullSmsSendStatus":
            return self._pull(body), None
        raise RefusedError("InvalidAction", f"action {action!r} not found")

    # --- actions ----------------------------------------------------------------------------

    def _send_sms(self, body: dict[str, Any]) -> tuple[dict[str, Any], Any]:
        # {"PhoneNumberSet": ["+8613800138000"], "SmsSdkAppId": "1400000001",
        #  "TemplateId": "100001", "SignName": "鸿雁", "TemplateParamSet": ["1234"]}
        numbers = body.get("PhoneNumberSet") or []
        params = [str(p) for p in body.get("TemplateParamSet") or []]
        template_id = str(body.get("TemplateId") or "")
        if str(body.get("SmsSdkAppId")) != self.sms_sdk_app_id:
            raise RefusedError(
                "UnauthorizedOperation.SmsSdkAppIdVerifyFail", "SmsSdkAppId mismatch"
            )
        if not numbers:
            raise RefusedError("MissingParameter.EmptyPhoneNumberSet", "PhoneNumberSet is empty")
        if len(numbers) > 200:
            raise RefusedError("LimitExceeded.PhoneNumberCountLimit", "over 200 numbers")
        if self.signs is not None and body.get("SignName") not in self.signs:
            raise RefusedError("FailedOperation.SignatureIncorrectOrUnapproved", "sign unapproved")
        if self.templates is not None:
            if template_id not in self.templates:
                raise RefusedError("FailedOperation.TemplateIncorrectOrUnapproved", "unapproved")
            if len(params) != self.templates[template_id]:
                raise RefusedError(
                    "FailedOperation.TemplateParamSetNotMatchApprovedTemplate", "param count"
                )
        statuses = [self._one(str(n), template_id, body, params) for n in numbers]
        push = BackgroundTask(self._push_later) if self.receipt_url else None
        return {"SendStatusSet": statuses}, push

    def _one(
        self, number: str, template_id: str, body: dict[str, Any], params: list[str]
    ) -> dict[str, Any]:
        code, report, errmsg = RULES.get(number[-4:], ("Ok", "SUCCESS", "DELIVRD"))
        if not re.fullmatch(r"\+\d{7,15}", number):
            code, report = "InvalidParameterValue.IncorrectPhoneNumber", None
        status: dict[str, Any] = {
            "SerialNo": "",
            "PhoneNumber": number,
            "Fee": 0,
            "SessionContext": body.get("SessionContext") or "",
            "Code": code,
            "Message": "send success" if code == "Ok" else code,
            "IsoCode": "CN" if number.startswith("+86") else "DEF",
        }
        if code != "Ok":
            return status
        serial = f"2433:{secrets.randbelow(10**28):028d}"
        status.update(SerialNo=serial, Fee=1)
        sign = body.get("SignName")
        self.sent.append(Sent(serial, number, template_id, sign, params, body.get("ExtendCode")))
        if report is not None and errmsg is not None:
            self._queue_receipt(serial, number, report, errmsg)
        return status

    def _queue_receipt(self, serial: str, number: str, report: str, errmsg: str) -> None:
        now = datetime.now(BEIJING)
        national = number[3:] if number.startswith("+86") else number.lstrip("+")
        with self._lock:
            self._queue.append(
                {
                    "UserReceiveTime": int(now.timestamp()),
                    "CountryCode": "86" if number.startswith("+86") else "",
                    "SubscriberNumber": national,
                    "PhoneNumber": number,
                    "SerialNo": serial,
                    "ReportStatus": report,
                    "Description": errmsg,
                    "SessionContext": "",
                }
            )
            self._unpushed.append(
                {
                    "user_receive_time": now.strftime("%Y-%m-%d %H:%M:%S"),
                    "nationcode": "86" if number.startswith("+86") else "",
                    "mobile": national,
                    "report_status": report,
                    "errmsg": errmsg,
                    "description": DESCRIPTIONS.get(errmsg, errmsg),
                    "sid": serial,
                }
            )

    def _pull(self, body: dict[str, Any]) -> dict[str, Any]:
        if str(body.get("SmsSdkAppId")) != self.sms_sdk_app_id:
            raise RefusedError(
                "UnauthorizedOperation.SmsSdkAppIdVerifyFail", "SmsSdkAppId mismatch"
            )
        limit = body.get("Limit")
        if not isinstance(limit, int) or not 1 <= limit <= 100:
            raise RefusedError("InvalidParameterValue.LimitVerifyFail", "Limit must be 1-100")
        with self._lock:
            taken, self._queue = self._queue[:limit], self._queue[limit:]
        return {"PullSmsSendStatusSet": taken}

    # --- pushing to Hongyan -----------------------------------------------------------------

    def take_unpushed(self) -> list[dict[str, Any]]:
        with self._lock:
            taken, self._unpushed = self._unpushed, []
        return taken

    def drop_pull_queue(self) -> None:
        with self._lock:
            self._queue.clear()

    async def push_receipts(self, client: httpx.AsyncClient, url: str) -> httpx.Response | None:
        """POST the receipts not pushed yet as one status callback; None when there are none."""
        items = self.take_unpushed()
        if not items:
            return None
        try:
            answer = await client.post(url, json=items)
        except httpx.HTTPError:
            self._keep(items)
            raise
        self.pushes.append((answer.status_code, _json_or_text(answer)))
        if answer.status_code != 200 or _json_or_text(answer) != {"result": 0, "errmsg": "OK"}:
            self._keep(items)  # the vendor pushes them again later
        return answer

    def _keep(self, items: list[dict[str, Any]]) -> None:
        with self._lock:
            self._unpushed[:0] = items

    async def _push_later(self) -> None:
        """After an accepted SendSms: push until the receiver took everything (or give up)."""
        assert self.receipt_url
        async with httpx.AsyncClient(timeout=5) as client:
            for _ in range(50):
                with contextlib.suppress(httpx.HTTPError):
                    await self.push_receipts(client, self.receipt_url)
                with self._lock:
                    if not self._unpushed:
                        return
                await asyncio.sleep(0.2)

    @staticmethod
    async def push_mo(
        client: httpx.AsyncClient,
        url: str,
        *,
        mobile: str,
        text: str,
        nationcode: str = "86",
        extend: str = "",
        sign: str = "",
        at: int | None = None,
    ) -> httpx.Response:
        """POST one reply (MO) as the vendor's reply callback does."""
        payload = {
            "extend": extend,
            "mobile": mobile,
            "nationcode": nationcode,
            "sign": sign,
            "text": text,
            "time": at if at is not None else int(time.time()),
        }
        return await client.post(url, json=payload)


def _signature(
    secret_key: str, request: Request, raw: bytes, signed: str, stamp: int, date: str
) -> str:
    """The vendor's TC3-HMAC-SHA256 over what arrived."""
    names = signed.split(";")
    headers = "".join(f"{n}:{request.headers.get(n, '').strip().lower()}\n" for n in names)
    if request.headers.get("x-tc-content-sha256") == "UNSIGNED-PAYLOAD":
        payload_hash = hashlib.sha256(b"UNSIGNED-PAYLOAD").hexdigest()
    else:
        payload_hash = hashlib.sha256(raw).hexdigest()
    canonical = (
        f"{request.method}\n{request.url.path}\n{request.url.query}\n{headers}\n{signed}\n"
        f"{payload_hash}"
    )
    scope = f"{date}/sms/tc3_request"
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    to_sign = f"TC3-HMAC-SHA256\n{stamp}\n{scope}\n{digest}"
    key = f"TC3{secret_key}".encode()
    for part in (date, "sms", "tc3_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def _answer(response: dict[str, Any], background: Any = None) -> Response:
    body = {"Response": {**response, "RequestId": secrets.token_hex(16)}}
    return Response(
        json.dumps(body, ensure_ascii=False),
        media_type=None,
        headers={"Content-Type": "application/json"},  # exactly: the SDK compares it
        background=background,
    )


def _json_or_text(answer: httpx.Response) -> Any:
    try:
        return answer.json()
    except ValueError:
        return answer.text


# --- running it on a real socket ---------------------------------------------------------------


def serving(fake: FakeTencent) -> contextlib.AbstractContextManager[str]:
    """Run the fake on 127.0.0.1 (a free port) in a thread; yields its endpoint URL."""

    def stop() -> None:
        fake._stopping = True

    return serve_in_thread(fake.app, on_stop=stop)


# Settings of a connector that talks to a fake with its defaults (endpoint added by the peer).
CONTRACT_SETTINGS: dict[str, Any] = {
    "secret_id": "AKIDfakeTencentSecretId0001",
    "secret_key": "fake-tencent-secret-key-0001",
    "sms_sdk_app_id": "1400000001",
    "default_sign": "鸿雁",
    "free_text_template_id": "100009",
    "poll_receipts": True,
    "poll_interval_secs": 0.05,
    "timeout_secs": 5,
}


@contextlib.asynccontextmanager
async def contract_peer(settings: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
    """The contract suite's peer: a fake on a real socket, and the settings pointing at it."""
    with serving(FakeTencent()) as url:
        yield {**settings, "endpoint": url}
