"""THE table: which command_status answers a bind or submit that Hongyan refuses.

Every refusal of the SMPP server is a catalog error first (``hongyan.errors``); this table
turns its code into the command_status the client sees. Where SMPP 3.4 has a status that says
the same thing (an invalid destination, throttling, a bad message length), it is used, since
clients such as Kannel and Jasmin act on those; refusals SMPP has no word for get a Hongyan
code in the vendor range 0x400-0x4FF (``HyStatus``), so the tenant can still tell the reason
apart. A code missing from the table answers ESME_RSUBMITFAIL. docs/reference/
smpp-status-mapping.md lists the same table for tenants; a test keeps the two in step.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final

from hongyan.errors import HongyanError
from hongyan.smpp.constants import CommandStatus as S

__all__ = ["DEFAULT_STATUS", "STATUS_OF", "HyStatus", "command_status"]


class HyStatus(IntEnum):
    """Hongyan's command_status values in the SMPP vendor range (0x400-0x4FF)."""

    HY_TEMPLATE_NOT_MATCHED = 0x400  # no approved template matches and free text is not allowed
    HY_SIGN_INVALID = 0x401  # the 【sign】 is missing, unknown or not approved
    HY_PARAM_INVALID = 0x402  # a template variable's value breaks its rules
    HY_CONTENT_BLOCKED = 0x403  # a blocked sensitive word
    HY_NUMBER_SUPPRESSED = 0x404  # the recipient opted out (suppression list)
    HY_BALANCE_INSUFFICIENT = 0x405  # the prepaid balance does not cover the message
    HY_PRICE_NOT_SET = 0x406  # no price for the destination: it cannot be sent
    HY_FREQUENCY_LIMITED = 0x407  # per-number frequency limit reached
    HY_CAP_REACHED = 0x408  # the tenant's daily or monthly cap is reached
    HY_PARTS_INCOMPLETE = 0x409  # parts of a concatenated message missing at the timeout
    HY_PARTS_INVALID = 0x40A  # a concatenation header or SAR TLVs that do not add up
    HY_DATA_CODING_UNSUPPORTED = 0x40B  # binary or an alphabet Hongyan does not read
    HY_ACCOUNT_DISABLED = 0x40C  # the tenant was suspended or the credential disabled


_NUMBER = {
    code: int(S.ESME_RINVDSTADR)
    for code in ("NUMBER_INVALID", "NUMBER_UNPARSEABLE", "NUMBER_NOT_MOBILE")
}
_SIGN = {
    code: int(HyStatus.HY_SIGN_INVALID)
    for code in (
        "SIGN_REQUIRED",
        "SIGN_NOT_FOUND",
        "SIGN_NOT_APPROVED",
        "SIGN_UNDER_REVIEW",
        "SIGN_SCENE_MISMATCH",
    )
}
_PARAMS = {
    code: int(HyStatus.HY_PARAM_INVALID)
    for code in (
        "PARAM_MISSING",
        "PARAM_UNKNOWN",
        "PARAM_INVALID",
        "PARAM_CONTAINS_URL",
        "PARAM_VERIFICATION_CODE_INVALID",
    )
}
_TEMPLATE = {
    code: int(HyStatus.HY_TEMPLATE_NOT_MATCHED)
    for code in (
        "SMPP_TEMPLATE_NOT_MATCHED",
        "FREE_TEXT_NOT_ALLOWED",
        "TEMPLATE_NOT_FOUND",
        "TEMPLATE_NOT_APPROVED",
        "TEMPLATE_UNDER_REVIEW",
    )
}

# Hongyan error code -> command_status. Bind refusals first, then submit refusals.
STATUS_OF: Final[dict[str, int]] = {
    # bind
    "SMPP_SYSTEM_ID_UNKNOWN": S.ESME_RINVSYSID,
    "SMPP_PASSWORD_WRONG": S.ESME_RINVPASWD,
    "SMPP_IP_NOT_ALLOWED": S.ESME_RBINDFAIL,
    "SMPP_CREDENTIAL_DISABLED": S.ESME_RBINDFAIL,
    "SMPP_TOO_MANY_BINDS": S.ESME_RBINDFAIL,
    # submit: the PDU itself
    "SMPP_THROTTLED": S.ESME_RTHROTTLED,
    "SMPP_SOURCE_NOT_ALLOWED": S.ESME_RINVSRCADR,
    "SMPP_DATA_CODING_UNSUPPORTED": HyStatus.HY_DATA_CODING_UNSUPPORTED,
    "SMPP_PARTS_INCOMPLETE": HyStatus.HY_PARTS_INCOMPLETE,
    "SMPP_PARTS_INVALID": HyStatus.HY_PARTS_INVALID,
    "SMPP_SERVER_BUSY": S.ESME_RSYSERR,
    "FIELD_REQUIRED": S.ESME_RINVMSGLEN,  # an empty message
    "TOO_MANY_SEGMENTS": S.ESME_RINVMSGLEN,
    "SEND_AT_INVALID": S.ESME_RINVSCHED,
    "SMPP_VALIDITY_INVALID": S.ESME_RINVEXPIRY,
    "FIELD_INVALID": S.ESME_RSUBMITFAIL,
    # submit: the destination
    **_NUMBER,
    "NUMBER_REGION_UNKNOWN": S.ESME_RINVDSTADR,
    "NUMBER_SUPPRESSED": HyStatus.HY_NUMBER_SUPPRESSED,
    "PRICE_NOT_SET": HyStatus.HY_PRICE_NOT_SET,
    # submit: template, sign, content
    **_TEMPLATE,
    **_SIGN,
    **_PARAMS,
    "CONTENT_BLOCKED": HyStatus.HY_CONTENT_BLOCKED,
    # submit: account and limits
    "INSUFFICIENT_BALANCE": HyStatus.HY_BALANCE_INSUFFICIENT,
    "TENANT_RATE_LIMITED": S.ESME_RTHROTTLED,
    "FREQUENCY_LIMITED": HyStatus.HY_FREQUENCY_LIMITED,
    "DAILY_CAP_REACHED": HyStatus.HY_CAP_REACHED,
    "MONTHLY_CAP_REACHED": HyStatus.HY_CAP_REACHED,
    "TENANT_SUSPENDED": HyStatus.HY_ACCOUNT_DISABLED,
    "TENANT_NOT_FOUND": HyStatus.HY_ACCOUNT_DISABLED,
}
DEFAULT_STATUS: Final = int(S.ESME_RSUBMITFAIL)


def command_status(error: HongyanError | str) -> int:
    """The command_status answering a refusal with this catalog code."""
    code = error if isinstance(error, str) else error.code
    return int(STATUS_OF.get(code, DEFAULT_STATUS))
