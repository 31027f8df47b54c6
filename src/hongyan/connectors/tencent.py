"""Tencent Cloud SMS (API 2021-01-11): SendSms signed TC3-HMAC-SHA256, receipts by pull or push.

The wire, as the vendor documents it and its official SDK (``tencentcloud-sdk-python-sms``)
sends it:

- ``POST /`` to ``sms.tencentcloudapi.com`` with a JSON body and the headers ``X-TC-Action``,
  ``X-TC-Version: 2021-01-11``, ``X-TC-Timestamp`` and ``X-TC-Region``; the ``Authorization``
  header signs ``content-type``, ``host`` and the SHA-256 of the body (``tc3_headers``).
- Answers are HTTP 200 with ``{"Response": {...}}``; a refused request carries
  ``Response.Error {Code, Message}``, an accepted one a ``SendStatusSet`` with a ``Code`` per
  number ("Ok" or why that number was refused).
- ``TemplateParamSet`` is positional and shared by every number of one request: messages are
  grouped by (sign, template, parameter values) and each group, at most 200 distinct numbers,
  is one request.

Errors become Hongyan codes by the tables of ``tencent_wire`` (the vendor's code is kept as
``raw_code``): a refusal about the message (bad number, opted out, frequency limit, sensitive
words) is permanent; a refusal about the connector (credentials, balance, unapproved sign or
template, a template this connector has no mapping for) and every transient failure
(InternalError, RequestLimitExceeded, HTTP errors, timeouts) is retryable, so routing fails
over. A failure of the connector itself ends the batch: what was not sent yet fails over at
once.

Receipts: the vendor pushes them to ``tencent_callbacks`` and, with ``poll_receipts`` on, the
connector pulls them (``PullSmsSendStatus``, a queue: each status is handed out once) while
it has sends waiting for one; the worker job ``tencent_tasks.poll_receipts`` pulls for the
messages no live instance waits for (sent before a restart, or by another process).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx
import structlog
from pydantic import BaseModel, ConfigDict, Field, field_validator

from hongyan import errors
from hongyan.connectors.base import (
    OutboundSms,
    Receipt,
    RetryableSendError,
    SendError,
    SendResult,
    Sinks,
)
from hongyan.connectors.tencent_wire import (
    CONNECTOR_WIDE,
    RETRY_LATER,
    pulled_receipt,
    send_error,
    tc3_headers,
)

log = structlog.get_logger("hongyan.connectors.tencent")

MAX_NUMBERS = 200  # PhoneNumberSet of one SendSms
PULL_LIMIT = 100  # PullSmsSendStatus hands out at most this many per call
MAX_PULL_PAGES = 20  # per poll; the rest wait for the next one
CONCURRENT_REQUESTS = 8  # SendSms requests of one batch in flight at once
OUTSTANDING_MAX = 100_000  # sends the poll loop waits receipts for; older ones go to the job
OUTSTANDING_SECS = 3600.0  # after this the job, not the loop, looks for a send's receipt


# --- settings -----------------------------------------------------------------------------------


class TencentTemplate(BaseModel):
    """A vendor template and which Hongyan variables fill its {1}, {2}, ... in order."""

    model_config = ConfigDict(extra="forbid")

    template_id: str = Field(pattern=r"^\d{1,20}$", examples=["1234567"])
    params: list[str] = Field(
        default_factory=list,
        max_length=30,
        description="Hongyan variable names in the vendor template's order ({1}, {2}, ...).",
        examples=[["code"]],
    )


class TencentSettings(BaseModel):
    """Settings of a Tencent Cloud SMS connector."""

    model_config = ConfigDict(extra="forbid")

    secret_id: str = Field(min_length=1, max_length=128, description="Cloud API SecretId.")
    secret_key: str = Field(min_length=1, max_length=128, description="Cloud API SecretKey.")
    sms_sdk_app_id: str = Field(
        pattern=r"^\d{1,20}$", description="SmsSdkAppId of the SMS application, e.g. 1400006666."
    )
    region: str = Field("ap-guangzhou", pattern=r"^[a-z]+(-[a-z]+)+$", examples=["ap-guangzhou"])
    endpoint: str = Field(
        "sms.tencentcloudapi.com",
        description="Host (https), or a URL with its scheme such as http://127.0.0.1:8080.",
    )
    sign_map: dict[str, str] = Field(
        default_factory=dict,
        description="Hongyan sign -> vendor SignName; a sign not listed is sent as it is.",
    )
    default_sign: str | None = Field(
        None, max_length=64, description="SignName for messages that carry no sign."
    )
    template_map: dict[str, TencentTemplate] = Field(
        default_factory=dict, description="Hongyan template id (tpl_...) -> vendor template."
    )
    free_text_template_id: str | None = Field(
        None,
        pattern=r"^\d{1,20}$",
        description="A vendor template of one variable ({1}) that carries messages without a "
        "template (their text, without the sign). Without it such messages cannot go this way.",
    )
    timeout_secs: float = Field(10.0, gt=0, le=120, description="Per request.")
    poll_receipts: bool = Field(
        False, description="Also pull receipts (PullSmsSendStatus), besides the pushed ones."
    )
    poll_interval_secs: float = Field(
        10.0, ge=0.01, le=3600, description="Pause between pulls while receipts are awaited."
    )
    callback_token: str | None = Field(
        None,
        min_length=16,
        max_length=128,
        description="Secret in the callback URLs registered at the vendor; callbacks are "
        "refused while it is not set.",
    )

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        if not re.fullmatch(r"(https?://)?[A-Za-z0-9.\-]+(:\d{1,5})?/?", value):
            raise ValueError("a host such as sms.tencentcloudapi.com, or http(s)://host[:port]")
        return value.rstrip("/")


def endpoint_parts(endpoint: str) -> tuple[str, str]:
    """(base URL, Host header) of an endpoint setting."""
    if "://" in endpoint:
        scheme, host = endpoint.split("://", 1)
    else:
        scheme, host = "https", endpoint
    return f"{scheme}://{host}/", host


# --- the connector ------------------------------------------------------------------------------


class TencentError(Exception):
    """``Response.Error`` of an answer: the request was refused as a whole."""

    def __init__(self, code: str, message: str, request_id: str | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.request_id = request_id


@dataclass(slots=True)
class _Group:
    """Messages that share one SendSms request."""

    sign: str | None
    template_id: str
    params: tuple[str, ...]
    extend_code: str | None
    members: list[tuple[int, OutboundSms]] = field(default_factory=list)
    numbers: set[str] = field(default_factory=set)


# (SignName, TemplateId, TemplateParamSet, ExtendCode): what one request's numbers share
_Fields = tuple[str | None, str, tuple[str, ...], str | None]


def _digits(number: str) -> str:
    return "".join(ch for ch in number if ch.isdigit())


_SIGN_PREFIX = re.compile(r"^【[^】]{1,20}】")


class TencentConnector:
    """Sends through Tencent Cloud SMS; see the module docstring."""

    kind: ClassVar[str] = "tencent"
    # The vendor takes a template's content up to 500 characters: 8 parts of 67 (UCS-2).
    max_segments: ClassVar[int] = 8
    rate_per_sec: ClassVar[float | None] = 3000.0  # Tencent's default request rate for SendSms
    settings_model: ClassVar[type[BaseModel]] = TencentSettings
    secret_settings: ClassVar[frozenset[str]] = frozenset({"secret_key", "callback_token"})

    def __init__(self, id: str, settings: dict[str, object]) -> None:
        self.id = id
        self.settings = TencentSettings.model_validate(settings)
        self._base_url, self._host = endpoint_parts(self.settings.endpoint)
        self._client: httpx.AsyncClient | None = None
        self._sinks: Sinks | None = None
        self._closed = False
        self._outstanding: dict[str, float] = {}  # SerialNo -> monotonic time sent
        self._waiting = asyncio.Event()  # set while sends wait for a pulled receipt
        self._poller: asyncio.Task[None] | None = None
        self._poll_lock = asyncio.Lock()
        self._unsaved: list[Receipt] = []  # pulled (so gone upstream) but not yet stored

    async def start(self, sinks: Sinks) -> None:
        """Open the HTTP client; with poll_receipts, start pulling receipts when sends wait."""
        self._sinks = sinks
        self._closed = False
        if self._client is None:
            self._client = httpx.AsyncClient(
                base_url=self._base_url, timeout=self.settings.timeout_secs
            )
        if self.settings.poll_receipts and self._poller is None:
            self._poller = asyncio.get_running_loop().create_task(self._poll_loop())

    async def close(self) -> None:
        """Stop pulling and close the HTTP client; later sends are refused."""
        self._closed = True
        if self._poller is not None:
            self._poller.cancel()
            await asyncio.gather(self._poller, return_exceptions=True)
            self._poller = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # --- sending ----------------------------------------------------------------------------

    async def send(self, batch: Sequence[OutboundSms]) -> list[SendResult | SendError]:
        """Group the batch by sign, template and values; one SendSms per group, concurrently."""
        if self._closed or self._client is None:
            raise RetryableSendError(errors.CONNECTOR_UNAVAILABLE.code, "connector not started")
        results: list[SendResult | SendError | None] = [None] * len(batch)
        groups = self._group(batch, results)
        gate = asyncio.Semaphore(CONCURRENT_REQUESTS)
        # A failure of the connector itself (down, timing out, credentials, account) ends the
        # batch: groups not yet sent fail over at once instead of each waiting for its own.
        broken: list[SendError] = []

        async def one(group: _Group) -> None:
            async with gate:
                if broken:
                    for index, _ in group.members:
                        results[index] = broken[0]
                    return
                failure = await self._send_group(group, results)
                if failure is not None and failure.code in CONNECTOR_WIDE:
                    broken.append(failure)

        await asyncio.gather(*(one(g) for g in groups))
        done: list[SendResult | SendError] = []
        for result in results:
            assert result is not None
            done.append(result)
        return done

    def _group(
        self, batch: Sequence[OutboundSms], results: list[SendResult | SendError | None]
    ) -> list[_Group]:
        """Requests to make; messages that cannot go this way get their error in ``results``."""
        open_groups: dict[_Fields, _Group] = {}
        groups: list[_Group] = []
        for index, msg in enumerate(batch):
            planned = self._request_fields(msg)
            if isinstance(planned, SendError):
                results[index] = planned
                continue
            group = open_groups.get(planned)
            number = _digits(msg.msisdn)
            if group is None or number in group.numbers or len(group.members) >= MAX_NUMBERS:
                group = _Group(*planned)
                open_groups[planned] = group
                groups.append(group)
            group.members.append((index, msg))
            group.numbers.add(number)
        return groups

    def _request_fields(self, msg: OutboundSms) -> _Fields | SendError:
        """(SignName, TemplateId, TemplateParamSet, ExtendCode) of a message, or why not."""
        s = self.settings
        sign = s.sign_map.get(msg.sign, msg.sign) if msg.sign else s.default_sign
        if sign is None and msg.msisdn.startswith("+86"):  # mainland messages need a SignName
            return _not_mapped(msg.template_id or "free text", "no sign: set default_sign")
        extend = msg.sender if msg.sender and msg.sender.isdigit() else None
        if msg.template_id is None:
            if s.free_text_template_id is None:
                return _not_mapped("free text")
            return sign, s.free_text_template_id, (_SIGN_PREFIX.sub("", msg.text, 1),), extend
        template = s.template_map.get(msg.template_id)
        if template is None:
            return _not_mapped(msg.template_id)
        missing = [name for name in template.params if name not in msg.params]
        if missing:
            return _not_mapped(msg.template_id, f"template_map names no value {missing[0]!r}")
        values = tuple(msg.params[name] for name in template.params)
        return sign, template.template_id, values, extend

    async def _send_group(
        self, group: _Group, results: list[SendResult | SendError | None]
    ) -> SendError | None:
        """One SendSms; results for its messages. Returns the error if the request failed."""
        payload: dict[str, Any] = {
            "PhoneNumberSet": [msg.msisdn for _, msg in group.members],
            "SmsSdkAppId": self.settings.sms_sdk_app_id,
            "TemplateId": group.template_id,
            "TemplateParamSet": list(group.params),
        }
        if group.sign:
            payload["SignName"] = group.sign
        if group.extend_code:
            payload["ExtendCode"] = group.extend_code
        try:
            answer = await self._call("SendSms", payload)
        except Exception as exc:
            error = _request_error(exc)
            for index, _ in group.members:
                results[index] = error
            return error
        self._record_statuses(group, answer, results)
        return None

    def _record_statuses(
        self,
        group: _Group,
        answer: dict[str, Any],
        results: list[SendResult | SendError | None],
    ) -> None:
        # {"Response": {"SendStatusSet": [{"SerialNo": "2433:1045710669157053657849499619",
        #   "PhoneNumber": "+8613800138000", "Fee": 1, "SessionContext": "", "Code": "Ok",
        #   "Message": "send success", "IsoCode": "CN"}], "RequestId": "a0aabda6-..."}}
        statuses = answer.get("SendStatusSet")
        by_number: dict[str, dict[str, Any]] = {}
        for status in statuses if isinstance(statuses, list) else []:
            if isinstance(status, dict) and isinstance(status.get("PhoneNumber"), str):
                by_number[_digits(status["PhoneNumber"])] = status
        now = time.monotonic()
        for index, msg in group.members:
            status = by_number.get(_digits(msg.msisdn))
            results[index] = self._result_of(status, now)

    def _result_of(self, status: dict[str, Any] | None, now: float) -> SendResult | SendError:
        if status is None:  # the vendor answered without this number: it may have left
            return SendError(errors.SUBMIT_OUTCOME_UNKNOWN.code, "no SendStatus for the number")
        code = str(status.get("Code") or "")
        serial = status.get("SerialNo")
        if code.lower() != "ok":
            return send_error(code or "FailedOperation", str(status.get("Message") or ""))
        if not isinstance(serial, str) or not serial:  # sent, but receipts could not match it
            return SendError(errors.SUBMIT_OUTCOME_UNKNOWN.code, "Ok without a SerialNo")
        if self.settings.poll_receipts:
            self._expect(serial, now)
        return SendResult(upstream_ids=(serial,), raw_code=code)

    async def _call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """POST one signed action; ``Response`` of the answer, or TencentError."""
        if self._client is None:
            raise RetryableSendError(errors.CONNECTOR_UNAVAILABLE.code, "connector not started")
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        headers = tc3_headers(
            secret_id=self.settings.secret_id,
            secret_key=self.settings.secret_key,
            host=self._host,
            action=action,
            region=self.settings.region,
            body=body,
            timestamp=int(time.time()),
        )
        answer = await self._client.post("", content=body, headers=headers)
        answer.raise_for_status()
        response = answer.json().get("Response")
        if not isinstance(response, dict):
            raise ValueError("no Response object in the answer")
        error = response.get("Error")
        if isinstance(error, dict):
            raise TencentError(
                str(error.get("Code") or "InternalError"),
                str(error.get("Message") or ""),
                response.get("RequestId"),
            )
        return response

    # --- receipts by pull -------------------------------------------------------------------

    def _expect(self, serial: str, now: float) -> None:
        if len(self._outstanding) >= OUTSTANDING_MAX:
            self._outstanding.pop(next(iter(self._outstanding)))  # the job finds it instead
        self._outstanding[serial] = now
        self._waiting.set()

    async def _poll_loop(self) -> None:
        while not self._closed:
            await self._waiting.wait()
            await asyncio.sleep(self.settings.poll_interval_secs)
            try:
                await self.poll_once()
            except Exception as exc:  # the vendor is down: try again on the next turn
                log.warning("receipt pull failed", connector_id=self.id, error=str(exc))
            cutoff = time.monotonic() - OUTSTANDING_SECS
            for serial in [s for s, at in self._outstanding.items() if at < cutoff]:
                del self._outstanding[serial]
            if not self._outstanding and not self._unsaved:
                self._waiting.clear()

    async def poll_once(self) -> int:
        """Pull the receipts waiting at the vendor and hand them to the sinks; how many.

        PullSmsSendStatus hands each status out once, so every page is stored (the sinks store
        before they return) before the next is pulled; a page the sinks refused is kept here
        and handed over first next time.
        """
        if self._sinks is None or self._client is None:
            raise RuntimeError("connector not started")
        async with self._poll_lock:
            total = await self._flush_unsaved()
            for _ in range(MAX_PULL_PAGES):
                response = await self._call(
                    "PullSmsSendStatus",
                    {"Limit": PULL_LIMIT, "SmsSdkAppId": self.settings.sms_sdk_app_id},
                )
                items = response.get("PullSmsSendStatusSet") or []
                pulled = [pulled_receipt(self.id, i) for i in items if isinstance(i, dict)]
                self._unsaved.extend(r for r in pulled if r is not None)
                total += await self._flush_unsaved()
                if len(items) < PULL_LIMIT:
                    break
            return total

    async def _flush_unsaved(self) -> int:
        if not self._unsaved or self._sinks is None:
            return 0
        receipts, self._unsaved = self._unsaved, []
        try:
            await self._sinks.receipts(receipts)
        except Exception:
            self._unsaved = receipts + self._unsaved
            raise
        for receipt in receipts:
            self._outstanding.pop(receipt.upstream_id, None)
        return len(receipts)


def _not_mapped(template: str, detail: str | None = None) -> RetryableSendError:
    return RetryableSendError(
        errors.VENDOR_TEMPLATE_NOT_MAPPED.code,
        detail or f"no vendor template for {template} on this connector",
        retry_in=RETRY_LATER,
    )


def _request_error(exc: Exception) -> SendError:
    """What a failed SendSms request means for each of its messages."""
    if isinstance(exc, TencentError):
        return send_error(exc.code, exc.message)
    if isinstance(exc, RetryableSendError):
        return exc
    if isinstance(exc, httpx.TimeoutException):
        return RetryableSendError(errors.SUBMIT_TIMEOUT.code, f"Tencent: {type(exc).__name__}")
    if isinstance(exc, httpx.HTTPStatusError):
        status = exc.response.status_code
        return RetryableSendError(
            errors.CONNECTOR_UNAVAILABLE.code,
            f"Tencent answered HTTP {status}",
            raw_code=f"HTTP_{status}",
        )
    if isinstance(exc, httpx.HTTPError | ValueError):
        return RetryableSendError(errors.CONNECTOR_UNAVAILABLE.code, f"Tencent: {exc}")
    log.exception("unexpected error sending to Tencent", exc_info=exc)
    return SendError(errors.SUBMIT_OUTCOME_UNKNOWN.code, f"Tencent: {exc}")
