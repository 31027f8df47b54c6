"""The Aliyun SMS wire (Dysmsapi 2017-05-25): signing, numbers, and what the vendor's codes mean.

As the vendor documents it and its official SDK (``alibabacloud_dysmsapi20170525`` over
``alibabacloud_tea_openapi``) sends it:

- RPC style: ``POST /`` to ``dysmsapi.aliyuncs.com`` with the action's parameters in the query
  string (SendBatchSms puts its JSON arrays in a form body); answers are JSON.
- Signed **ACS3-HMAC-SHA256** (``signature_version: v3``, the SDK's default): the headers
  ``host``, ``x-acs-action``, ``x-acs-version``, ``x-acs-date``, ``x-acs-signature-nonce`` and
  ``x-acs-content-sha256`` (and ``content-type`` with a body) are signed over a canonical request
  (``acs3_authorization``); or with the legacy RPC **HMAC-SHA1** signature (``v2``): the common
  parameters join the query and ``Signature`` signs them all (``rpc_signature``).
- Business refusals come back as HTTP 200 with ``Code != "OK"``; gateway refusals (signature,
  time stamp, nonce, throttling) as 4xx/5xx with ``{RequestId, Code, Message}``.

A SendSms answer has one ``BizId`` for all its numbers (SendBatchSms too), and receipts name it
together with the number, so the upstream id of one message is ``<BizId>:<number>``
(``upstream_id``).

Vendor code -> what Hongyan does (the vendor code is kept as the raw code):

===================================================  =========  ==========================
vendor Code                                          retry      Hongyan code
===================================================  =========  ==========================
isv.MOBILE_NUMBER_ILLEGAL                            no         NUMBER_INVALID
isv.BUSINESS_LIMIT_CONTROL                           no         FREQUENCY_LIMITED
isv.CUSTOMER_REFUSED                                 no         RECIPIENT_OPTED_OUT
isv.DOMESTIC_NUMBER_NOT_SUPPORTED                    no         DESTINATION_NOT_PERMITTED
isv.SMS_CONTENT_ILLEGAL, isv.BLACK_KEY_CONTROL_LIMIT no         CONTENT_BLOCKED
isv.PARAM_NOT_SUPPORT_URL                            no         PARAM_CONTAINS_URL
isv.TEMPLATE_MISSING_PARAMETERS                      no         PARAM_MISSING
isv.INVALID_JSON_PARAM, isv.PARAM_LENGTH_LIMIT       no         PARAM_INVALID
other isv.* (INVALID_PARAMETERS, ...)                no         REJECTED_BY_CARRIER
isv.SMS_SIGNATURE_ILLEGAL, isv.SMS_TEMPLATE_ILLEGAL, failover   VENDOR_TEMPLATE_REJECTED
isv.SMS_SIGNATURE_SCENE_ILLEGAL
isv.AMOUNT_NOT_ENOUGH, isv.OUT_OF_SERVICE,           failover   VENDOR_ACCOUNT_UNAVAILABLE
isv.DAY_LIMIT_CONTROL, isv.MONTH_LIMIT_CONTROL,
isv.ACCOUNT_NOT_EXISTS, isv.ACCOUNT_ABNORMAL, ...
SignatureDoesNotMatch, InvalidAccessKeyId.*,         failover   VENDOR_AUTH_FAILED
InvalidTimeStamp.Expired, isp.RAM_PERMISSION_DENY
isp.SYSTEM_ERROR, Throttling.*, HTTP 5xx, no answer  failover   CONNECTOR_UNAVAILABLE
time-out                                             failover   SUBMIT_TIMEOUT
template not in template_map, free text without     failover   VENDOR_TEMPLATE_NOT_MAPPED
free_text_template, no sign and no default_sign
===================================================  =========  ==========================
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Literal
from urllib.parse import quote

import httpx
import structlog

from hongyan import errors
from hongyan.connectors.base import (
    PermanentSendError,
    Receipt,
    ReceiptStatus,
    RetryableSendError,
    SendError,
)

log = structlog.get_logger("hongyan.connectors.aliyun")

API_VERSION = "2017-05-25"
ACS3 = "ACS3-HMAC-SHA256"
BEIJING = timezone(timedelta(hours=8))  # the vendor's dates and times are Beijing local time


# --- numbers and upstream ids -------------------------------------------------------------------


def vendor_number(msisdn: str) -> str:
    """The number as the vendor takes it: 11 digits in mainland China, else country code first."""
    digits = "".join(ch for ch in msisdn if ch.isdigit())
    if msisdn.startswith("+86") and len(digits) == 13:
        return digits[2:]
    return digits


def number_key(raw: str) -> str:
    """A number from a receipt in ``vendor_number`` form (it may come with 86, 0086 or +86)."""
    digits = "".join(ch for ch in raw if ch.isdigit())
    if digits.startswith("00"):
        digits = digits[2:]
    if len(digits) == 13 and digits.startswith("861"):
        digits = digits[2:]
    return digits


def upstream_id(biz_id: str, number: str) -> str:
    """The upstream id of one message: a BizId is shared by every number of a request."""
    return f"{biz_id}:{number_key(number)}"


def split_upstream_id(value: str) -> tuple[str, str]:
    """(BizId, number) of an upstream id."""
    biz_id, _, number = value.rpartition(":")
    return biz_id, number


def beijing_time(text: object) -> datetime | None:
    """A vendor time ('2017-01-01 00:00:00', Beijing) in UTC; None when it is not one."""
    if not isinstance(text, str):
        return None
    try:
        local = datetime.strptime(text.strip(), "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None
    return local.replace(tzinfo=BEIJING).astimezone(UTC)


def send_date(at: datetime) -> str:
    """QuerySendDetails' SendDate (yyyyMMdd, Beijing) of a send at ``at``."""
    return at.astimezone(BEIJING).strftime("%Y%m%d")


