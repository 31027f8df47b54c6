"""Aliyun SMS (Dysmsapi 2017-05-25): the connector; the wire itself is in ``aliyun_wire``.

Messages go out only with a vendor template: ``template_map`` maps Hongyan template ids to
TemplateCodes (``SMS_...``), ``sign_map`` Hongyan signs to the vendor's SignName; free text
needs a vendor template of one variable (``free_text_template``). One SendSms per message, or
with ``use_batch`` one SendBatchSms per up to 100 messages of one template (a batch refused
for one number or value is sent again one by one, to find whose it is). Each message's
upstream id is ``<BizId>:<number>``, the same for single and batch sends.

Vendor codes become Hongyan codes by the tables of ``aliyun_wire`` (the vendor's code is kept
as the raw code). A failure about the connector itself (credentials, account, the vendor down
or timing out) fails the rest of the batch over at once instead of trying every message.

Receipts: the vendor pushes them (``aliyun_callbacks``); with ``poll_receipts`` the connector
also asks QuerySendDetails about what it sent (``ReceiptPoller``), and the worker job
``aliyun_tasks.poll_receipts`` asks about the messages no live instance is watching (sent
before a restart, or by another process).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

import httpx
import structlog
from pydantic import BaseModel, ConfigDict, Field, field_validator

from hongyan import errors
from hongyan.connectors.aliyun_wire import (
    API_VERSION,
    RETRY_LATER,
    about_connector,
    acs3_authorization,
    answer_of,
    canonical_query,
    detail_receipt,
    number_key,
    request_error,
    rpc_signature,
    send_date,
    split_upstream_id,
    upstream_id,
    utc_stamp,
    vendor_number,
)
from hongyan.connectors.base import (
    OutboundSms,
    Receipt,
    RetryableSendError,
    SendError,
    SendResult,
    Sinks,
)
from hongyan.connectors.receipt_poller import ReceiptPoller

log = structlog.get_logger("hongyan.connectors.aliyun")

BATCH_MAX = 100  # numbers of one SendBatchSms
MAX_TRACKED = 100_000  # send dates kept for the in-process poller (its own limit too)
POLL_SLICE_SECS = 10.0  # one poll() call stops asking after this, so a worker job stays short


# --- settings -----------------------------------------------------------------------------------


class AliyunSettings(BaseModel):
    """Settings of an Aliyun SMS connector."""

    model_config = ConfigDict(extra="forbid")

    access_key_id: str = Field(min_length=1, max_length=128, description="AccessKey ID.")
    access_key_secret: str = Field(min_length=1, max_length=128, description="AccessKey secret.")
    endpoint: str = Field(
        "dysmsapi.aliyuncs.com",
        description="Host (https), or a URL with its scheme such as http://127.0.0.1:8080.",
    )
    signature_version: Literal["v3", "v2"] = Field(
        "v3", description="v3: ACS3-HMAC-SHA256 (the SDK's default); v2: the RPC HMAC-SHA1."
    )
    sign_map: dict[str, str] = Field(
        default_factory=dict,
        description="Hongyan sign -> vendor SignName; a sign not listed is sent as it is.",
    )
    default_sign: str | None = Field(
        None, max_length=64, description="SignName for messages that carry no sign."
    )
    template_map: dict[str, str] = Field(
        default_factory=dict,
        description="Hongyan template id (tpl_...) -> vendor TemplateCode (SMS_...).",
    )
    free_text_template: str | None = Field(
        None,
        max_length=64,
        description="A vendor TemplateCode whose one variable (free_text_param) carries messages "
        "sent without a template (their text, without the sign). Without it such messages "
        "cannot go this way.",
    )
    free_text_param: str = Field("content", min_length=1, max_length=32)
    timeout_secs: float = Field(10.0, gt=0, le=120, description="Per request.")
    use_batch: bool = Field(
        False, description="Send messages of one template with SendBatchSms (100 per request)."
    )
    max_concurrency: int = Field(8, ge=1, le=100, description="Requests in flight at once.")
    poll_receipts: bool = Field(
        False, description="Also ask QuerySendDetails for receipts, besides the pushed ones."
    )
    poll_interval_secs: float = Field(
        60.0, ge=0.01, le=86_400, description="First ask this long after a send, then as often."
    )
    poll_max_age_secs: float = Field(
        3600.0,
        ge=1,
        le=86_400,
        description="The connector asks about a send for this long; the worker job after that.",
    )
    callback_token: str | None = Field(
        None,
        min_length=16,
        max_length=128,
        description="Secret in the receipt and inbound URLs registered at the vendor; pushes "
        "are refused while it is not set.",
    )

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        if not re.fullmatch(r"(https?://)?[A-Za-z0-9.\-]+(:\d{1,5})?/?", value):
            raise ValueError("a host such as dysmsapi.aliyuncs.com, or http(s)://host[:port]")
        return value.rstrip("/")


def endpoint_parts(endpoint: str) -> tuple[str, str]:
    """(base URL, host) of an endpoint setting; a bare host is reached over https."""
    scheme, _, host = endpoint.rpartition("://")
    return f"{scheme or 'https'}://{host}", host


# --- the connector ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Plan:
    """What one message is sent as."""

    index: int
    number: str
    sign: str
    template: str
    params: dict[str, str]
    extend_code: str | None
    out_id: str


Results = list[SendResult | SendError | None]
_SIGN_PREFIX = re.compile(r"^【[^】]{1,20}】")  # the sign the text starts with (mainland)


class AliyunConnector:
    """Sends through Aliyun SMS; see the module docstring."""

    kind: ClassVar[str] = "aliyun"
    # A template renders to at most 500 characters: 8 parts of 67 (UCS-2).
    max_segments: ClassVar[int] = 8
    rate_per_sec: ClassVar[float | None] = 5000.0  # SendSms calls per second per account
    settings_model: ClassVar[type[BaseModel]] = AliyunSettings
    secret_settings: ClassVar[frozenset[str]] = frozenset({"access_key_secret", "callback_token"})

    def __init__(self, id: str, settings: dict[str, object]) -> None:
        self.id = id
        self.settings = AliyunSettings.model_validate(settings)
        self._base_url, self._host = endpoint_parts(self.settings.endpoint)
        self._client: httpx.AsyncClient | None = None
        self._gate: asyncio.Semaphore | None = None
        self._poller: ReceiptPoller | None = None
        self._sent_on: dict[str, tuple[str, float]] = {}  # upstream id -> (SendDate, monotonic)
        self._closed = False

    async def start(self, sinks: Sinks) -> None:
        """Open the HTTP client; with poll_receipts, ask about what it sends."""
        self._closed = False
        if self._client is None:
            self._client = httpx.AsyncClient(
                base_url=self._base_url,
                timeout=self.settings.timeout_secs,
                limits=httpx.Limits(max_connections=self.settings.max_concurrency * 2),
            )
            self._gate = asyncio.Semaphore(self.settings.max_concurrency)
        if self.settings.poll_receipts and self._poller is None:
            self._poller = ReceiptPoller(
                self.fetch_receipt,
                connector_id=self.id,
                interval_secs=self.settings.poll_interval_secs,
                max_age_secs=self.settings.poll_max_age_secs,
                concurrency=self.settings.max_concurrency,
                max_watched=MAX_TRACKED,
            )
            self._poller.start(sinks.receipts)

    async def close(self) -> None:
        """Stop polling and close the HTTP client; later sends are refused."""
        self._closed = True
        if self._poller is not None:
            await self._poller.close()
            self._poller = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        self._sent_on.clear()

    # --- sending ----------------------------------------------------------------------------

    async def send(self, batch: Sequence[OutboundSms]) -> list[SendResult | SendError]:
        """One request per message (or per template group with use_batch), concurrently."""
        if self._closed or self._client is None:
            raise RetryableSendError(errors.CONNECTOR_UNAVAILABLE.code, "connector not started")
        results: Results = [None] * len(batch)
        plans: list[_Plan] = []
        for index, msg in enumerate(batch):
            planned = self._plan(index, msg)
            if isinstance(planned, SendError):
                results[index] = planned
            else:
                plans.append(planned)
        groups = self._groups(plans) if self.settings.use_batch else [[p] for p in plans]
        await asyncio.gather(*(self._send_group(group, results) for group in groups))
        done = [r if r is not None else _unsent() for r in results]
        self._track(r for r in done if isinstance(r, SendResult))
        return done

    def _plan(self, index: int, msg: OutboundSms) -> _Plan | SendError:
        """What a message is sent as, or why it cannot go this way."""
        s = self.settings
        params = dict(msg.params)
        if msg.template_id is None:
            template = s.free_text_template
            params = {s.free_text_param: _SIGN_PREFIX.sub("", msg.text, count=1)}
        else:
            template = s.template_map.get(msg.template_id)
        if template is None:
            return _not_mapped(msg.template_id or "free text")
        sign = s.sign_map.get(msg.sign, msg.sign) if msg.sign else s.default_sign
        if not sign:
            return _not_mapped(msg.template_id or "", "the message has no sign (default_sign)")
        extend = msg.sender if msg.sender and msg.sender.isdigit() else None
        number = vendor_number(msg.msisdn)
        return _Plan(index, number, sign, template, params, extend, msg.message_id)

    @staticmethod
    def _groups(plans: Sequence[_Plan]) -> list[list[_Plan]]:
        """Plans of one template, at most BATCH_MAX per group and each number once."""
        groups: list[list[_Plan]] = []
        open_group: dict[str, list[_Plan]] = {}
        for plan in plans:
            group = open_group.get(plan.template)
            numbers = {p.number for p in group} if group else set()
            if group is None or plan.number in numbers or len(group) >= BATCH_MAX:
                group = open_group[plan.template] = []
                groups.append(group)
            group.append(plan)
        return groups

    async def _send_group(self, group: list[_Plan], results: Results) -> None:
        outcome = await self._request(group, results)
        for plan, result in zip(group, outcome, strict=True):
            results[plan.index] = result
        first = outcome[0]
        if len(group) > 1 and isinstance(first, SendError) and _one_of_them(first):
            # One bad number, sign or value refuses a whole SendBatchSms: send them one by one.
            await asyncio.gather(*(self._send_group([plan], results) for plan in group))

    async def _request(self, group: list[_Plan], results: Results) -> list[SendResult | SendError]:
        """One request for the group (in turn with others), unless the connector failed already."""
        assert self._gate is not None
        async with self._gate:
            tripped = next(
                (r for r in results if isinstance(r, SendError) and about_connector(r)), None
            )
            if tripped is not None:
                return [tripped] * len(group)
            try:
                if len(group) == 1:
                    answer = await self._call("SendSms", _sms_query(group[0]))
                else:
                    query, form = _batch_fields(group)
                    answer = await self._call("SendBatchSms", query, form)
            except Exception as exc:
                return [request_error(exc)] * len(group)
        return _accepted(answer, group)

    async def _call(
        self, action: str, params: dict[str, str], form: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """POST one signed action; the JSON answer when its Code is OK, else AliyunError."""
        if self._client is None:
            raise RetryableSendError(errors.CONNECTOR_UNAVAILABLE.code, "connector not started")
        body = canonical_query(form).encode() if form else b""
        headers = {"content-type": "application/x-www-form-urlencoded"} if form else {}
        if self.settings.signature_version == "v3":
            query = dict(params)
            headers.update(self._acs3_headers(action, query, body, headers))
        else:
            query = self._rpc_params(action, params, form or {})
        answer = await self._client.post(
            f"/?{canonical_query(query)}", content=body, headers=headers
        )
        return answer_of(answer)

    def _acs3_headers(
        self, action: str, query: dict[str, str], body: bytes, extra: dict[str, str]
    ) -> dict[str, str]:
        payload_hash = hashlib.sha256(body).hexdigest()
        headers = {
            **extra,
            "host": self._host,
            "x-acs-action": action,
            "x-acs-version": API_VERSION,
            "x-acs-date": utc_stamp(),
            "x-acs-signature-nonce": uuid.uuid4().hex,
            "x-acs-content-sha256": payload_hash,
        }
        headers["authorization"] = acs3_authorization(
            method="POST",
            query=query,
            headers=headers,
            payload_hash=payload_hash,
            key_id=self.settings.access_key_id,
            secret=self.settings.access_key_secret,
        )
        return headers

    def _rpc_params(
        self, action: str, params: dict[str, str], form: dict[str, str]
    ) -> dict[str, str]:
        """The query of a V2 request: common parameters, the action's, and the Signature."""
        query = {
            "AccessKeyId": self.settings.access_key_id,
            "Action": action,
            "Format": "JSON",
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": uuid.uuid4().hex,
            "SignatureVersion": "1.0",
            "Timestamp": utc_stamp(),
            "Version": API_VERSION,
            **params,
        }
        query["Signature"] = rpc_signature({**query, **form}, self.settings.access_key_secret)
        return query

    # --- receipts by poll -------------------------------------------------------------------

    def _track(self, sent: Iterable[SendResult]) -> None:
        """Remember when sends happened, and have the poller ask about them."""
        if self._poller is None:
            return
        today, now = send_date(datetime.now(UTC)), time.monotonic()
        ids = [uid for result in sent for uid in result.upstream_ids]
        for uid in ids:
            self._sent_on[uid] = (today, now)
        overflow = len(self._sent_on) - MAX_TRACKED
        for uid in list(self._sent_on)[: max(overflow, 0)]:  # the oldest first
            del self._sent_on[uid]
        self._poller.watch(ids)

    def tracks(self, uid: str) -> bool:
        """Whether this instance's poller is still asking about an upstream id."""
        entry = self._sent_on.get(uid)
        return entry is not None and time.monotonic() - entry[1] < self.settings.poll_max_age_secs

    async def fetch_receipt(self, uid: str) -> Receipt | None:
        """The final receipt of a send of this instance, or None while there is none."""
        day = self._sent_on.get(uid, (send_date(datetime.now(UTC)), 0.0))[0]
        receipt = await self.query_receipt(uid, day)
        if receipt is not None:
            self._sent_on.pop(uid, None)
        return receipt

    async def query_receipt(self, uid: str, day: str) -> Receipt | None:
        """Ask QuerySendDetails about one upstream id sent on ``day`` (yyyyMMdd, Beijing)."""
        biz_id, number = split_upstream_id(uid)
        params = {
            "PhoneNumber": number,
            "SendDate": day,
            "PageSize": "10",
            "CurrentPage": "1",
            "BizId": biz_id,
        }
        answer = await self._call("QuerySendDetails", params)
        # {"Code": "OK", "TotalCount": 1, "RequestId": "...",
        #  "SmsSendDetailDTOs": {"SmsSendDetailDTO": [{"PhoneNum": "13800138000", ...}]}}
        dtos = (answer.get("SmsSendDetailDTOs") or {}).get("SmsSendDetailDTO") or []
        for dto in dtos if isinstance(dtos, list) else []:
            if isinstance(dto, dict) and number_key(str(dto.get("PhoneNum", ""))) == number:
                return detail_receipt(self.id, uid, dto)
        return None

    async def poll(self, waiting: Sequence[tuple[str, datetime]]) -> list[Receipt]:
        """Final receipts of (upstream id, sent_at) pairs; for the worker job.

        Asks max_concurrency at a time for at most POLL_SLICE_SECS, and stops at the first
        failure of the connector itself (the rest are asked about on the job's next turn).
        """
        if self._closed or self._client is None:
            raise RetryableSendError(errors.CONNECTOR_UNAVAILABLE.code, "connector not started")
        found: list[Receipt] = []
        deadline = time.monotonic() + POLL_SLICE_SECS
        step = self.settings.max_concurrency
        for start in range(0, len(waiting), step):
            chunk = waiting[start : start + step]
            answers = await asyncio.gather(
                *(self.query_receipt(uid, send_date(at)) for uid, at in chunk),
                return_exceptions=True,
            )
            found += [a for a in answers if isinstance(a, Receipt)]
            failed = [a for a in answers if isinstance(a, BaseException)]
            if failed:
                log.warning("receipt query failed", connector_id=self.id, error=repr(failed[0]))
            if any(about_connector(request_error(e)) for e in failed if isinstance(e, Exception)):
                break
            if time.monotonic() > deadline:
                break
        return found


