"""A configurable HTTP connector, for the long tail of SMS vendors with a simple HTTP API.

The operator describes the vendor in the connector's settings instead of code:

- ``request``: method, URL, headers and body (JSON or form) of the send request, written with
  placeholders such as ``{to}`` and ``{text}``; which answers are a success (HTTP statuses and
  optionally a JSON path equal to a value), where the upstream id is, where the vendor's error
  code is, which answers are worth another connector (429/5xx, chosen codes) and how vendor
  codes map onto Hongyan's.
- ``receipts``: how a pushed receipt reads (paths to the id, status and error code; a map from
  the vendor's status values to Hongyan's), for ``POST /callbacks/http/{id}/receipts?token=``.
- ``poll`` (optional): a status request per upstream id, read with the same mapping.

Placeholders are a tiny, safe language (``http_template``): ``{name}`` from a fixed list
(``SEND_FIELDS``), ``{{`` and ``}}`` for literal braces, nothing else (checked when the settings
are saved). JSON bodies are built as data and then serialized, so values
never need escaping; a string that is exactly ``{params}`` becomes the params object. Values in
the URL are percent-encoded. ``{secret}`` is the connector's encrypted ``secret`` setting.
"""

from __future__ import annotations

import asyncio
import json
import secrets as random_secrets
import time
from collections.abc import Sequence
from typing import Annotated, Any, ClassVar, Literal

import httpx
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from hongyan import errors
from hongyan.connectors.base import (
    OutboundSms,
    PermanentSendError,
    Receipt,
    RetryableSendError,
    SendError,
    SendResult,
    Sinks,
)
from hongyan.connectors.http_template import check, get_path, render, render_json
from hongyan.connectors.receipt_poller import ReceiptPoller
from hongyan.models.base import utcnow

# What the send request may refer to; the poll request may use POLL_FIELDS.
SEND_FIELDS = frozenset(
    {
        "to",  # E.164 with '+'
        "to_digits",  # E.164 without '+'
        "text",  # the rendered text, sign included
        "sign",
        "message_id",
        "tenant_id",
        "template_id",  # Hongyan's template id
        "template_code",  # the vendor's, from template_map (required once used)
        "params",  # the params as a JSON object text ({params} alone: the object itself)
        "params_json",
        "kind",
        "segments",
        "region",
        "sender",
        "secret",
        "timestamp",  # Unix seconds
        "nonce",  # 32 random hex digits
    }
)
POLL_FIELDS = frozenset({"upstream_id", "secret", "timestamp", "nonce"})
ReceiptValue = Literal["delivered", "undelivered", "expired", "rejected", "accepted"]


def _same(found: Any, expected: Any) -> bool:
    return bool(found == expected or (found is not None and str(found) == str(expected)))


def _catalog_codes(mapping: dict[str, str]) -> dict[str, str]:
    unknown = sorted(v for v in mapping.values() if v not in errors.CATALOG)
    if unknown:
        raise ValueError(f"not Hongyan error codes: {unknown} (GET /v1/errors lists them)")
    return mapping


# --- settings ----------------------------------------------------------------------------------

