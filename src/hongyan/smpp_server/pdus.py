"""The deliver_sm Hongyan sends to tenants: receipts of SMPP messages, and inbound messages.

Receipt (SMPP 3.4 appendix B and section 5.2.12): esm_class 0x04; source_addr is the handset
(the submit's destination) and destination_addr the tenant's source_addr, each with the TON
and NPI the tenant used; the text is the conventional ``id:... sub:001 dlvrd:001 submit
date:YYMMDDhhmm done date:YYMMDDhhmm stat:DELIVRD err:000 text:...`` in UTC, coded IA5
(data_coding 1: message ids hold ``_``, which GSM-7 would read as ``§``); the TLVs
receipted_message_id (Hongyan's message id) and message_state say the same for clients that
prefer them. ``err`` is the carrier's numeric code when it has at most three digits, else 000
for a delivered message and 999 for the others.

Inbound message: esm_class 0; source_addr the sender (international TON, E.164 digits),
destination_addr the number or extension code it was sent to; GSM-7 (data_coding 0) when the
text fits that alphabet, else UCS-2 (8); over 254 octets the text goes in message_payload.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from hongyan.kit.segments import Encoding, encode_part
from hongyan.models import Message, SmppSubmit
from hongyan.smpp.codec import encode
from hongyan.smpp.constants import (
    ESM_TYPE_DELIVERY_RECEIPT,
    MAX_SHORT_MESSAGE,
    DataCoding,
    MessageState,
    Npi,
    Ton,
)
from hongyan.smpp.pdu import DeliverSm
from hongyan.smpp.receipts import DeliveryReceipt, format_receipt
from hongyan.smpp.tlv import Tlvs

__all__ = ["FINAL_STATES", "inbound_pdu", "receipt_pdu"]

# Hongyan's final statuses and the message_state a receipt reports for each.
FINAL_STATES: Final[dict[str, MessageState]] = {
    "delivered": MessageState.DELIVERED,
    "undelivered": MessageState.UNDELIVERABLE,
    "expired": MessageState.EXPIRED,
    "failed": MessageState.REJECTED,  # never handed to a carrier
    "canceled": MessageState.DELETED,  # a scheduled message canceled before it was sent
}
_STAT: Final = {
    MessageState.DELIVERED: "DELIVRD",
    MessageState.UNDELIVERABLE: "UNDELIV",
    MessageState.EXPIRED: "EXPIRED",
    MessageState.REJECTED: "REJECTD",
    MessageState.DELETED: "DELETED",
}


def _err(message: Message, state: MessageState) -> str:
    raw = message.raw_code or ""
    if raw.isdigit() and len(raw) <= 3:
        return raw.zfill(3)
    return "000" if state is MessageState.DELIVERED else "999"


def _ascii_head(text: str) -> str:
    head = text[:20]
    return head if head.isascii() else ""


def receipt_pdu(message: Message, submit: SmppSubmit, *, status: str, done_at: datetime) -> bytes:
    """The encoded receipt deliver_sm (sequence number 0, set when sent)."""
    state = FINAL_STATES[status]
    text = format_receipt(
        DeliveryReceipt(
            message_id=message.id,
            sub=1,
            dlvrd=1 if state is MessageState.DELIVERED else 0,
            submit_date=message.created_at,
            done_date=done_at,
            stat=_STAT[state],
            err=_err(message, state),
            text=_ascii_head(message.text),
        )
    )
    pdu = DeliverSm(
        source_addr_ton=submit.dest_addr_ton,
        source_addr_npi=submit.dest_addr_npi,
        source_addr=submit.destination_addr,
        dest_addr_ton=submit.source_addr_ton,
        dest_addr_npi=submit.source_addr_npi,
        destination_addr=submit.source_addr,
        esm_class=ESM_TYPE_DELIVERY_RECEIPT,
        data_coding=DataCoding.IA5,
        short_message=text.encode("ascii", "replace"),
        tlvs=Tlvs(receipted_message_id=message.id, message_state=int(state)),
    )
    return encode(pdu)


def _coded(text: str) -> tuple[int, bytes]:
    try:
        return DataCoding.SMSC_DEFAULT, encode_part(text, Encoding.GSM7)
    except ValueError:
        return DataCoding.UCS2, encode_part(text, Encoding.UCS2)


def inbound_pdu(row: dict[str, Any]) -> bytes:
    """The encoded deliver_sm of an inbound message row (sequence number 0)."""
    sender = str(row["msisdn"])
    international = sender.startswith("+")
    coding, body = _coded(str(row["text"]))
    short, payload = (body, None) if len(body) <= MAX_SHORT_MESSAGE else (b"", body)
    pdu = DeliverSm(
        source_addr_ton=Ton.INTERNATIONAL if international else Ton.UNKNOWN,
        source_addr_npi=Npi.ISDN if international else Npi.UNKNOWN,
        source_addr=sender.lstrip("+")[:20],
        destination_addr=str(row["to"])[:20],
        data_coding=coding,
        short_message=short,
        tlvs=Tlvs(message_payload=payload) if payload is not None else Tlvs(),
    )
    return encode(pdu)
