"""Twilio Programmable Messaging: send through the Messages API, receipts by status callback.

One ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` per message (form-encoded, HTTP
Basic with the account SID and auth token, or an API key SID and secret); the answer's ``sid``
is the upstream id. Twilio reports the outcome by POSTing to the ``StatusCallback`` URL given
with each message (``/callbacks/twilio/{connector_id}/status``, see ``twilio_callbacks``),
signed with the account's auth token in ``X-Twilio-Signature``; handsets' replies come to the
inbound webhook configured on the number or messaging service. Twilio does not resend a status
callback that failed, so the connector can also fetch the status of what it sent
(``poll_receipts``).

Errors when creating a message, Twilio code -> what Hongyan does:

=======================  =========  ===============================
Twilio code / answer     retry      Hongyan code
=======================  =========  ===============================
21211, 21604             no         NUMBER_INVALID
21614                    no         NUMBER_NOT_MOBILE
21610                    no         RECIPIENT_OPTED_OUT
21408, 21612             no         DESTINATION_NOT_PERMITTED
21617                    no         TOO_MANY_SEGMENTS
other 4xx                no         REJECTED_BY_CARRIER
20003, 20404 (401/404)   failover   VENDOR_AUTH_FAILED
21212, 21603, 21606,     failover   VENDOR_SENDER_INVALID
21659, 21701
20429, HTTP 429, 5xx     failover   CONNECTOR_UNAVAILABLE
time-out                 failover   SUBMIT_TIMEOUT
=======================  =========  ===============================

The Twilio code is kept as the raw code. Delivery error codes are mapped in ``receipt_of``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import math
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

import httpx
import structlog
from pydantic import BaseModel, ConfigDict, Field, model_validator

from hongyan import errors
from hongyan.connectors.base import (
    OutboundSms,
    PermanentSendError,
    Receipt,
    ReceiptStatus,
    RetryableSendError,
    SendError,
    SendResult,
    Sinks,
)
from hongyan.connectors.receipt_poller import ReceiptPoller
from hongyan.models.base import utcnow

log = structlog.get_logger("hongyan.connectors.twilio")

API_VERSION = "2010-04-01"
CALLBACK_PREFIX = "/callbacks/twilio"
MAX_VALIDITY_SECS = 36_000  # Twilio's largest ValidityPeriod (and its default)
_URL = r"^https?://[^\s/?#]+(/[^\s?#]*)?$"

# Twilio code -> (retryable: fail over to the next connector, Hongyan code).
SEND_ERRORS: dict[int, tuple[bool, str]] = {
    21211: (False, errors.NUMBER_INVALID.code),  # invalid 'To' phone number
    21604: (False, errors.NUMBER_INVALID.code),  # 'To' phone number is required
    21614: (False, errors.NUMBER_NOT_MOBILE.code),  # 'To' is not a valid mobile number
    21610: (False, errors.RECIPIENT_OPTED_OUT.code),  # recipient replied STOP
    21408: (False, errors.DESTINATION_NOT_PERMITTED.code),  # region not enabled
    21612: (False, errors.DESTINATION_NOT_PERMITTED.code),  # From cannot reach this To
    21617: (False, errors.TOO_MANY_SEGMENTS.code),  # body over 1600 characters
    20003: (True, errors.VENDOR_AUTH_FAILED.code),  # authentication failed
    20404: (True, errors.VENDOR_AUTH_FAILED.code),  # no such account (wrong account SID)
    21212: (True, errors.VENDOR_SENDER_INVALID.code),  # invalid From number
    21603: (True, errors.VENDOR_SENDER_INVALID.code),  # From is required
    21606: (True, errors.VENDOR_SENDER_INVALID.code),  # From is not a sender of this account
    21659: (True, errors.VENDOR_SENDER_INVALID.code),  # From is not a Twilio number
    21701: (True, errors.VENDOR_SENDER_INVALID.code),  # no such messaging service
    20429: (True, errors.CONNECTOR_UNAVAILABLE.code),  # too many requests
}
RETRYABLE_HTTP = frozenset({408, 429, 500, 502, 503, 504})

# Delivery error codes of status callbacks (and fetched messages) -> Hongyan code.
DELIVERY_ERRORS: dict[str, str] = {
    "30003": errors.UNDELIVERABLE.code,  # unreachable destination handset
    "30004": errors.REJECTED_BY_CARRIER.code,  # message blocked
    "30005": errors.UNDELIVERABLE.code,  # unknown destination handset
    "30006": errors.NUMBER_NOT_MOBILE.code,  # landline or unreachable carrier
    "30007": errors.CARRIER_FILTERED.code,  # carrier violation / filtered
    "30008": errors.UNDELIVERABLE.code,  # unknown error
    "30032": errors.CARRIER_FILTERED.code,  # US toll-free sender not verified
    "30034": errors.CARRIER_FILTERED.code,  # US A2P 10DLC: sender not registered
    "21610": errors.RECIPIENT_OPTED_OUT.code,  # unsubscribed recipient (opt-out after queueing)
}
# MessageStatus -> what the receipt says; statuses not listed (accepted, scheduled, queued,
# sending, receiving, received) are progress inside Twilio and are not stored.
STATUS_MAP: dict[str, ReceiptStatus] = {
    "sent": "accepted",  # handed to the carrier: recorded on the part, decides nothing
    "delivered": "delivered",
    "read": "delivered",  # after delivered, on channels with read receipts
    "undelivered": "undelivered",
    "failed": "rejected",  # never left Twilio (queue overflow, account suspended, ...)
    "canceled": "rejected",
}


class TwilioSettings(BaseModel):
    """Settings of a Twilio connector."""

    model_config = ConfigDict(extra="forbid")

    account_sid: str = Field(pattern=r"^AC[0-9a-fA-F]{32}$", description="Account SID (AC...).")
    auth_token: str | None = Field(
        None,
        min_length=1,
        description="Auth token: signs requests unless an API key is given, and always checks "
        "the signature of Twilio's callbacks.",
    )
    api_key_sid: str | None = Field(
        None,
        pattern=r"^SK[0-9a-fA-F]{32}$",
        description="API key SID (SK...), instead of the auth token for requests.",
    )
    api_key_secret: str | None = Field(None, min_length=1, description="The API key's secret.")
    from_number: str | None = Field(
        None, min_length=1, max_length=32, description="Sender: an E.164 number or sender ID."
    )
    messaging_service_sid: str | None = Field(
        None,
        pattern=r"^MG[0-9a-fA-F]{32}$",
        description="Messaging service (MG...), instead of from_number.",
    )
    base_url: str = Field("https://api.twilio.com", pattern=_URL)
    status_callback_base: str | None = Field(
        None,
        pattern=_URL,
        description="Public base URL of this Hongyan (e.g. https://sms.example.com): each "
        "message asks Twilio for status callbacks at <base>/callbacks/twilio/<id>/status.",
    )
    timeout_secs: float = Field(10.0, gt=0, le=120)
    max_concurrency: int = Field(10, ge=1, le=100, description="Creates in flight at once.")
    poll_receipts: bool = Field(False, description="Also fetch the status of sent messages.")
    poll_interval_secs: float = Field(60.0, gt=0, le=86_400)
    poll_max_age_secs: float = Field(86_400.0, gt=0, le=7 * 86_400)

    @model_validator(mode="after")
    def _complete(self) -> TwilioSettings:
        if (self.api_key_sid is None) != (self.api_key_secret is None):
            raise ValueError("api_key_sid and api_key_secret go together")
        if self.auth_token is None and self.api_key_sid is None:
            raise ValueError("give auth_token, or api_key_sid with api_key_secret")
        if self.from_number is None and self.messaging_service_sid is None:
            raise ValueError("give from_number or messaging_service_sid")
        if self.status_callback_base and self.auth_token is None:
            raise ValueError("status callbacks need auth_token to check Twilio's signature")
        return self

    def credentials(self) -> tuple[str, str]:
        """(user, password) of HTTP Basic: the API key if there is one, else the account."""
        if self.api_key_sid and self.api_key_secret:
            return self.api_key_sid, self.api_key_secret
        assert self.auth_token is not None
        return self.account_sid, self.auth_token


# --- X-Twilio-Signature -------------------------------------------------------------------------


def signature(token: str, url: str, params: Mapping[str, Sequence[str]]) -> str:
    """Twilio's signature: Base64(HMAC-SHA1(token, url + each name + value, names sorted)).

    A name given several times contributes each distinct value, sorted (as twilio-python's
    RequestValidator does).
    """
    data = url + "".join(
        name + value for name in sorted(params) for value in sorted(set(params[name]))
    )
    digest = hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def url_variants(url: str) -> list[str]:
    """The URL as given, without and with its scheme's default port (Twilio signs either)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:  # not a port (a Host header can say anything)
        return [url]
    bare = urlunsplit(parts._replace(netloc=host))
    ported = urlunsplit(parts._replace(netloc=f"{host}:{port}"))
    return list(dict.fromkeys([url, bare, ported]))