# Vendor code -> Hongyan catalog code (checked against the catalog).
CodeMap = Annotated[dict[str, str], AfterValidator(_catalog_codes)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HttpSendSettings(_Strict):
    """The send request and how its answer reads."""

    method: Literal["POST", "PUT", "GET"] = "POST"
    url: str = Field(pattern=r"^https?://\S+$", examples=["https://sms.vendor.example/send"])
    headers: dict[str, str] = Field(default_factory=dict, examples=[{"X-Key": "{secret}"}])
    body_format: Literal["json", "form", "none"] = "json"
    body: dict[str, Any] = Field(default_factory=dict, examples=[{"to": "{to}", "msg": "{text}"}])
    success_statuses: list[int] = Field(default_factory=lambda: [200, 201, 202], min_length=1)
    success_path: str | None = Field(None, examples=["code"])
    success_value: str | int | bool | None = Field(None, examples=[0])
    id_path: str | None = Field(
        None, examples=["data.id"], description="None: the vendor refers to our message id."
    )
    error_code_path: str | None = Field(None, examples=["code"])
    error_message_path: str | None = Field(None, examples=["msg"])
    retryable_statuses: list[int] = Field(default_factory=lambda: [408, 429, 500, 502, 503, 504])
    retryable_codes: list[str] = Field(
        default_factory=list, description="Vendor codes worth another connector (throttling)."
    )
    error_map: CodeMap = Field(
        default_factory=dict,
        examples=[{"1001": "NUMBER_INVALID", "401": "VENDOR_AUTH_FAILED"}],
        description="Vendor code (or HTTP_<status>) -> Hongyan code; unmapped refusals are "
        "REJECTED_BY_CARRIER, unmapped retryable ones CONNECTOR_UNAVAILABLE.",
    )

    @model_validator(mode="after")
    def _templates(self) -> HttpSendSettings:
        check([self.url, self.headers, self.body], SEND_FIELDS)
        if self.success_path is not None and self.success_value is None:
            raise ValueError("success_path needs success_value")
        if self.body_format == "form" and any(
            isinstance(v, dict | list) for v in self.body.values()
        ):
            raise ValueError("a form body takes flat values")
        return self

    def uses(self, name: str) -> bool:
        """Whether a placeholder appears anywhere in the request."""
        return name in check([self.url, self.headers, self.body], SEND_FIELDS)


class ReceiptMapping(_Strict):
    """How a receipt reads, pushed or polled."""

    items_path: str | None = Field(None, description="Where the list is in a pushed body.")
    id_path: str = "id"
    status_path: str = "status"
    status_map: dict[str, ReceiptValue] = Field(
        min_length=1, examples=[{"DELIVRD": "delivered", "UNDELIV": "undelivered"}]
    )
    error_code_path: str | None = None
    error_map: CodeMap = Field(default_factory=dict)
    response_body: str = Field('{"code": 0}', max_length=2000)
    response_content_type: str = "application/json"

    def receipt(
        self, connector_id: str, item: Any, upstream_id: str | None = None
    ) -> Receipt | None:
        """The receipt of one item; None when it has no id or an unmapped status."""
        uid = upstream_id or get_path(item, self.id_path)
        status = self.status_map.get(str(get_path(item, self.status_path)))
        if uid in (None, "") or status is None:
            return None
        code = get_path(item, self.error_code_path) if self.error_code_path else None
        raw = str(code) if code not in (None, "") else str(get_path(item, self.status_path))
        return Receipt(
            connector_id=connector_id,
            upstream_id=str(uid),
            status=status,
            error_code=self.error_map.get(raw),
            raw_code=raw,
            done_at=utcnow() if status != "accepted" else None,
        )


class PollSettings(_Strict):
    """A status request per upstream id, read with the receipts mapping."""

    method: Literal["GET", "POST"] = "GET"
    url: str = Field(
        pattern=r"^https?://\S+$", examples=["https://sms.vendor.example/status/{upstream_id}"]
    )
    headers: dict[str, str] = Field(default_factory=dict)
    item_path: str | None = Field(None, description="Where the status object is in the answer.")
    interval_secs: float = Field(60.0, gt=0, le=86_400)
    max_age_secs: float = Field(86_400.0, gt=0, le=7 * 86_400)

    @model_validator(mode="after")
    def _templates(self) -> PollSettings:
        check([self.url, self.headers], POLL_FIELDS)
        return self


class GenericHttpSettings(_Strict):
    """Settings of a generic HTTP connector."""

    request: HttpSendSettings
    receipts: ReceiptMapping | None = None
    poll: PollSettings | None = None
    secret: str | None = Field(None, description="The vendor's key: {secret}, or Basic password.")
    basic_user: str | None = Field(None, description="Send HTTP Basic auth: this user, {secret}.")
    callback_token: str | None = Field(
        None, min_length=16, description="The token= of the receipt URL registered at the vendor."
    )
    template_map: dict[str, str] = Field(default_factory=dict, examples=[{"tpl_...": "10086"}])
    timeout_secs: float = Field(10.0, gt=0, le=120)
    max_concurrency: int = Field(10, ge=1, le=100)

    @model_validator(mode="after")
    def _complete(self) -> GenericHttpSettings:
        if self.poll is not None and self.receipts is None:
            raise ValueError("poll reads its answers with the receipts mapping: give receipts")
        if self.receipts is not None and self.callback_token is None:
            raise ValueError("receipts are pushed to a URL with token=callback_token: give it")
        if self.basic_user is not None and self.secret is None:
            raise ValueError("basic_user needs secret as its password")
        return self


# --- the connector -----------------------------------------------------------------------------


class GenericHttpConnector:
    """Sends one configured HTTP request per message; see the module docstring."""

    kind: ClassVar[str] = "http"
    max_segments: ClassVar[int] = 10  # a common vendor limit; longer messages go elsewhere
    rate_per_sec: ClassVar[float | None] = None
    settings_model: ClassVar[type[BaseModel]] = GenericHttpSettings
    secret_settings: ClassVar[frozenset[str]] = frozenset({"secret", "callback_token"})

    def __init__(self, id: str, settings: dict[str, Any]) -> None:
        self.id = id
        self.settings = GenericHttpSettings.model_validate(settings)
        self._needs_template = self.settings.request.uses("template_code")
        self._limit = asyncio.Semaphore(self.settings.max_concurrency)
        self._http: httpx.AsyncClient | None = None
        self._poller: ReceiptPoller | None = None

    async def start(self, sinks: Sinks) -> None:
        """Open the HTTP client; start polling when a poll request is configured."""
        s = self.settings
        if self._http is None:
            auth = httpx.BasicAuth(s.basic_user, s.secret or "") if s.basic_user else None
            self._http = httpx.AsyncClient(auth=auth, timeout=s.timeout_secs)
        if s.poll is not None and self._poller is None:
            self._poller = ReceiptPoller(
                self.fetch_receipt,
                connector_id=self.id,
                interval_secs=s.poll.interval_secs,
                max_age_secs=s.poll.max_age_secs,
                concurrency=s.max_concurrency,
            )
            self._poller.start(sinks.receipts)

    async def send(self, batch: Sequence[OutboundSms]) -> list[SendResult | SendError]:
        """One request per message, ``max_concurrency`` at a time; results in order."""
        if self._http is None:
            raise RetryableSendError(errors.CONNECTOR_UNAVAILABLE.code, "connector not started")
        if not batch:
            return []
        results = list(await asyncio.gather(*(self._send_one(m) for m in batch)))
        if self._poller is not None:
            self._poller.watch(
                u for r in results if isinstance(r, SendResult) for u in r.upstream_ids
            )
        return results

    def values(self, msg: OutboundSms) -> dict[str, str]:
        """What the placeholders stand for, for one message."""
        code = self.settings.template_map.get(msg.template_id or "")
        if code is None and self._needs_template:
            raise RetryableSendError(
                errors.VENDOR_TEMPLATE_NOT_MAPPED.code,
                f"no vendor template for {msg.template_id or 'free text'}",
            )
        params_json = json.dumps(msg.params, ensure_ascii=False, separators=(",", ":"))
        return {
            **_common(self.settings.secret),
            "to": msg.msisdn,
            "to_digits": msg.msisdn.removeprefix("+"),
            "text": msg.text,
            "sign": msg.sign or "",
            "message_id": msg.message_id,
            "tenant_id": msg.tenant_id,
            "template_id": msg.template_id or "",
            "template_code": code or "",
            "params": params_json,
            "params_json": params_json,
            "kind": msg.kind,
            "segments": str(msg.segments),
            "region": msg.region or "",
            "sender": msg.sender or "",
        }

    def build(self, msg: OutboundSms) -> httpx.Request:
        """The send request for one message."""
        assert self._http is not None
        spec, values = self.settings.request, self.values(msg)
        headers = {k: render(v, values) for k, v in spec.headers.items()}
        url = render(spec.url, values, encode=True)
        if spec.body_format == "json":
            body = render_json(spec.body, values, msg.params)
            return self._http.build_request(spec.method, url, headers=headers, json=body)
        if spec.body_format == "form":
            form = {k: render(str(v), values) for k, v in spec.body.items()}
            return self._http.build_request(spec.method, url, headers=headers, data=form)
        return self._http.build_request(spec.method, url, headers=headers)

    async def _send_one(self, msg: OutboundSms) -> SendResult | SendError:
        assert self._http is not None
        try:
            request = self.build(msg)
        except SendError as exc:
            return exc
        async with self._limit:
            try:
                response = await self._http.send(request)
            except httpx.TimeoutException as exc:
                return RetryableSendError(errors.SUBMIT_TIMEOUT.code, str(exc) or "time-out")
            except httpx.HTTPError as exc:
                return RetryableSendError(errors.CONNECTOR_UNAVAILABLE.code, str(exc))
        return self.answer(msg, response)

    def answer(self, msg: OutboundSms, response: httpx.Response) -> SendResult | SendError:
        """What the vendor's answer says, by the success, id and error rules."""
        spec = self.settings.request
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        code = get_path(body, spec.error_code_path) if spec.error_code_path else None
        raw = str(code) if code not in (None, "") else f"HTTP_{response.status_code}"
        if response.status_code in spec.success_statuses and (
            spec.success_path is None
            or _same(get_path(body, spec.success_path), spec.success_value)
        ):
            upstream = get_path(body, spec.id_path) if spec.id_path else msg.message_id
            if upstream in (None, ""):
                return SendError(errors.SUBMIT_OUTCOME_UNKNOWN.code, f"no id at {spec.id_path}")
            return SendResult(upstream_ids=(str(upstream),), raw_code=raw)
        detail = (
            str(get_path(body, spec.error_message_path) or "") if spec.error_message_path else ""
        )
        if response.status_code in spec.retryable_statuses or raw in spec.retryable_codes:
            hongyan_code = spec.error_map.get(raw, errors.CONNECTOR_UNAVAILABLE.code)
            return RetryableSendError(hongyan_code, detail, raw_code=raw)
        hongyan_code = spec.error_map.get(raw, errors.REJECTED_BY_CARRIER.code)
        return PermanentSendError(hongyan_code, detail, raw_code=raw)

    async def fetch_receipt(self, upstream_id: str) -> Receipt | None:
        """The final receipt of one upstream id, asked with the poll request."""
        assert self._http is not None and self.settings.poll and self.settings.receipts
        poll = self.settings.poll
        values = {**_common(self.settings.secret), "upstream_id": upstream_id}
        headers = {k: render(v, values) for k, v in poll.headers.items()}
        response = await self._http.request(
            poll.method, render(poll.url, values, encode=True), headers=headers
        )
        response.raise_for_status()
        item = get_path(response.json(), poll.item_path)
        return self.settings.receipts.receipt(self.id, item, upstream_id=upstream_id)

    async def close(self) -> None:
        """Stop polling and close the HTTP client; later sends are refused (retryable)."""
        if self._poller is not None:
            await self._poller.close()
            self._poller = None
        if self._http is not None:
            http, self._http = self._http, None
            await http.aclose()


def _common(secret: str | None) -> dict[str, str]:
    return {
        "secret": secret or "",
        "timestamp": str(int(time.time())),
        "nonce": random_secrets.token_hex(16),
    }
