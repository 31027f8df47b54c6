"""The SMPP 3.4 carrier connector: Hongyan as an ESME on one or several binds.

Each bind (``binds`` of them) is one transceiver link, or a transmitter link for submits plus a
receiver link for receipts and MO (``bind_mode``); each link is opened and bound by ``start()``,
kept alive by enquire_link and reopened with backoff after a drop (``smpp_links``). ``send()``
turns each message into one submit_sm per part (or one with message_payload) and spreads them
over the bound binds, each with its own window (a future per PDU, no Task per message), paced
to ``rate_per_sec`` for the whole connector; it returns one upstream id per part: the
submit_sm_resp message_id, normalized to the receipt id format.

With several worker processes (PostgreSQL) each bind is leased by one worker
(``routing.binds``): an instance opens only the binds it is allowed (``allow_binds`` before
``start``, ``set_binds`` after); alone (SQLite, one process) it opens all of them.

Receipts (deliver_sm with esm_class 0x04, text and/or TLVs) and MO messages are handed to the
sinks in batches by one flushing task; each deliver_sm is answered only after its sink call
returned (stored), or with ESME_RX_T_APPN (resend later) when the sink failed. The parts of a
concatenated MO message (UDH 8/16-bit or SAR) are joined into one inbound message
(``smpp_mo``: held up to ``mo_reassembly_secs``, then each part that came goes alone).

Outcomes of a submit, command_status -> what Hongyan does:

========================================  =========================================
answer                                    result
========================================  =========================================
ESME_ROK                                  SendResult (one id per part)
ESME_RTHROTTLED, ESME_RMSGQFUL            slow down and resend, at most
                                          ``throttle_retries`` times; then retryable
                                          CONNECTOR_UNAVAILABLE
ESME_RINVDSTADR                           PermanentSendError NUMBER_INVALID
ESME_RINVSRCADR                           PermanentSendError VENDOR_SENDER_INVALID
any other status (generic_nack included)  PermanentSendError REJECTED_BY_CARRIER
no answer in time / link lost after the   SendError SUBMIT_OUTCOME_UNKNOWN (the
submit went out                           dispatcher applies its crash policy)
link lost before the submit went out      sent on another bound bind; none left:
                                          RetryableSendError CONNECTOR_UNAVAILABLE
not bound                                 RetryableSendError CONNECTOR_UNAVAILABLE
========================================  =========================================

The status name (``ESME_RINVDSTADR``...) is kept as the raw code.

Not here: query_sm / cancel_sm, outbind (the SMSC connecting to us), submit_multi.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import structlog
from pydantic import BaseModel

from hongyan import errors
from hongyan.connectors import smpp_settings
from hongyan.connectors.base import (
    InboundSms,
    OutboundSms,
    PermanentSendError,
    Receipt,
    RetryableSendError,
    SendError,
    SendResult,
    Sinks,
)
from hongyan.connectors.smpp_links import SmppBind, SmppLink
from hongyan.connectors.smpp_mo import Delivery, MoPart, Reassembler, mo_part
from hongyan.connectors.smpp_settings import IdFormat, SmppSettings
from hongyan.kit.segments import Encoding, encode_part, split, udh_concat
from hongyan.smpp import (
    CommandStatus,
    DataCoding,
    DataSm,
    DataSmResp,
    DeliverSm,
    DeliverSmResp,
    Pdu,
    PduEncodeError,
    SessionClosedError,
    SessionError,
    SmppError,
    SmppSession,
    SubmitSm,
    SubmitSmResp,
    Tlvs,
    receipt_from_pdu,
    status_name,
)
from hongyan.smpp.constants import ESM_UDHI

__all__ = ["SmppConnector", "SmppSettings", "normalize_id"]

log = structlog.get_logger("hongyan.connectors.smpp")

S = CommandStatus
_THROTTLED = frozenset({S.ESME_RTHROTTLED, S.ESME_RMSGQFUL})
# command_status -> Hongyan code of the PermanentSendError (others: REJECTED_BY_CARRIER).
SUBMIT_ERRORS: dict[int, str] = {
    S.ESME_RINVDSTADR: errors.NUMBER_INVALID.code,
    S.ESME_RINVSRCADR: errors.VENDOR_SENDER_INVALID.code,
}
_RECEIPT_ERRORS: dict[str, str] = {
    "undelivered": errors.UNDELIVERABLE.code,
    "expired": errors.DELIVERY_EXPIRED.code,
    "rejected": errors.REJECTED_BY_CARRIER.code,
}
RECEIPT_BATCH = 500  # deliveries (deliver_sm, or the parts of one MO) handed to sinks per call


def normalize_id(value: str, source: IdFormat, target: IdFormat) -> str:
    """One spelling per id: re-spelled from ``source`` to ``target`` (lower case, no zero pad).

    Ids that are not numbers in ``source`` come back unchanged.
    """
    try:
        number = int(value, 16 if source == "hex" else 10)
    except ValueError:
        return value
    return f"{number:x}" if target == "hex" else str(number)


def _smpp_time(when: datetime) -> str:
    """An absolute SMPP time in UTC: YYMMDDhhmmss, tenths 0, offset 00, '+'."""
    return when.astimezone(UTC).strftime("%y%m%d%H%M%S") + "000+"


@dataclass
class _Message:
    parts: int
    ids: list[str | None]
    error: SendError | None = None
    sent: int = 0  # parts whose submit went out
    unsent_error: RetryableSendError | None = None


@dataclass
class _Part:
    message: _Message
    index: int
    pdu: SubmitSm
    attempts: int = 0


class SmppConnector:
    """An ESME on one or several binds; see the module docstring."""

    kind: ClassVar[str] = "smpp"
    max_segments: ClassVar[int] = 255  # the most parts a UDH or SAR can number
    rate_per_sec: ClassVar[float | None] = None  # per connector, in the settings
    settings_model: ClassVar[type[BaseModel]] = SmppSettings
    secret_settings: ClassVar[frozenset[str]] = frozenset({"password"})

    def __init__(self, id: str, settings: dict[str, object]) -> None:
        self.id = id
        self.settings = SmppSettings.model_validate(settings)
        self._sinks: Sinks | None = None
        self._binds: dict[int, SmppBind] = {}
        self._allowed = frozenset(range(self.settings.binds))
        self._closed = False
        self._ref = 0
        self._turn = 0  # spreads submits over binds with equally free windows
        self._next_send = 0.0  # loop time of the next paced submit
        self._slow_until = 0.0  # loop time before which nothing goes out (throttled)
        self._incoming: list[Delivery] = []
        self._flusher: asyncio.Task[None] | None = None
        self._mo = Reassembler(
            id, hold_secs=self.settings.mo_reassembly_secs, expired=self._enqueue
        )
        self._closed_binds = 0  # successful binds of links closed since start
        # Told when a bind comes up or goes down (the bind lease keeper reports it).
        self.bind_listener: Callable[[], None] | None = None

    @staticmethod
    def bind_slots(settings: Mapping[str, Any]) -> int:
        """How many binds these settings ask for: each is leased by one worker process."""
        return smpp_settings.bind_slots(settings)

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self, sinks: Sinks) -> None:
        """Connect and bind the allowed binds (once, now), then keep them up in the background."""
        self._sinks = sinks
        self._closed = False
        await self._open(self._allowed, wait=True)

    def allow_binds(self, indices: frozenset[int]) -> None:
        """Before ``start()``: open only these binds (indices 0 .. binds-1)."""
        self._allowed = frozenset(i for i in indices if 0 <= i < self.settings.binds)

    async def set_binds(self, indices: frozenset[int]) -> None:
        """Open the allowed binds not open yet (in the background), unbind the others."""
        self.allow_binds(indices)
        if self._closed or self._sinks is None:
            return
        gone = [self._binds.pop(i) for i in sorted(set(self._binds) - self._allowed)]
        await self._close_binds(gone)
        await self._open(self._allowed - set(self._binds), wait=False)

    def bound_binds(self) -> frozenset[int]:
        """The binds submits can go out on now."""
        return frozenset(i for i, bind in self._binds.items() if bind.bound)

    @property
    def bound(self) -> bool:
        """True when at least one bind can send."""
        return any(bind.bound for bind in self._binds.values())

    @property
    def binds(self) -> int:
        """Successful binds (of every link) since start, for tests and health."""
        return self._closed_binds + sum(bind.binds for bind in self._binds.values())

    def link_changed(self, link: SmppLink) -> None:
        """A link bound or lost its bind: tell whoever reports bind states."""
        if self.bind_listener is not None:
            self.bind_listener()

    async def _open(self, indices: frozenset[int], *, wait: bool) -> None:
        fresh = [SmppBind(self, i) for i in sorted(indices)]
        for bind in fresh:
            self._binds[bind.index] = bind
        await asyncio.gather(*(bind.open(wait=wait) for bind in fresh))

    async def _close_binds(self, binds: Sequence[SmppBind]) -> None:
        await asyncio.gather(*(bind.close() for bind in binds))
        self._closed_binds += sum(bind.binds for bind in binds)

    async def close(self) -> None:
        """Stop reconnecting, store and answer what was received, unbind gracefully."""
        if self._closed:
            return
        self._closed = True
        for delivery in self._mo.flush():  # parts still waiting for the rest: each alone
            self._enqueue(delivery)
        binds, self._binds = list(self._binds.values()), {}
        await self._close_binds(binds)  # waits for in-flight submits and our pending answers
        if self._flusher is not None and not self._flusher.done():
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher

    # -- sending ------------------------------------------------------------------------------

    async def send(self, batch: Sequence[OutboundSms]) -> list[SendResult | SendError]:
        """Submit every part of every message; see the module docstring for outcomes."""
        if self._closed or not self.bound:
            raise RetryableSendError(errors.CONNECTOR_UNAVAILABLE.code, "SMPP link not bound")
        if not batch:
            return []
        messages: list[_Message] = []
        queue: deque[_Part] = deque()
        for sms in batch:
            message = self._build(sms, queue)
            messages.append(message)
        await self._submit_all(queue)
        return [self._result(m) for m in messages]

    def _build(self, sms: OutboundSms, queue: deque[_Part]) -> _Message:
        cfg = self.settings
        encoding = Encoding(sms.encoding)
        try:
            parts = split(sms.text, encoding, sixteen_bit=cfg.long_messages == "udh16")
        except ValueError:  # the caller said GSM-7 but the text is not
            encoding = Encoding.UCS2
            parts = split(sms.text, encoding, sixteen_bit=cfg.long_messages == "udh16")
        if cfg.long_messages == "payload" and len(parts) > 1:
            parts = (sms.text,)
        message = _Message(parts=len(parts) or 1, ids=[None] * (len(parts) or 1))
        if len(parts) > self.max_segments:
            message.error = PermanentSendError(
                errors.TOO_MANY_SEGMENTS.code, f"{len(parts)} parts", raw_code=None
            )
            return message
        base = SubmitSm(
            source_addr_ton=cfg.source_addr_ton,
            source_addr_npi=cfg.source_addr_npi,
            source_addr=sms.sender or cfg.source_addr,
            dest_addr_ton=cfg.dest_addr_ton,
            dest_addr_npi=cfg.dest_addr_npi,
            destination_addr=sms.msisdn.removeprefix("+"),
            registered_delivery=1,
            validity_period=_smpp_time(sms.validity_until) if sms.validity_until else "",
            data_coding=DataCoding.UCS2 if encoding is Encoding.UCS2 else cfg.default_data_coding,
        )
        if not parts:
            parts = ("",)
        if len(parts) == 1:
            body = encode_part(parts[0], encoding)
            pdu = _copy(base, short_message=body)
            if len(body) > 254 or (cfg.long_messages == "payload" and len(body) > 160):
                pdu = _copy(base, tlvs=Tlvs(message_payload=body))
            queue.append(_Part(message, 0, pdu))
            return message
        ref = self._next_ref(0xFFFF if cfg.long_messages in ("udh16", "sar") else 0xFF)
        total = len(parts)
        for i, text in enumerate(parts):
            body = encode_part(text, encoding)
            if cfg.long_messages == "sar":
                tlvs = Tlvs(sar_msg_ref_num=ref, sar_total_segments=total, sar_segment_seqnum=i + 1)
                pdu = _copy(base, short_message=body, tlvs=tlvs)
            else:
                udh = udh_concat(ref, total, i + 1, sixteen_bit=cfg.long_messages == "udh16")
                pdu = _copy(base, short_message=udh + body, esm_class=ESM_UDHI)
            queue.append(_Part(message, i, pdu))
        return message

    def _next_ref(self, limit: int) -> int:
        self._ref = self._ref % limit + 1
        return self._ref

    async def _submit_all(self, queue: deque[_Part]) -> None:
        """One coroutine sends; responses settle parts in callbacks and may requeue them."""
        loop = asyncio.get_running_loop()
        wake = asyncio.Event()
        outstanding = 0

        def settle(part: _Part, future: asyncio.Future[Pdu]) -> None:
            nonlocal outstanding
            outstanding -= 1
            wake.set()
            if future.cancelled():
                self._unknown(part, "cancelled")
                return
            exc = future.exception()
            if exc is not None:  # time-out or link lost: the SMSC may have taken it
                self._unknown(part, type(exc).__name__)
                return
            self._answered(part, future.result(), queue, loop)

        while queue or outstanding:
            if not queue:
                wake.clear()
                await wake.wait()
                continue
            part = queue.popleft()
            if part.message.error is not None:
                continue  # another part already failed the message
            try:
                await self._pace(loop)
                session = await self._sender()
                future = session.send(part.pdu)
            except PduEncodeError as exc:  # a field does not fit (a sender too long...)
                if part.message.error is None:
                    part.message.error = PermanentSendError(
                        errors.REJECTED_BY_CARRIER.code, str(exc), raw_code="PDU_ENCODE"
                    )
                continue
            except SessionError as exc:  # raised before the PDU was written: not sent
                if self.bound:
                    queue.appendleft(part)  # that link went: another bind takes it
                    continue
                self._not_sent(part, str(exc))
                for rest in queue:
                    self._not_sent(rest, str(exc))
                queue.clear()
                continue
            outstanding += 1
            part.message.sent += 1
            future.add_done_callback(functools.partial(settle, part))

    async def _sender(self) -> SmppSession:
        """The bound session with the most room in its window, once it has a free slot."""
        sessions = [
            bind.sender.session
            for bind in self._binds.values()
            if bind.bound and bind.sender.session is not None
        ]
        if not sessions:
            raise SessionClosedError("no bind is bound")
        self._turn += 1
        turn = [sessions[(self._turn + k) % len(sessions)] for k in range(len(sessions))]
        session = min(turn, key=lambda s: s.outstanding)
        await session.wait_for_window()
        return session

    async def _pace(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        at = max(now, self._slow_until, self._next_send)
        rate = self.settings.rate_per_sec
        self._next_send = at + (1 / rate if rate else 0.0)
        if at > now:
            await asyncio.sleep(at - now)

    def _answered(
        self, part: _Part, pdu: Pdu, queue: deque[_Part], loop: asyncio.AbstractEventLoop
    ) -> None:
        status = pdu.command_status
        message = part.message
        if status == S.ESME_ROK and isinstance(pdu, SubmitSmResp):
            cfg = self.settings
            message.ids[part.index] = normalize_id(
                pdu.message_id, cfg.submit_id_format, cfg.receipt_id_format
            )
            return
        name = status_name(status)
        if status in _THROTTLED:
            part.attempts += 1
            message.sent -= 1  # refused: this submit was not taken
            if part.attempts <= self.settings.throttle_retries:
                pause = self.settings.throttle_backoff_secs * 2 ** (part.attempts - 1)
                self._slow_until = max(self._slow_until, loop.time() + pause)
                queue.appendleft(part)
                log.info("smpp.throttled", connector_id=self.id, status=name, pause_secs=pause)
                return
            message.unsent_error = RetryableSendError(
                errors.CONNECTOR_UNAVAILABLE.code,
                f"SMSC still answers {name}",
                raw_code=name,
                retry_in=timedelta(seconds=self.settings.throttle_backoff_secs),
            )
            return
        if message.error is None:
            code = SUBMIT_ERRORS.get(status, errors.REJECTED_BY_CARRIER.code)
            message.error = PermanentSendError(code, f"SMSC answered {name}", raw_code=name)

    def _unknown(self, part: _Part, why: str) -> None:
        if part.message.error is None:
            part.message.error = SendError(
                errors.SUBMIT_OUTCOME_UNKNOWN.code, f"no answer to submit_sm: {why}"
            )

    def _not_sent(self, part: _Part, why: str) -> None:
        if part.message.unsent_error is None:
            part.message.unsent_error = RetryableSendError(
                errors.CONNECTOR_UNAVAILABLE.code, f"SMPP link: {why}"
            )

    def _result(self, message: _Message) -> SendResult | SendError:
        if message.error is not None:
            return message.error
        if all(uid is not None for uid in message.ids):
            return SendResult(upstream_ids=tuple(uid for uid in message.ids if uid is not None))
        if message.sent == 0 and not any(message.ids) and message.unsent_error is not None:
            return message.unsent_error  # nothing of it reached the SMSC
        return SendError(  # some parts were taken, others not: resending would duplicate
            errors.SUBMIT_OUTCOME_UNKNOWN.code, "only some parts were accepted"
        )

    # -- receiving ----------------------------------------------------------------------------

    def on_request(self, session: SmppSession, pdu: Pdu) -> Pdu | int | None:
        """deliver_sm/data_sm: queue for the sinks and answer once they are stored."""
        if not isinstance(pdu, DeliverSm | DataSm):
            return S.ESME_RINVCMDID
        try:
            item = self._convert(pdu)
        except Exception:
            log.exception("smpp.unreadable_deliver_sm", connector_id=self.id)
            item = None
        answer = (session, pdu)
        if isinstance(item, MoPart):
            delivery = self._mo.add(item, answer)  # None: held for the other parts
        else:
            delivery = Delivery([answer], [item] if item is not None else [])
        if delivery is not None:
            self._enqueue(delivery)
        return None

    def _enqueue(self, delivery: Delivery) -> None:
        self._incoming.append(delivery)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush())

    def _convert(self, pdu: DeliverSm | DataSm) -> Receipt | MoPart | None:
        cfg = self.settings
        # Receipt sample (SMPP 3.4 appendix B), with receipted_message_id / message_state TLVs:
        # id:5f3a sub:001 dlvrd:001 submit date:2401021530 done date:2401021531 stat:DELIVRD
        # err:000 text:Your code is 123456
        receipt = receipt_from_pdu(pdu, prefer=cfg.receipt_id_source)
        if receipt is not None:
            if not receipt.message_id:
                return None
            status = receipt.status
            return Receipt(
                connector_id=self.id,
                upstream_id=normalize_id(
                    receipt.message_id, cfg.receipt_id_format, cfg.receipt_id_format
                ),
                status=status,
                error_code=_RECEIPT_ERRORS.get(status),
                raw_code=receipt.stat,
                done_at=receipt.done_date,
            )
        if pdu.esm_class & 0x3C:  # another kind of notification (SME ack...): not a message
            return None
        return mo_part(pdu)

    async def _flush(self) -> None:
        """Hand queued receipts and MO to the sinks, then answer their deliver_sm."""
        while self._incoming and self._sinks is not None:
            chunk = self._incoming[:RECEIPT_BATCH]
            del self._incoming[: len(chunk)]
            items = [item for delivery in chunk for item in delivery.items]
            receipts = [i for i in items if isinstance(i, Receipt)]
            inbound = [i for i in items if isinstance(i, InboundSms)]
            answer: int = S.ESME_ROK
            try:
                if receipts:
                    await self._sinks.receipts(receipts)
                if inbound:
                    await self._sinks.inbound(inbound)
            except Exception:
                log.exception("smpp.sink_failed", connector_id=self.id, count=len(items))
                answer = S.ESME_RX_T_APPN  # the SMSC delivers them again later
            for delivery in chunk:
                for session, pdu in delivery.answers:
                    response: Pdu = DeliverSmResp() if isinstance(pdu, DeliverSm) else DataSmResp()
                    response.command_status = answer
                    with contextlib.suppress(SmppError):
                        session.respond(pdu, response)


def _copy(base: SubmitSm, **changes: object) -> SubmitSm:
    return replace(base, **changes)  # type: ignore[arg-type]