def signature_valid(
    token: str, urls: Sequence[str], params: Mapping[str, Sequence[str]], given: str
) -> bool:
    """Whether ``given`` signs ``params`` for one of ``urls`` (each with and without its port)."""
    if not given:
        return False
    candidates = dict.fromkeys(v for url in urls for v in url_variants(url))
    return any(hmac.compare_digest(signature(token, url, params), given) for url in candidates)


# --- statuses -----------------------------------------------------------------------------------


def receipt_of(
    connector_id: str, sid: str, status: str, error_code: str | int | None
) -> Receipt | None:
    """The receipt a Twilio message status makes; None for progress inside Twilio."""
    mapped = STATUS_MAP.get(status.lower())
    if mapped is None:
        return None
    code = str(error_code) if error_code not in (None, "", 0, "0") else None
    return Receipt(
        connector_id=connector_id,
        upstream_id=sid,
        status=mapped,
        error_code=DELIVERY_ERRORS.get(code) if code else None,
        raw_code=code or status.lower(),
        done_at=utcnow() if mapped != "accepted" else None,
    )


def send_error(http_status: int, body: Any, retry_after: str | None = None) -> SendError:
    """The SendError of a refused create: Twilio's ``{code, message, more_info, status}``."""
    # {"code": 21211, "message": "The 'To' number +1555 is not a valid phone number.",
    #  "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400}
    code = body.get("code") if isinstance(body, dict) else None
    message = str(body.get("message", "")) if isinstance(body, dict) else ""
    raw = str(code) if isinstance(code, int) else f"HTTP_{http_status}"
    known = SEND_ERRORS.get(code) if isinstance(code, int) else None
    if known is not None:
        retryable, hongyan_code = known
    elif http_status in RETRYABLE_HTTP:
        retryable, hongyan_code = True, errors.CONNECTOR_UNAVAILABLE.code
    else:
        retryable, hongyan_code = False, errors.REJECTED_BY_CARRIER.code
    if not retryable:
        return PermanentSendError(hongyan_code, message, raw_code=raw)
    wait = timedelta(seconds=int(retry_after)) if retry_after and retry_after.isdigit() else None
    return RetryableSendError(hongyan_code, message, raw_code=raw, retry_in=wait)