def _one_of_them(error: SendError) -> bool:
    """Whether a batch's refusal may concern only some of its messages (not its template)."""
    return not about_connector(error) and error.raw_code != "isv.SMS_TEMPLATE_ILLEGAL"


def _not_mapped(template: str, detail: str | None = None) -> RetryableSendError:
    return RetryableSendError(
        errors.VENDOR_TEMPLATE_NOT_MAPPED.code,
        detail or f"no vendor TemplateCode for {template} on this connector (template_map)",
        retry_in=RETRY_LATER,
    )


def _unsent() -> SendError:
    return SendError(errors.SUBMIT_OUTCOME_UNKNOWN.code, "no outcome recorded for the message")


def _params_json(params: Mapping[str, str]) -> str:
    return json.dumps(dict(params), ensure_ascii=False, separators=(",", ":"))


def _sms_query(plan: _Plan) -> dict[str, str]:
    """SendSms parameters of one message."""
    query = {
        "PhoneNumbers": plan.number,
        "SignName": plan.sign,
        "TemplateCode": plan.template,
        "OutId": plan.out_id,
    }
    if plan.params:
        query["TemplateParam"] = _params_json(plan.params)
    if plan.extend_code:
        query["SmsUpExtendCode"] = plan.extend_code
    return query


def _batch_fields(group: Sequence[_Plan]) -> tuple[dict[str, str], dict[str, str]]:
    """SendBatchSms (query, form body): JSON arrays matched by index, one template."""
    dumps = _params_json
    form = {
        "PhoneNumberJson": json.dumps([p.number for p in group]),
        "SignNameJson": json.dumps([p.sign for p in group], ensure_ascii=False),
    }
    if any(p.params for p in group):
        form["TemplateParamJson"] = "[" + ",".join(dumps(p.params) for p in group) + "]"
    if any(p.extend_code for p in group):
        form["SmsUpExtendCodeJson"] = json.dumps([p.extend_code or "" for p in group])
    return {"TemplateCode": group[0].template}, form


def _accepted(answer: dict[str, Any], group: Sequence[_Plan]) -> list[SendResult | SendError]:
    """One result per message of an accepted request: its BizId with its number."""
    # {"Code": "OK", "Message": "OK", "BizId": "900619746936498440^0", "RequestId": "F655..."}
    biz_id = answer.get("BizId")
    if not isinstance(biz_id, str) or not biz_id:  # accepted, but nothing to match receipts by
        return [SendError(errors.SUBMIT_OUTCOME_UNKNOWN.code, "OK without a BizId")] * len(group)
    return [SendResult(upstream_ids=(upstream_id(biz_id, p.number),), raw_code="OK") for p in group]
