"""Tencent Cloud SMS (API 2021-01-11) wire facts: the TC3 signature and the code tables.

The connector (``tencent``), its callbacks and the tests share these. Codes are the vendor's
(``tencentcloud-sdk-python-sms``'s ``errorcodes.py``, the receipt status code list).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hongyan.connectors.base import (
    PermanentSendError,
    Receipt,
    ReceiptStatus,
    RetryableSendError,
    SendError,
)

API_VERSION = "2021-01-11"
SERVICE = "sms"
ALGORITHM = "TC3-HMAC-SHA256"
CONTENT_TYPE = "application/json"  # signed as is: the vendor compares it byte for byte
SIGNED_HEADERS = "content-type;host"
BEIJING = timezone(timedelta(hours=8))  # the vendor's callback times are Beijing local time


# --- signing ------------------------------------------------------------------------------------


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def tc3_headers(
    *,
    secret_id: str,
    secret_key: str,
    host: str,
    action: str,
    region: str,
    body: bytes,
    timestamp: int,
) -> dict[str, str]:
    """The headers of a signed request: TC3-HMAC-SHA256 over content-type, host and the body."""
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    canonical = "\n".join(
        [
            "POST",
            "/",
            "",  # no query string
            f"content-type:{CONTENT_TYPE}\nhost:{host}\n",
            SIGNED_HEADERS,
            hashlib.sha256(body).hexdigest(),
        ]
    )
    scope = f"{date}/{SERVICE}/tc3_request"
    to_sign = "\n".join(
        [ALGORITHM, str(timestamp), scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = _hmac(_hmac(_hmac(f"TC3{secret_key}".encode(), date), SERVICE), "tc3_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return {
        "Authorization": f"{ALGORITHM} Credential={secret_id}/{scope}, "
        f"SignedHeaders={SIGNED_HEADERS}, Signature={signature}",
        "Content-Type": CONTENT_TYPE,
        "Host": host,
        "X-TC-Action": action,
        "X-TC-Version": API_VERSION,
        "X-TC-Timestamp": str(timestamp),
        "X-TC-Region": region,
    }


# --- errors -------------------------------------------------------------------------------------

RETRY_SOON = timedelta(seconds=5)
RETRY_LATER = timedelta(minutes=5)  # the operator has to act at the vendor first

# Vendor code -> Hongyan code, by what the vendor's refusal is about; the vendor code is kept as
# raw_code. Codes not listed here go by SEND_ERROR_PREFIXES.
#
# About the message (permanent: no other connector would take it either).
ABOUT_THE_MESSAGE: dict[str, str] = {
    "InvalidParameterValue.IncorrectPhoneNumber": "NUMBER_INVALID",
    "FailedOperation.PhoneNumberParseFail": "NUMBER_INVALID",
    "FailedOperation.PhoneNumberInBlacklist": "NUMBER_SUPPRESSED",  # opted out / carrier DND
    "LimitExceeded.PhoneNumberThirtySecondLimit": "FREQUENCY_LIMITED",
    "LimitExceeded.PhoneNumberOneHourLimit": "FREQUENCY_LIMITED",
    "LimitExceeded.PhoneNumberDailyLimit": "FREQUENCY_LIMITED",
    "LimitExceeded.PhoneNumberSameContentDailyLimit": "FREQUENCY_LIMITED",
    "LimitExceeded.DeliveryFrequencyLimit": "FREQUENCY_LIMITED",
    "FailedOperation.ContainSensitiveWord": "CONTENT_BLOCKED",
    "InvalidParameter.DirtyWordFound": "CONTENT_BLOCKED",
    "InvalidParameterValue.ProhibitedUseUrlInTemplateParameter": "PARAM_CONTAINS_URL",
    "InvalidParameterValue.TemplateParameterFormatError": "PARAM_INVALID",
    "InvalidParameterValue.TemplateParameterLengthLimit": "PARAM_INVALID",
    "InvalidParameterValue.ContentLengthLimit": "TOO_MANY_SEGMENTS",
}
# About the connector (retryable, after RETRY_LATER): its credentials, account, signs and
# templates at the vendor. Routing fails over; the operator fixes the connector.
ABOUT_THE_CONNECTOR: dict[str, str] = {
    "AuthFailure.SignatureFailure": "VENDOR_AUTH_FAILED",
    "AuthFailure.SecretIdNotFound": "VENDOR_AUTH_FAILED",
    "UnauthorizedOperation.SmsSdkAppIdVerifyFail": "VENDOR_AUTH_FAILED",
    "InvalidParameterValue.SdkAppIdNotExist": "VENDOR_AUTH_FAILED",
    "FailedOperation.InsufficientBalanceInSmsPackage": "VENDOR_ACCOUNT_UNAVAILABLE",
    "LimitExceeded.AppDailyLimit": "VENDOR_ACCOUNT_UNAVAILABLE",
    "LimitExceeded.DailyLimit": "VENDOR_ACCOUNT_UNAVAILABLE",
    "FailedOperation.MarketingSendTimeConstraint": "VENDOR_ACCOUNT_UNAVAILABLE",  # 08-22 only
    "FailedOperation.SignatureIncorrectOrUnapproved": "VENDOR_TEMPLATE_REJECTED",
    "FailedOperation.TemplateIncorrectOrUnapproved": "VENDOR_TEMPLATE_REJECTED",
    "FailedOperation.TemplateParamSetNotMatchApprovedTemplate": "VENDOR_TEMPLATE_REJECTED",
    "FailedOperation.TemplateUnapprovedOrNotExist": "VENDOR_TEMPLATE_REJECTED",
    "FailedOperation.MissingSignatureList": "VENDOR_TEMPLATE_REJECTED",
    "FailedOperation.MissingTemplateList": "VENDOR_TEMPLATE_REJECTED",
}
# Transient (retryable, after RETRY_SOON).
TRANSIENT: dict[str, str] = {
    "AuthFailure.SignatureExpire": "VENDOR_AUTH_FAILED",  # our clock, or a slow request
    "RequestLimitExceeded": "CONNECTOR_UNAVAILABLE",
    "LimitExceeded.GlobalSmsSendingRateLimit": "CONNECTOR_UNAVAILABLE",
    "InternalError.Timeout": "SUBMIT_TIMEOUT",
    "InternalError.SendAndRecvFail": "SUBMIT_TIMEOUT",
}
# For codes listed nowhere above, the first prefix the code starts with decides.
SEND_ERROR_PREFIXES: list[tuple[str, str, timedelta | None]] = [  # (prefix, code, retry in)
    ("AuthFailure.", "VENDOR_AUTH_FAILED", RETRY_LATER),
    ("UnauthorizedOperation.", "VENDOR_ACCOUNT_UNAVAILABLE", RETRY_LATER),
    ("LimitExceeded.App", "VENDOR_ACCOUNT_UNAVAILABLE", RETRY_LATER),
    ("InternalError", "CONNECTOR_UNAVAILABLE", RETRY_SOON),
    ("RequestLimitExceeded", "CONNECTOR_UNAVAILABLE", RETRY_SOON),
    ("ResourceUnavailable", "CONNECTOR_UNAVAILABLE", RETRY_SOON),
    ("ResourceInsufficient", "CONNECTOR_UNAVAILABLE", RETRY_SOON),
    ("", "REJECTED_BY_CARRIER", None),  # FailedOperation.*, InvalidParameter*, ...: permanent
]
# Request failures that say the connector, not the request, is the problem.
CONNECTOR_WIDE = frozenset(
    {"CONNECTOR_UNAVAILABLE", "SUBMIT_TIMEOUT", "VENDOR_AUTH_FAILED", "VENDOR_ACCOUNT_UNAVAILABLE"}
)


def send_error(code: str, message: str = "") -> SendError:
    """The SendError for a vendor error code (kept as raw_code)."""
    detail = f"Tencent {code}: {message}" if message else f"Tencent {code}"
    raw = code[:64]
    if code in ABOUT_THE_MESSAGE:
        return PermanentSendError(ABOUT_THE_MESSAGE[code], detail, raw_code=raw)
    if code in ABOUT_THE_CONNECTOR:
        ours, retry_in = ABOUT_THE_CONNECTOR[code], RETRY_LATER
    elif code in TRANSIENT:
        ours, retry_in = TRANSIENT[code], RETRY_SOON
    else:
        _, ours, hint = next(p for p in SEND_ERROR_PREFIXES if code.startswith(p[0]))
        if hint is None:
            return PermanentSendError(ours, detail, raw_code=raw)
        retry_in = hint
    return RetryableSendError(ours, detail, raw_code=raw, retry_in=retry_in)


# --- receipts -----------------------------------------------------------------------------------

# Receipt status code (callback ``errmsg``, or ``Description`` when it is a code) -> status.
RECEIPT_CODES: dict[str, tuple[ReceiptStatus, str | None]] = {
    "DELIVRD": ("delivered", None),
    "UNDELIV": ("undelivered", "UNDELIVERABLE"),
    "EXPIRED": ("expired", "DELIVERY_EXPIRED"),
    "REJECTD": ("rejected", "REJECTED_BY_CARRIER"),
    "DELETED": ("undelivered", "UNDELIVERABLE"),
    "SUBFAIL": ("rejected", "REJECTED_BY_CARRIER"),
    "UNKNOWN": ("unknown", "DELIVERY_UNKNOWN"),
    "COMFAIL": ("undelivered", "UNDELIVERABLE"),
    "WTNFAIL": ("undelivered", "UNDELIVERABLE"),
}
_CODE_LIKE = re.compile(r"^[A-Za-z0-9:_.\-]{1,64}$")


def receipt_outcome(report_status: str, code: str | None) -> tuple[ReceiptStatus, str | None]:
    """(status, Hongyan code) of a receipt: SUCCESS is delivered; FAIL by its code."""
    if report_status.strip().upper() == "SUCCESS":
        return "delivered", None
    found = RECEIPT_CODES.get((code or "").strip().upper())
    if found is not None and found[0] != "delivered":
        return found
    return "undelivered", "UNDELIVERABLE"  # carrier codes such as MK:0001, MN:0017, ...


def receipt_raw_code(report_status: str, code: str | None) -> str:
    """The code kept on the message: the receipt's own code when it is one, else the status."""
    code = (code or "").strip()
    return code if _CODE_LIKE.match(code) else report_status.strip().upper()[:64]