# --- the connector ------------------------------------------------------------------------------


class TwilioConnector:
    """Sends through Twilio's Messages API; see the module docstring."""

    kind: ClassVar[str] = "twilio"
    max_segments: ClassVar[int] = 10  # Body is at most 1600 characters
    # Twilio queues each sender at its own rate (1/s for a US long code, more for short codes
    # and messaging services); the API itself is limited by concurrency (max_concurrency).
    rate_per_sec: ClassVar[float | None] = None
    settings_model: ClassVar[type[BaseModel]] = TwilioSettings
    secret_settings: ClassVar[frozenset[str]] = frozenset({"auth_token", "api_key_secret"})

    def __init__(self, id: str, settings: dict[str, Any]) -> None:
        self.id = id
        self.settings = TwilioSettings.model_validate(settings)
        self._http: httpx.AsyncClient | None = None
        self._limit = asyncio.Semaphore(self.settings.max_concurrency)
        self._poller: ReceiptPoller | None = None
        account = self.settings.account_sid
        self._messages_path = f"/{API_VERSION}/Accounts/{account}/Messages"

    @property
    def status_callback(self) -> str | None:
        """The StatusCallback URL sent with each message, if the connector has a public base."""
        base = self.settings.status_callback_base
        return f"{base.rstrip('/')}{CALLBACK_PREFIX}/{self.id}/status" if base else None

    async def start(self, sinks: Sinks) -> None:
        """Open the HTTP client; start polling for receipts when asked to."""
        if self._http is None:
            self._http = httpx.AsyncClient(
                base_url=self.settings.base_url,
                auth=httpx.BasicAuth(*self.settings.credentials()),
                timeout=self.settings.timeout_secs,
                headers={"Accept": "application/json"},
            )
        if self.settings.poll_receipts and self._poller is None:
            self._poller = ReceiptPoller(
                self.fetch_receipt,
                connector_id=self.id,
                interval_secs=self.settings.poll_interval_secs,
                max_age_secs=self.settings.poll_max_age_secs,
                concurrency=self.settings.max_concurrency,
            )
            self._poller.start(sinks.receipts)

    async def send(self, batch: Sequence[OutboundSms]) -> list[SendResult | SendError]:
        """Create one Twilio message per SMS, ``max_concurrency`` at a time."""
        if self._http is None:
            raise RetryableSendError(errors.CONNECTOR_UNAVAILABLE.code, "twilio not started")
        if not batch:
            return []
        results = list(await asyncio.gather(*(self._create(msg) for msg in batch)))
        if self._poller is not None:
            self._poller.watch(
                u for r in results if isinstance(r, SendResult) for u in r.upstream_ids
            )
        return results

    def form(self, msg: OutboundSms) -> dict[str, str]:
        """The create request's form fields for one message."""
        form = {"To": msg.msisdn, "Body": msg.text}
        if self.settings.messaging_service_sid:
            form["MessagingServiceSid"] = self.settings.messaging_service_sid
        else:
            assert self.settings.from_number is not None
            form["From"] = self.settings.from_number
        if self.status_callback:
            form["StatusCallback"] = self.status_callback
        if msg.validity_until is not None:
            left = math.ceil((msg.validity_until - utcnow()).total_seconds())
            if left < MAX_VALIDITY_SECS:
                form["ValidityPeriod"] = str(max(left, 1))
        return form

    async def _create(self, msg: OutboundSms) -> SendResult | SendError:
        if msg.validity_until is not None and msg.validity_until <= utcnow():
            return PermanentSendError(errors.EXPIRED.code, "validity ran out before sending")
        assert self._http is not None
        async with self._limit:
            try:
                response = await self._http.post(f"{self._messages_path}.json", data=self.form(msg))
            except httpx.TimeoutException as exc:
                return RetryableSendError(errors.SUBMIT_TIMEOUT.code, str(exc) or "time-out")
            except httpx.HTTPError as exc:
                return RetryableSendError(errors.CONNECTOR_UNAVAILABLE.code, str(exc))
        return self._answer(response)

    def _answer(self, response: httpx.Response) -> SendResult | SendError:
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code in (200, 201):
            # {"sid": "SM1f0e...", "status": "queued", "num_segments": "1", "to": "+1415...",
            #  "from": "+1415...", "error_code": null, "date_created": "Thu, 24 Aug 2023 ...",
            #  "uri": "/2010-04-01/Accounts/AC.../Messages/SM1f0e....json", ...}
            sid = body.get("sid") if isinstance(body, dict) else None
            if not isinstance(sid, str) or not sid:
                return SendError(errors.SUBMIT_OUTCOME_UNKNOWN.code, "201 without a sid")
            return SendResult(upstream_ids=(sid,), raw_code=str(body.get("status") or "queued"))
        error = send_error(response.status_code, body, response.headers.get("Retry-After"))
        if error.code == errors.VENDOR_AUTH_FAILED.code:
            log.error("twilio refused the credentials", connector_id=self.id, raw=error.raw_code)
        return error

    async def fetch_receipt(self, sid: str) -> Receipt | None:
        """The final receipt of a sent message, fetched from Twilio; None while it has none."""
        assert self._http is not None
        response = await self._http.get(f"{self._messages_path}/{sid}.json")
        response.raise_for_status()
        body = response.json()
        return receipt_of(self.id, sid, str(body.get("status", "")), body.get("error_code"))

    async def close(self) -> None:
        """Stop polling and close the HTTP client; later sends are refused (retryable)."""
        if self._poller is not None:
            await self._poller.close()
            self._poller = None
        if self._http is not None:
            http, self._http = self._http, None
            await http.aclose()