# --- signing ------------------------------------------------------------------------------------


def percent_encode(value: str) -> str:
    """RFC 3986 percent-encoding as the vendor signs it: A-Z a-z 0-9 - _ . ~ kept."""
    return quote(value, safe="~")


def canonical_query(params: Mapping[str, str]) -> str:
    """Parameters sorted by name, names and values percent-encoded, joined with '&'."""
    return "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in sorted(params.items()))


def rpc_signature(params: Mapping[str, str], secret: str, method: str = "POST") -> str:
    """V2: Base64(HMAC-SHA1(secret + '&', METHOD&%2F&encode(canonical query)))."""
    to_sign = f"{method}&{percent_encode('/')}&{percent_encode(canonical_query(params))}"
    digest = hmac.new(f"{secret}&".encode(), to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def acs3_authorization(
    *,
    method: str,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    payload_hash: str,
    key_id: str,
    secret: str,
) -> str:
    """V3: the Authorization header signing every header given (names lower-case)."""
    names = sorted(headers)
    canonical = "\n".join(
        [
            method,
            "/",
            canonical_query(query),
            "".join(f"{name}:{headers[name].strip()}\n" for name in names),
            ";".join(names),
            payload_hash,
        ]
    )
    to_sign = f"{ACS3}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    signature = hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
    return f"{ACS3} Credential={key_id},SignedHeaders={';'.join(names)},Signature={signature}"


def utc_stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- errors -------------------------------------------------------------------------------------

Kind = Literal["permanent", "retryable"]
_Entry = tuple[Kind, str, timedelta | None]
_RETRY_SOON = timedelta(seconds=5)
RETRY_LATER = timedelta(minutes=5)  # the operator has to act at the vendor first
_ACCOUNT: _Entry = ("retryable", "VENDOR_ACCOUNT_UNAVAILABLE", RETRY_LATER)
_AUTH: _Entry = ("retryable", "VENDOR_AUTH_FAILED", RETRY_LATER)
_TEMPLATE: _Entry = ("retryable", "VENDOR_TEMPLATE_REJECTED", RETRY_LATER)
_BUSY: _Entry = ("retryable", "CONNECTOR_UNAVAILABLE", _RETRY_SOON)

# Vendor code -> (permanent or retryable, Hongyan code, retry hint); codes not listed fall to
# SEND_ERROR_PREFIXES. Permanent: about this message; retryable: about the connector or
# transient, so routing tries the next connector.
SEND_ERRORS: dict[str, _Entry] = {
    # the number
    "isv.MOBILE_NUMBER_ILLEGAL": ("permanent", "NUMBER_INVALID", None),
    "isv.MOBILE_COUNT_OVER_LIMIT": ("permanent", "REJECTED_BY_CARRIER", None),
    "isv.BUSINESS_LIMIT_CONTROL": ("permanent", "FREQUENCY_LIMITED", None),
    "isv.CUSTOMER_REFUSED": ("permanent", "RECIPIENT_OPTED_OUT", None),
    "isv.DOMESTIC_NUMBER_NOT_SUPPORTED": ("permanent", "DESTINATION_NOT_PERMITTED", None),
    # the content
    "isv.SMS_CONTENT_ILLEGAL": ("permanent", "CONTENT_BLOCKED", None),
    "isv.BLACK_KEY_CONTROL_LIMIT": ("permanent", "CONTENT_BLOCKED", None),
    "isv.PARAM_NOT_SUPPORT_URL": ("permanent", "PARAM_CONTAINS_URL", None),
    "isv.TEMPLATE_MISSING_PARAMETERS": ("permanent", "PARAM_MISSING", None),
    "isv.INVALID_JSON_PARAM": ("permanent", "PARAM_INVALID", None),
    "isv.PARAM_LENGTH_LIMIT": ("permanent", "PARAM_INVALID", None),
    "isv.INVALID_PARAMETERS": ("permanent", "REJECTED_BY_CARRIER", None),
    # the connector's sign and templates at the vendor
    "isv.SMS_SIGNATURE_ILLEGAL": _TEMPLATE,
    "isv.SMS_TEMPLATE_ILLEGAL": _TEMPLATE,
    "isv.SMS_SIGNATURE_SCENE_ILLEGAL": _TEMPLATE,
    # the connector's account
    "isv.AMOUNT_NOT_ENOUGH": _ACCOUNT,
    "isv.OUT_OF_SERVICE": _ACCOUNT,
    "isv.PRODUCT_UNSUBSCRIBE": _ACCOUNT,
    "isv.PRODUCT_UN_SUBSCRIPT": _ACCOUNT,
    "isv.ACCOUNT_NOT_EXISTS": _ACCOUNT,
    "isv.ACCOUNT_ABNORMAL": _ACCOUNT,
    "isv.DAY_LIMIT_CONTROL": _ACCOUNT,
    "isv.MONTH_LIMIT_CONTROL": _ACCOUNT,
    # the connector's credentials (gateway refusals, HTTP 4xx)
    "SignatureDoesNotMatch": _AUTH,
    "IncompleteSignature": _AUTH,
    "InvalidAccessKeyId.NotFound": _AUTH,
    "InvalidAccessKeyId.Inactive": _AUTH,
    "isp.RAM_PERMISSION_DENY": _AUTH,
    "InvalidTimeStamp.Expired": ("retryable", "VENDOR_AUTH_FAILED", _RETRY_SOON),
    # transient
    "SignatureNonceUsed": _BUSY,
    "isp.SYSTEM_ERROR": _BUSY,
    "Throttling.User": _BUSY,
    "ServiceUnavailable": _BUSY,
}
# The first prefix a code starts with decides, for codes SEND_ERRORS does not list.
SEND_ERROR_PREFIXES: list[tuple[str, Kind, str, timedelta | None]] = [
    ("isv.", "permanent", "REJECTED_BY_CARRIER", None),
    ("InvalidAccessKey", *_AUTH),
    ("Forbidden", *_AUTH),
    ("", *_BUSY),  # isp.*, Throttling*, InternalError, and gateway codes we do not know
]
# Retryable codes about the whole connector: the rest of a batch fails over without trying.
CONNECTOR_WIDE = frozenset(
    {"VENDOR_AUTH_FAILED", "VENDOR_ACCOUNT_UNAVAILABLE", "CONNECTOR_UNAVAILABLE", "SUBMIT_TIMEOUT"}
)


def send_error(code: str, message: str = "") -> SendError:
    """The SendError for a vendor error code (kept as raw_code)."""
    found = SEND_ERRORS.get(code)
    if found is None:
        found = next((k, c, r) for p, k, c, r in SEND_ERROR_PREFIXES if code.startswith(p))
    kind, ours, retry_in = found
    detail = f"Aliyun {code}: {message}" if message else f"Aliyun {code}"
    if kind == "retryable":
        return RetryableSendError(ours, detail, raw_code=code[:64], retry_in=retry_in)
    return PermanentSendError(ours, detail, raw_code=code[:64])


def about_connector(error: SendError) -> bool:
    """Whether an error says the connector cannot send now (not this message)."""
    return isinstance(error, RetryableSendError) and error.code in CONNECTOR_WIDE


class AliyunError(Exception):
    """A refused request: a business ``Code`` at HTTP 200, or a gateway error body."""

    def __init__(self, code: str, message: str = "", status: int = 200) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


def request_error(exc: Exception) -> SendError:
    """What a failed request means for each of its messages."""
    if isinstance(exc, AliyunError):
        return send_error(exc.code, exc.message)
    if isinstance(exc, RetryableSendError):
        return exc
    if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):  # never left this process
        return RetryableSendError(errors.CONNECTOR_UNAVAILABLE.code, f"Aliyun: {exc!r}")
    if isinstance(exc, httpx.TimeoutException):
        return RetryableSendError(errors.SUBMIT_TIMEOUT.code, f"Aliyun: {type(exc).__name__}")
    if isinstance(exc, httpx.HTTPError | ValueError):
        return RetryableSendError(errors.CONNECTOR_UNAVAILABLE.code, f"Aliyun: {exc!r}")
    log.exception("unexpected error sending to Aliyun", exc_info=exc)
    return SendError(errors.SUBMIT_OUTCOME_UNKNOWN.code, f"Aliyun: {exc!r}")


