"""Delivery receipts: the text of SMPP 3.4 appendix B, message_state, and Hongyan's statuses.

An SMSC reports the outcome of a message with a deliver_sm (or data_sm) whose esm_class
message type is 0x04 and whose body is, by convention (the format is only suggested by the
spec, so SMSCs vary)::

    id:IIIIIIIIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm
    stat:DDDDDDD err:E text:...

often with the TLVs receipted_message_id (0x001E) and message_state (0x0427) beside it.
Parsing is lenient: keys in any case, ``submit_date`` for ``submit date``, fields missing or
in another order, dates with or without seconds; ``text`` runs to the end of the receipt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Final, Literal

from hongyan.connectors.base import ReceiptStatus
from hongyan.smpp.constants import (
    ESM_TYPE_DELIVERY_RECEIPT,
    ESM_TYPE_INTERMEDIATE,
    ESM_TYPE_MASK,
    DataCoding,
    MessageState,
)
from hongyan.smpp.pdu import DataSm, DeliverSm
from hongyan.smpp.tlv import NetworkErrorCode

__all__ = [
    "DeliveryReceipt",
    "convert_message_id",
    "format_receipt",
    "is_receipt",
    "parse_receipt",
    "receipt_from_pdu",
    "receipt_status",
    "stat_of_state",
    "state_of_stat",
]

# message_state <-> the stat word of receipt texts (SMPP 3.4 appendix B / section 5.2.28).
_STAT_OF_STATE: Final = {
    MessageState.ENROUTE: "ENROUTE",
    MessageState.DELIVERED: "DELIVRD",
    MessageState.EXPIRED: "EXPIRED",
    MessageState.DELETED: "DELETED",
    MessageState.UNDELIVERABLE: "UNDELIV",
    MessageState.ACCEPTED: "ACCEPTD",
    MessageState.UNKNOWN: "UNKNOWN",
    MessageState.REJECTED: "REJECTD",
}
# The spec's words, plus spellings SMSCs are known to use instead.
_STATE_OF_STAT: Final = {stat: state for state, stat in _STAT_OF_STATE.items()} | {
    "DELIVERED": MessageState.DELIVERED,
    "UNDELIVERABLE": MessageState.UNDELIVERABLE,
    "UNDELIVERED": MessageState.UNDELIVERABLE,
    "FAILED": MessageState.UNDELIVERABLE,
    "REJECTED": MessageState.REJECTED,
    "ACCEPTED": MessageState.ACCEPTED,
}
# What each state means to Hongyan's message lifecycle. ENROUTE and ACCEPTED are not a
# delivery; DELETED means the SMSC gave up on the message (an administrator deleted it).
_STATUS_OF_STATE: Final[dict[MessageState, ReceiptStatus]] = {
    MessageState.ENROUTE: "accepted",
    MessageState.DELIVERED: "delivered",
    MessageState.EXPIRED: "expired",
    MessageState.DELETED: "undelivered",
    MessageState.UNDELIVERABLE: "undelivered",
    MessageState.ACCEPTED: "accepted",
    MessageState.UNKNOWN: "unknown",
    MessageState.REJECTED: "rejected",
}

_KEY: Final = re.compile(
    r"(?:^|(?<=\s))(id|sub|dlvrd|submit[ _]?date|done[ _]?date|stat|err|text)\s*:", re.IGNORECASE
)


def stat_of_state(state: int) -> str:
    """The receipt stat word of a message_state (``UNKNOWN`` for values outside the spec)."""
    try:
        return _STAT_OF_STATE[MessageState(state)]
    except ValueError:
        return "UNKNOWN"


def state_of_stat(stat: str) -> MessageState:
    """The message_state of a receipt stat word, in any case; UNKNOWN when unrecognized."""
    return _STATE_OF_STAT.get(stat.strip().upper(), MessageState.UNKNOWN)


def receipt_status(state: int) -> ReceiptStatus:
    """Hongyan's receipt status for a message_state."""
    try:
        return _STATUS_OF_STATE[MessageState(state)]
    except ValueError:
        return "unknown"


@dataclass(frozen=True, slots=True)
class DeliveryReceipt:
    """One receipt; every field may be missing from what an SMSC sends."""

    message_id: str | None = None
    sub: int | None = None  # messages originally submitted (usually 1)
    dlvrd: int | None = None  # messages delivered
    submit_date: datetime | None = None
    done_date: datetime | None = None
    stat: str | None = None  # DELIVRD, UNDELIV, ... upper case
    err: str | None = None  # network/SMSC specific error code, as text ("000")
    text: str = ""  # the first characters of the original message
    network_error: NetworkErrorCode | None = None  # from the network_error_code TLV

    @property
    def state(self) -> MessageState:
        """message_state of the stat word (UNKNOWN when stat is missing or unrecognized)."""
        return state_of_stat(self.stat) if self.stat else MessageState.UNKNOWN

    @property
    def status(self) -> ReceiptStatus:
        """Hongyan's receipt status."""
        return receipt_status(self.state)