def make_receipt(
    connector_id: str, *, sid: str, report_status: str, code: str | None, done_at: datetime | None
) -> Receipt:
    """A Receipt from the fields every Tencent status report has."""
    status, ours = receipt_outcome(report_status, code)
    return Receipt(
        connector_id=connector_id,
        upstream_id=sid,
        status=status,
        error_code=ours,
        raw_code=receipt_raw_code(report_status, code),
        done_at=done_at,
    )


def pulled_receipt(connector_id: str, item: dict[str, Any]) -> Receipt | None:
    """A Receipt from one PullSmsSendStatusSet entry; None when it is not one."""
    # {"UserReceiveTime": 1620000123, "CountryCode": "86", "SubscriberNumber": "13800138000",
    #  "PhoneNumber": "+8613800138000", "SerialNo": "2433:1045710669157053657849499619",
    #  "ReportStatus": "SUCCESS", "Description": "用户接收成功", "SessionContext": ""}
    sid, report = item.get("SerialNo"), item.get("ReportStatus")
    if not isinstance(sid, str) or not sid or not isinstance(report, str):
        return None
    when = item.get("UserReceiveTime")
    done_at = datetime.fromtimestamp(when, UTC) if isinstance(when, int) and when > 0 else None
    description = item.get("Description")
    return make_receipt(
        connector_id,
        sid=sid,
        report_status=report,
        code=description if isinstance(description, str) else None,
        done_at=done_at,
    )