# --- receipts -----------------------------------------------------------------------------------

# Receipt code (push ``err_code``, QuerySendDetails ``ErrCode``) -> (status, Hongyan code).
RECEIPT_CODES: dict[str, tuple[ReceiptStatus, str | None]] = {
    "DELIVERED": ("delivered", None),
    "MOBILE_NOT_ON_SERVICE": ("undelivered", "UNDELIVERABLE"),  # out of service or no such
    "MOBLLE_TERMINAL_ERROR": ("undelivered", "UNDELIVERABLE"),  # (sic) the handset failed
    "MOBILE_TERMINAL_ERROR": ("undelivered", "UNDELIVERABLE"),
    "MOBILE_SEND_LIMIT": ("rejected", "FREQUENCY_LIMITED"),  # the carrier's per-number limit
    "MOBILE_IN_BLACK": ("rejected", "RECIPIENT_OPTED_OUT"),  # on the carrier's blacklist
    "USER_REJECT": ("rejected", "RECIPIENT_OPTED_OUT"),
    "CONTENT_KEYWORD": ("rejected", "CONTENT_BLOCKED"),
    "CONTENT_ERROR": ("rejected", "CONTENT_BLOCKED"),
    "INVALID_NUMBER": ("rejected", "NUMBER_INVALID"),
    "NO_ROUTE": ("rejected", "REJECTED_BY_CARRIER"),
    "SP_UNKNOWN_ERROR": ("unknown", "DELIVERY_UNKNOWN"),
    "EXPIRED": ("expired", "DELIVERY_EXPIRED"),
}