def _int(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None


def _date(value: str | None, tz: tzinfo) -> datetime | None:
    if value is None or not value.isdigit() or len(value) not in (10, 12):
        return None
    year, month, day, hour, minute, *second = (
        int(value[i : i + 2]) for i in range(0, len(value), 2)
    )
    try:
        return datetime(
            2000 + year, month, day, hour, minute, second[0] if second else 0, tzinfo=tz
        )
    except ValueError:
        return None


def _fields(text: str) -> dict[str, str]:
    """key -> value of a receipt text; keys lower case with one space (``submit date``)."""
    matches = list(_KEY.finditer(text))
    fields: dict[str, str] = {}
    for i, match in enumerate(matches):
        key = re.sub(r"[ _]?date$", " date", match.group(1).lower())
        if key == "text":
            fields.setdefault(key, text[match.end() :])
            break
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        value = text[match.end() : end].strip()
        fields.setdefault(key, value.split()[0] if value else "")
    return fields


def parse_receipt(text: str, *, tz: tzinfo = UTC) -> DeliveryReceipt | None:
    """Parse a receipt text; None when it has neither an id nor a stat (not a receipt).

    Args:
        text: the short_message (or message_payload) decoded to str.
        tz: the SMSC's time zone; receipt dates carry none.
    """
    fields = _fields(text)
    if not fields.get("id") and not fields.get("stat"):
        return None
    stat = fields.get("stat")
    return DeliveryReceipt(
        message_id=fields.get("id") or None,
        sub=_int(fields.get("sub")),
        dlvrd=_int(fields.get("dlvrd")),
        submit_date=_date(fields.get("submit date"), tz),
        done_date=_date(fields.get("done date"), tz),
        stat=stat.upper() if stat else None,
        err=fields.get("err") or None,
        text=fields.get("text", ""),
    )


def _date_text(value: datetime | None) -> str:
    return value.strftime("%y%m%d%H%M") if value is not None else "0000000000"


def format_receipt(receipt: DeliveryReceipt) -> str:
    """The receipt as the conventional text (text truncated to 20 characters)."""
    return (
        f"id:{receipt.message_id or ''} sub:{receipt.sub or 0:03d} dlvrd:{receipt.dlvrd or 0:03d}"
        f" submit date:{_date_text(receipt.submit_date)}"
        f" done date:{_date_text(receipt.done_date)}"
        f" stat:{receipt.stat or 'UNKNOWN'} err:{receipt.err or '000'} text:{receipt.text[:20]}"
    )


def is_receipt(pdu: DeliverSm | DataSm) -> bool:
    """True when esm_class marks a delivery receipt or an intermediate notification."""
    kind = pdu.esm_class & ESM_TYPE_MASK
    return kind in (ESM_TYPE_DELIVERY_RECEIPT, ESM_TYPE_INTERMEDIATE)


def _body_text(pdu: DeliverSm | DataSm) -> str:
    body = pdu.tlvs.message_payload
    if body is None:
        body = pdu.short_message if isinstance(pdu, DeliverSm) else b""
    if pdu.data_coding == DataCoding.UCS2:
        return body.decode("utf-16-be", "replace")
    return body.decode("latin-1")


def receipt_from_pdu(
    pdu: DeliverSm | DataSm, *, prefer: Literal["tlv", "text"] = "tlv", tz: tzinfo = UTC
) -> DeliveryReceipt | None:
    """The receipt a deliver_sm/data_sm carries, or None when it is not a receipt.

    The receipted_message_id and message_state TLVs and the text may all be there; ``prefer``
    says which wins for the id and the state when both are (carriers differ on which is right).
    """
    if not is_receipt(pdu):
        return None
    parsed = parse_receipt(_body_text(pdu), tz=tz) or DeliveryReceipt()
    tlv_id, tlv_state = pdu.tlvs.receipted_message_id, pdu.tlvs.message_state
    message_id, stat = parsed.message_id, parsed.stat
    if tlv_id and (prefer == "tlv" or not message_id):
        message_id = tlv_id
    if tlv_state is not None and (prefer == "tlv" or not stat):
        stat = stat_of_state(tlv_state)
    if message_id is None and stat is None:
        return None
    return DeliveryReceipt(
        message_id=message_id,
        sub=parsed.sub,
        dlvrd=parsed.dlvrd,
        submit_date=parsed.submit_date,
        done_date=parsed.done_date,
        stat=stat,
        err=parsed.err,
        text=parsed.text,
        network_error=pdu.tlvs.network_error_code,
    )


def convert_message_id(
    value: str, *, source: Literal["hex", "dec"], target: Literal["hex", "dec"]
) -> str:
    """Re-spell a message id between hex and decimal (SMSCs that mix them in resp and receipt).

    Returns the value unchanged when it is not a number in ``source``.
    """
    if source == target:
        return value
    try:
        number = int(value, 16 if source == "hex" else 10)
    except ValueError:
        return value
    return f"{number:x}" if target == "hex" else str(number)
