"""MO messages out of deliver_sm / data_sm, with concatenated ones put back together.

A long message from a handset comes as several deliver_sm, tied together by a concatenation
header in the short_message (UDH, esm_class bit 0x40) or by the SAR TLVs:

- UDH, 8-bit reference:  05 00 03 <ref> <total> <seq>
- UDH, 16-bit reference: 06 08 04 <ref hi> <ref lo> <total> <seq>
- SAR: sar_msg_ref_num (16 bits), sar_total_segments, sar_segment_seqnum

Parts are held in memory, keyed by sender, destination, reference and total, for at most
``mo_reassembly_secs`` (one timer per held message, no task). When the last part comes the
bodies are joined in sequence order and decoded once (so a character split between parts,
a UCS-2 surrogate pair or a GSM-7 escape, survives) into ONE ``InboundSms``. When time runs
out first, each part that came is delivered as its own ``InboundSms``: nothing that arrived
is dropped, and nothing is made up for what did not.

None of the parts' deliver_sm is answered before the message (or its parts) is stored: the
answers travel with the delivery. An SMSC that gives up waiting sends a part again; the copy
replaces the first and both are answered.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from hongyan.connectors.base import InboundSms, Receipt
from hongyan.models.base import utcnow
from hongyan.smpp import DataCoding, DataSm, DeliverSm, Pdu, SmppSession
from hongyan.smpp.constants import ESM_UDHI
from hongyan.smpp.udh import Concat, UdhCutShortError, concat_of, elements

Answer = tuple[SmppSession, Pdu]  # a deliver_sm to answer once what it carried is stored
MAX_HELD = 10_000  # messages waiting for parts; past it parts are delivered alone


@dataclass(frozen=True, slots=True)
class MoPart:
    """One deliver_sm from a handset, its concatenation header taken off."""

    sender: str
    to: str
    body: bytes
    data_coding: int
    concat: Concat | None
    received_at: datetime


@dataclass(slots=True)
class Delivery:
    """Items for the sinks, and the deliver_sm to answer once the sinks stored them."""

    answers: list[Answer]
    items: list[Receipt | InboundSms]


def mo_part(pdu: DeliverSm | DataSm) -> MoPart:
    """The message a handset sent, as one part (maybe of several)."""
    body = pdu.tlvs.message_payload
    if body is None:
        body = pdu.short_message if isinstance(pdu, DeliverSm) else b""
    concat: Concat | None = None
    if pdu.esm_class & ESM_UDHI and body:
        concat = _udh_concat(body[1 : 1 + body[0]])
        body = body[1 + body[0] :]
    tlvs = pdu.tlvs
    if concat is None and tlvs.sar_msg_ref_num is not None:
        total, seq = tlvs.sar_total_segments, tlvs.sar_segment_seqnum
        if total is not None and seq is not None:
            concat = Concat(tlvs.sar_msg_ref_num, total, seq)
    if concat is not None and (concat.total < 2 or not 1 <= concat.seq <= concat.total):
        concat = None  # a header that numbers nothing: take the part as a whole message
    sender = pdu.source_addr
    if pdu.source_addr_ton == 1 and sender.isdigit():
        sender = f"+{sender}"
    return MoPart(sender, pdu.destination_addr, body, pdu.data_coding, concat, utcnow())


def _udh_concat(udh: bytes) -> Concat | None:
    """The first concatenation element of a UDH, if it has one; a header cut short is
    ignored from there on (a handset's message is delivered, never refused)."""
    with contextlib.suppress(UdhCutShortError):
        for iei, data in elements(udh):
            if (concat := concat_of(iei, data)) is not None:
                return concat
    return None


def decode_text(body: bytes, data_coding: int) -> str:
    """A short_message's text: UCS-2, GSM-7 (one septet per octet, as SMPP carries it), or
    Latin-1 for anything else."""
    if data_coding == DataCoding.UCS2:
        return body.decode("utf-16-be", "replace")
    if data_coding in (DataCoding.SMSC_DEFAULT, 0x10, 0xF0):
        try:
            return body.decode("gsm03.38")
        except UnicodeDecodeError:
            pass
    return body.decode("latin-1")


@dataclass(slots=True)
class _Held:
    parts: dict[int, MoPart] = field(default_factory=dict)
    answers: list[Answer] = field(default_factory=list)
    timer: asyncio.TimerHandle | None = None


class Reassembler:
    """Concatenated MO parts of one connector, held until complete or out of time."""

    def __init__(
        self, connector_id: str, *, hold_secs: float, expired: Callable[[Delivery], None]
    ) -> None:
        self.connector_id = connector_id
        self.hold_secs = hold_secs
        self._expired = expired
        self._held: dict[tuple[str, str, int, int], _Held] = {}

    def __len__(self) -> int:
        return len(self._held)

    def add(self, part: MoPart, answer: Answer) -> Delivery | None:
        """The delivery this part completes (or is on its own); None while parts are missing."""
        c = part.concat
        if c is None or self.hold_secs <= 0:
            return Delivery([answer], [self._inbound(part)])
        key = (part.sender, part.to, c.ref, c.total)
        held = self._held.get(key)
        if held is None:
            if len(self._held) >= MAX_HELD:
                return Delivery([answer], [self._inbound(part)])
            held = self._held[key] = _Held()
            loop = asyncio.get_running_loop()
            held.timer = loop.call_later(self.hold_secs, self._expire, key)
        held.parts[c.seq] = part
        held.answers.append(answer)
        if len(held.parts) < c.total:
            return None
        del self._held[key]
        if held.timer is not None:
            held.timer.cancel()
        ordered = [held.parts[seq] for seq in sorted(held.parts)]
        return Delivery(held.answers, [self._joined(ordered)])

    def flush(self) -> list[Delivery]:
        """Everything held, each part alone (the connector is closing)."""
        keys = list(self._held)
        return [self._parts_alone(self._held.pop(key)) for key in keys]

    def _expire(self, key: tuple[str, str, int, int]) -> None:
        held = self._held.pop(key, None)
        if held is not None:
            self._expired(self._parts_alone(held))

    def _parts_alone(self, held: _Held) -> Delivery:
        if held.timer is not None:
            held.timer.cancel()
        items: list[Receipt | InboundSms] = [
            self._inbound(held.parts[seq]) for seq in sorted(held.parts)
        ]
        return Delivery(held.answers, items)

    def _joined(self, parts: list[MoPart]) -> InboundSms:
        first = parts[0]
        body = b"".join(p.body for p in parts)
        return InboundSms(
            connector_id=self.connector_id,
            msisdn=first.sender,
            to=first.to,
            text=decode_text(body, first.data_coding),
            received_at=first.received_at,
        )

    def _inbound(self, part: MoPart) -> InboundSms:
        return InboundSms(
            connector_id=self.connector_id,
            msisdn=part.sender,
            to=part.to,
            text=decode_text(part.body, part.data_coding),
            received_at=part.received_at,
        )