def make_receipt(
    connector_id: str, uid: str, *, success: bool, code: str | None, done_at: datetime | None
) -> Receipt:
    """A final Receipt from what every Aliyun status report says."""
    code = (code or "").strip()[:64]
    outcome: tuple[ReceiptStatus, str | None] = ("delivered", None)
    if not success:  # carrier codes such as MK:0001, DB:0141, IC:0055 are plain undelivered
        found = RECEIPT_CODES.get(code.upper())
        outcome = found if found and found[0] != "delivered" else ("undelivered", "UNDELIVERABLE")
    return Receipt(
        connector_id=connector_id,
        upstream_id=uid,
        status=outcome[0],
        error_code=outcome[1],
        raw_code=code or ("DELIVERED" if success else "FAILED"),
        done_at=done_at,
    )


def detail_receipt(connector_id: str, uid: str, dto: Mapping[str, Any]) -> Receipt | None:
    """A final Receipt from a QuerySendDetails entry; None while it waits for one."""
    # {"PhoneNum": "13800138000", "SendStatus": 3, "ErrCode": "DELIVERED",
    #  "TemplateCode": "SMS_123456", "Content": "【鸿雁】您的验证码是123456", "OutId": "msg_...",
    #  "SendDate": "2024-01-08 16:44:10", "ReceiveDate": "2024-01-08 16:44:13"}
    status = str(dto.get("SendStatus", ""))
    if status not in ("2", "3"):  # 1: waiting for the receipt
        return None
    code = dto.get("ErrCode")
    return make_receipt(
        connector_id,
        uid,
        success=status == "3",
        code=code if isinstance(code, str) else None,
        done_at=beijing_time(dto.get("ReceiveDate")),
    )


def answer_of(answer: httpx.Response) -> dict[str, Any]:
    """The JSON of an answer whose Code is OK; AliyunError for a refusal."""
    try:
        body = answer.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        if answer.status_code >= 400:
            raise AliyunError(f"HTTP_{answer.status_code}", "no error body", answer.status_code)
        raise ValueError(f"not a JSON object (HTTP {answer.status_code})")
    code = str(body.get("Code") or "")
    if answer.status_code >= 400 or code != "OK":
        code = code or f"HTTP_{answer.status_code}"
        raise AliyunError(code, str(body.get("Message") or ""), answer.status_code)
    return body
