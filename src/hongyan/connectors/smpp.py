"""The SMPP 3.4 carrier connector: Hongyan as an ESME on one transceiver bind.

One link per connector (``hongyan.smpp.SmppSession``), opened and bound by ``start()``, kept
alive by enquire_link and reopened with backoff after a drop. ``send()`` turns each message
into one submit_sm per part (or one with message_payload), sends them through the session's
window (a future per PDU, no Task per message), paced to ``rate_per_sec``, and returns one
upstream id per part: the submit_sm_resp message_id, normalized to the receipt id format.

Receipts (deliver_sm with esm_class 0x04, text and/or TLVs) and MO messages are handed to the
sinks in batches by one flushing task; each deliver_sm is answered only after its sink call
returned (stored), or with ESME_RX_T_APPN (resend later) when the sink failed.

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
not bound                                 RetryableSendError CONNECTOR_UNAVAILABLE
========================================  =========================================

The status name (``ESME_RINVDSTADR``...) is kept as the raw code.

Not here yet: several binds or transmitter + receiver pairs, bind leases shared by worker
processes, reassembly of concatenated MO messages (each part arrives as its own InboundSms).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ssl
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import ClassVar, Literal

import structlog
from pydantic import BaseModel, ConfigDict, Field

from hongyan import errors
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
from hongyan.kit.segments import Encoding, encode_part, split, udh_concat
from hongyan.models.base import utcnow
from hongyan.smpp import (
    BindTransceiver,
    CommandStatus,
    DataCoding,
    DataSm,
    DataSmResp,
    DeliverSm,
    DeliverSmResp,
    Pdu,
    PduEncodeError,
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
from hongyan.smpp.net import connect

log = structlog.get_logger("hongyan.connectors.smpp")

S = CommandStatus
IdFormat = Literal["hex", "dec"]
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
RECEIPT_BATCH = 500  # deliver_sm handed to a sink per call


class SmppSettings(BaseModel):
    """Settings of an SMPP connector (see docs/how-to/connect-a-carrier-smpp.md)."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field(min_length=1, max_length=255, description="The SMSC's host name or IP.")
    port: int = Field(2775, ge=1, le=65535)
    tls: bool = Field(False, description="Connect with TLS (often port 3550 or 8775).")
    tls_verify: bool = Field(True, description="Check the SMSC's certificate and host name.")
    system_id: str = Field(min_length=1, max_length=15, description="Bind login.")
    password: str = Field(max_length=8, description="Bind password (secret).")
    system_type: str = Field("", max_length=12, description="Bind system_type, if required.")
    bind_mode: Literal["transceiver"] = Field(
        "transceiver", description="Only transceiver binds for now (one link both ways)."
    )
    window: int = Field(10, ge=1, le=1000, description="Unanswered PDUs at most.")
    rate_per_sec: float | None = Field(
        None, gt=0, le=10_000, description="submit_sm per second at most; None: window only."
    )
    source_addr: str = Field("", max_length=20, description="Sender when a message has none.")
    source_addr_ton: int = Field(5, ge=0, le=6, description="5 alphanumeric, 1 international.")
    source_addr_npi: int = Field(0, ge=0, le=18)
    dest_addr_ton: int = Field(1, ge=0, le=6, description="1: international (E.164).")
    dest_addr_npi: int = Field(1, ge=0, le=18, description="1: ISDN (E.164).")
    default_data_coding: int = Field(
        DataCoding.SMSC_DEFAULT,
        ge=0,
        le=255,
        description="data_coding for GSM-7 messages (0 SMSC default; some SMSCs want 1).",
    )
    long_messages: Literal["udh8", "udh16", "sar", "payload"] = Field(
        "udh8", description="Concatenation: 8/16-bit UDH, SAR TLVs, or one message_payload."
    )
    submit_id_format: IdFormat = Field("hex", description="How submit_sm_resp writes ids.")
    receipt_id_format: IdFormat = Field("hex", description="How receipts write ids.")
    receipt_id_source: Literal["tlv", "text"] = Field(
        "tlv", description="Which wins when a receipt has both the TLVs and the text."
    )
    connect_timeout_secs: float = Field(10.0, gt=0, le=300)
    response_timeout_secs: float = Field(10.0, gt=0, le=300)
    enquire_link_secs: float = Field(30.0, gt=0, le=3600)
    reconnect_min_secs: float = Field(1.0, gt=0, le=3600)
    reconnect_max_secs: float = Field(60.0, gt=0, le=3600)
    throttle_backoff_secs: float = Field(1.0, ge=0, le=300, description="First pause.")
    throttle_retries: int = Field(5, ge=0, le=100)
    unbind_timeout_secs: float = Field(5.0, gt=0, le=300)


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
    """An ESME on one transceiver bind; see the module docstring."""

    kind: ClassVar[str] = "smpp"
    max_segments: ClassVar[int] = 255  # the most parts a UDH or SAR can number
    rate_per_sec: ClassVar[float | None] = None  # per link, in the settings
    settings_model: ClassVar[type[BaseModel]] = SmppSettings
    secret_settings: ClassVar[frozenset[str]] = frozenset({"password"})

    def __init__(self, id: str, settings: dict[str, object]) -> None:
        self.id = id
        self.settings = SmppSettings.model_validate(settings)
        self._sinks: Sinks | None = None
        self._session: SmppSession | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._closed = False
        self._ref = 0
        self._next_send = 0.0  # loop time of the next paced submit
        self._slow_until = 0.0  # loop time before which nothing goes out (throttled)
        self._incoming: list[tuple[SmppSession, Pdu, Receipt | InboundSms | None]] = []
        self._flusher: asyncio.Task[None] | None = None
        self.binds = 0  # successful binds since start, for tests and health

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self, sinks: Sinks) -> None:
        """Connect and bind (once, now), then keep the link up in the background."""
        self._sinks = sinks
        self._closed = False
        await self._connect_once()
        self._supervisor = asyncio.get_running_loop().create_task(self._keep_up())

    @property
    def bound(self) -> bool:
        session = self._session
        return session is not None and session.is_open and session.bound is not None

    async def _connect_once(self) -> bool:
        cfg = self.settings
        tls: ssl.SSLContext | None = None
        if cfg.tls:
            tls = ssl.create_default_context()
            if not cfg.tls_verify:
                tls.check_hostname = False
                tls.verify_mode = ssl.CERT_NONE
        try:
            session = await connect(
                cfg.host,
                cfg.port,
                tls=tls,
                connect_timeout_secs=cfg.connect_timeout_secs,
                on_request=self._on_request,
                window=cfg.window,
                response_timeout_secs=cfg.response_timeout_secs,
                enquire_link_secs=cfg.enquire_link_secs,
                unbind_timeout_secs=cfg.unbind_timeout_secs,
                bind_timeout_secs=None,
                name=self.id,
            )
        except (OSError, TimeoutError) as exc:
            log.warning("smpp.connect_failed", connector_id=self.id, error=repr(exc))
            return False
        self._session = session
        try:
            await session.bind(
                BindTransceiver(
                    system_id=cfg.system_id, password=cfg.password, system_type=cfg.system_type
                )
            )
        except SmppError as exc:
            log.warning("smpp.bind_failed", connector_id=self.id, error=str(exc))
            session.abort()
            return False
        self.binds += 1
        log.info("smpp.bound", connector_id=self.id, peer=session.peer)
        return True

    async def _keep_up(self) -> None:
        """Reconnect and re-bind after a drop, backing off while the SMSC refuses."""
        delay = self.settings.reconnect_min_secs
        while not self._closed:
            session = self._session
            if session is not None and session.bound is not None:
                await session.wait_closed()
                delay = self.settings.reconnect_min_secs
                if self._closed:
                    return
                log.warning("smpp.link_lost", connector_id=self.id)
            await asyncio.sleep(delay)
            if self._closed:
                return
            if not await self._connect_once():
                delay = min(delay * 2, self.settings.reconnect_max_secs)

    async def close(self) -> None:
        """Stop reconnecting, answer what was received, unbind gracefully."""
        if self._closed:
            return
        self._closed = True
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        session, self._session = self._session, None
        if session is not None:
            await session.unbind()  # waits for in-flight submits and our pending answers
        if self._flusher is not None and not self._flusher.done():
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher

    # -- sending ------------------------------------------------------------------------------

    async def send(self, batch: Sequence[OutboundSms]) -> list[SendResult | SendError]:
        """Submit every part of every message; see the module docstring for outcomes."""
        session = self._session
        if self._closed or session is None or not self.bound:
            raise RetryableSendError(errors.CONNECTOR_UNAVAILABLE.code, "SMPP link not bound")
        if not batch:
            return []
        messages: list[_Message] = []
        queue: deque[_Part] = deque()
        for sms in batch:
            message = self._build(sms, queue)
            messages.append(message)
        await self._submit_all(session, queue)
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

    async def _submit_all(self, session: SmppSession, queue: deque[_Part]) -> None:
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
                await session.wait_for_window()
                future = session.send(part.pdu)
            except PduEncodeError as exc:  # a field does not fit (a sender too long...)
                if part.message.error is None:
                    part.message.error = PermanentSendError(
                        errors.REJECTED_BY_CARRIER.code, str(exc), raw_code="PDU_ENCODE"
                    )
                continue
            except SessionError as exc:
                self._not_sent(part, str(exc))
                for rest in queue:
                    self._not_sent(rest, str(exc))
                queue.clear()
                continue
            outstanding += 1
            part.message.sent += 1
            future.add_done_callback(functools.partial(settle, part))

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

    def _on_request(self, session: SmppSession, pdu: Pdu) -> Pdu | int | None:
        """deliver_sm/data_sm: queue for the sinks and answer once they are stored."""
        if not isinstance(pdu, DeliverSm | DataSm):
            return S.ESME_RINVCMDID
        try:
            item = self._convert(pdu)
        except Exception:
            log.exception("smpp.unreadable_deliver_sm", connector_id=self.id)
            item = None
        self._incoming.append((session, pdu, item))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush())
        return None

    def _convert(self, pdu: DeliverSm | DataSm) -> Receipt | InboundSms | None:
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
        body = pdu.tlvs.message_payload
        if body is None:
            body = pdu.short_message if isinstance(pdu, DeliverSm) else b""
        if pdu.esm_class & ESM_UDHI and body:
            body = body[1 + body[0] :]
        sender = pdu.source_addr
        if pdu.source_addr_ton == 1 and sender.isdigit():
            sender = f"+{sender}"
        return InboundSms(
            connector_id=self.id,
            msisdn=sender,
            to=pdu.destination_addr,
            text=_decode_text(body, pdu.data_coding),
            received_at=utcnow(),
        )

    async def _flush(self) -> None:
        """Hand queued receipts and MO to the sinks, then answer their deliver_sm."""
        while self._incoming and self._sinks is not None:
            chunk = self._incoming[:RECEIPT_BATCH]
            del self._incoming[: len(chunk)]
            receipts = [i for _, _, i in chunk if isinstance(i, Receipt)]
            inbound = [i for _, _, i in chunk if isinstance(i, InboundSms)]
            answer: int = S.ESME_ROK
            try:
                if receipts:
                    await self._sinks.receipts(receipts)
                if inbound:
                    await self._sinks.inbound(inbound)
            except Exception:
                log.exception("smpp.sink_failed", connector_id=self.id, count=len(chunk))
                answer = S.ESME_RX_T_APPN  # the SMSC delivers them again later
            for session, pdu, _ in chunk:
                response: Pdu = DeliverSmResp() if isinstance(pdu, DeliverSm) else DataSmResp()
                response.command_status = answer
                with contextlib.suppress(SmppError):
                    session.respond(pdu, response)


def _copy(base: SubmitSm, **changes: object) -> SubmitSm:
    return replace(base, **changes)  # type: ignore[arg-type]


def _decode_text(body: bytes, data_coding: int) -> str:
    if data_coding == DataCoding.UCS2:
        return body.decode("utf-16-be", "replace")
    if data_coding in (DataCoding.SMSC_DEFAULT, 0x10, 0xF0):
        try:
            return body.decode("gsm03.38")
        except UnicodeDecodeError:
            pass
    return body.decode("latin-1")
