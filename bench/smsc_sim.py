"""A local SMSC for the SMPP benchmarks (S3, S4 over SMPP), run as a process of its own.

    .venv/bin/python bench/smsc_sim.py --engine lean|smpp34 --port P [--receipt-delay-ms D]

It accepts every bind and every submit_sm at once (message ids: a hex counter) and, with
``--receipt-delay-ms``, sends a ``DELIVRD`` receipt (deliver_sm, esm_class 0x04, the id in
the text and in the receipted_message_id TLV) for every submit that much later, on the bind
the submit came from, while submits go on. Two engines:

- ``smpp34``: the server of the ``smpp34`` package (Rust core), one Python event per submit
  and a task per receipt: the SMSC the connector's tests use;
- ``lean``: a bare ``asyncio.Protocol`` SMSC written for these benchmarks (no Hongyan code):
  it reads whatever PDUs arrived and answers them all with one write, so it costs a fraction
  of a core at rates the clients under test cannot reach. Like smpp34's server, it does not
  limit the deliver_sm in flight.

Control is over stdin/stdout, one line each: it prints ``READY <port>`` once listening;
``stats`` prints one JSON line of counters (submits, receipts sent and answered, first and
last submit as ``time.time()``, the process's CPU seconds, the fields of the first submit_sm
since the last ``stats``, to compare the PDUs of two clients); end of input stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import struct
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

HEADER = struct.Struct(">IIII")  # command_length, command_id, command_status, sequence_number
BIND_IDS = {0x00000001, 0x00000002, 0x00000009}  # bind_receiver, bind_transmitter, transceiver
CAN_RECEIVE = {0x00000001, 0x00000009}  # binds deliver_sm may go to
SUBMIT_SM = 0x00000004
DELIVER_SM = 0x00000005
UNBIND = 0x00000006
ENQUIRE_LINK = 0x00000015
RESPONSE = 0x80000000
GENERIC_NACK = 0x80000000
ESME_RINVCMDID = 0x00000003
TLV_RECEIPTED_MESSAGE_ID = 0x001E
TLV_MESSAGE_STATE = 0x0427
DELIVERED = 2  # message_state


@dataclass
class Counters:
    """What the simulator has done since it started."""

    binds: int = 0
    submits: int = 0
    first_submit: float | None = None
    last_submit: float | None = None
    receipts_sent: int = 0
    receipts_acked: int = 0
    receipts_nacked: int = 0
    receipts_dropped: int = 0  # no bind could take them
    sample: dict[str, Any] = field(default_factory=dict)

    def submitted(self, fields: dict[str, Any] | None) -> str:
        """Count a submit; its message id."""
        self.submits += 1
        now = time.time()
        if self.first_submit is None:
            self.first_submit = now
        self.last_submit = now
        if fields is not None and not self.sample:
            self.sample = fields
        return f"{self.submits:x}"

    def snapshot(self) -> dict[str, Any]:
        usage = resource.getrusage(resource.RUSAGE_SELF)  # every thread (smpp34's runtime too)
        return {
            "binds": self.binds,
            "submits": self.submits,
            "first_submit": self.first_submit,
            "last_submit": self.last_submit,
            "receipts_sent": self.receipts_sent,
            "receipts_acked": self.receipts_acked,
            "receipts_nacked": self.receipts_nacked,
            "receipts_dropped": self.receipts_dropped,
            "cpu_secs": usage.ru_utime + usage.ru_stime,
            "at": time.time(),
            "sample": self.take_sample(),
        }

    def take_sample(self) -> dict[str, Any]:
        """The sampled submit, forgotten once read: the next submit becomes the next sample."""
        sample, self.sample = self.sample, {}
        return sample


def receipt_text(message_id: str) -> bytes:
    """The usual receipt text (SMPP 3.4 appendix B); dates are the simulator's now."""
    stamp = time.strftime("%y%m%d%H%M", time.gmtime())
    return (
        f"id:{message_id} sub:001 dlvrd:001 submit date:{stamp} done date:{stamp} "
        "stat:DELIVRD err:000 text:"
    ).encode()


# -- the lean engine ------------------------------------------------------------------------


def _cstring(body: bytes, at: int) -> tuple[str, int]:
    end = body.index(0, at)
    return body[at:end].decode("latin-1"), end + 1


def parse_submit(body: bytes) -> dict[str, Any]:
    """Every mandatory field of a submit_sm body (and its TLVs, as hex), in wire order."""
    fields: dict[str, Any] = {}
    fields["service_type"], at = _cstring(body, 0)
    fields["source_addr_ton"], fields["source_addr_npi"] = body[at], body[at + 1]
    fields["source_addr"], at = _cstring(body, at + 2)
    fields["dest_addr_ton"], fields["dest_addr_npi"] = body[at], body[at + 1]
    fields["destination_addr"], at = _cstring(body, at + 2)
    fields["esm_class"], fields["protocol_id"], fields["priority_flag"] = body[at : at + 3]
    fields["schedule_delivery_time"], at = _cstring(body, at + 3)
    fields["validity_period"], at = _cstring(body, at)
    names = ("registered_delivery", "replace_if_present_flag", "data_coding", "sm_default_msg_id")
    fields.update(zip(names, body[at : at + 4], strict=True))
    length = body[at + 4]
    fields["short_message"] = body[at + 5 : at + 5 + length].hex()
    fields["tlvs"] = body[at + 5 + length :].hex()
    return fields


def _destination(body: bytes) -> tuple[str, str, int]:
    """(destination_addr, source_addr, source_addr_ton) of a submit_sm body, read cheaply."""
    at = body.index(0) + 3  # past service_type, source ton and npi
    end = body.index(0, at)
    source, ton = body[at:end].decode("latin-1"), body[at - 2]
    at = end + 3  # past the NUL, dest ton and npi
    end = body.index(0, at)
    return body[at:end].decode("latin-1"), source, ton


def deliver_sm_body(message_id: str, msisdn: str, sender: str, sender_ton: int) -> bytes:
    """A receipt: from the handset to the submit's sender, the id in text and TLV."""
    text = receipt_text(message_id)
    body = b"\x00" + bytes([1, 1]) + msisdn.encode() + b"\x00"
    body += bytes([sender_ton, 0]) + sender.encode() + b"\x00"
    body += bytes([0x04, 0, 0]) + b"\x00\x00" + bytes([0, 0, 0, 0, len(text)]) + text
    receipted = message_id.encode() + b"\x00"
    body += struct.pack(">HH", TLV_RECEIPTED_MESSAGE_ID, len(receipted)) + receipted
    return body + struct.pack(">HHB", TLV_MESSAGE_STATE, 1, DELIVERED)


class LeanSession(asyncio.Protocol):
    """One ESME's connection: PDUs in, all answers of one read out in one write."""

    def __init__(self, smsc: LeanSmsc) -> None:
        self.smsc = smsc
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.can_receive = False
        self.sequence = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.smsc.sessions.discard(self)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        out: list[bytes] = []
        at = 0
        while len(self.buffer) - at >= 16:
            length, command, status, sequence = HEADER.unpack_from(self.buffer, at)
            if len(self.buffer) - at < length:
                break
            body = bytes(self.buffer[at + 16 : at + length])
            at += length
            answer = self.answer(command, status, sequence, body)
            if answer:
                out.append(answer)
        del self.buffer[:at]
        if out and self.transport is not None:
            self.transport.write(b"".join(out))

    def answer(self, command: int, status: int, sequence: int, body: bytes) -> bytes:
        if command == SUBMIT_SM:
            return self.smsc.submit(self, sequence, body)
        if command == DELIVER_SM | RESPONSE:
            self.smsc.receipt_answered(status == 0)
            return b""
        if command in BIND_IDS:
            self.can_receive = command in CAN_RECEIVE
            self.smsc.bound(self)
            return pdu(command | RESPONSE, sequence, b"SMSC\x00")
        if command in (ENQUIRE_LINK, UNBIND):
            return pdu(command | RESPONSE, sequence, b"")
        if command & RESPONSE:
            return b""
        return pdu(GENERIC_NACK, sequence, b"", status=ESME_RINVCMDID)

    def deliver(self, bodies: list[bytes]) -> None:
        """Send receipts, all in one write."""
        out = []
        for body in bodies:
            self.sequence += 1
            out.append(pdu(DELIVER_SM, self.sequence, body))
        assert self.transport is not None
        self.transport.write(b"".join(out))


def pdu(command: int, sequence: int, body: bytes, *, status: int = 0) -> bytes:
    """A whole PDU: header and body."""
    return HEADER.pack(16 + len(body), command, status, sequence) + body


class LeanSmsc:
    """The lean engine: an asyncio server of ``LeanSession`` and a receipt pump."""

    def __init__(self, counters: Counters, receipt_delay: float | None) -> None:
        self.counters = counters
        self.receipt_delay = receipt_delay
        self.sessions: set[LeanSession] = set()
        self.due: deque[tuple[float, LeanSession, bytes]] = deque()
        self.wake = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []  # kept: the loop holds tasks weakly

    async def serve(self, port: int) -> asyncio.Server:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: LeanSession(self), "127.0.0.1", port)
        if self.receipt_delay is not None:
            self.tasks.append(loop.create_task(self.pump()))
        return server

    def bound(self, session: LeanSession) -> None:
        self.counters.binds += 1
        self.sessions.add(session)

    def submit(self, session: LeanSession, sequence: int, body: bytes) -> bytes:
        fields = parse_submit(body) if not self.counters.sample else None
        message_id = self.counters.submitted(fields)
        if self.receipt_delay is not None:
            msisdn, sender, ton = _destination(body)
            receipt = deliver_sm_body(message_id, msisdn, sender, ton)
            self.due.append((time.monotonic() + self.receipt_delay, session, receipt))
            self.wake.set()
        return pdu(SUBMIT_SM | RESPONSE, sequence, message_id.encode() + b"\x00")

    def receipt_answered(self, ok: bool) -> None:
        if ok:
            self.counters.receipts_acked += 1
        else:
            self.counters.receipts_nacked += 1

    async def pump(self) -> None:
        """Send the receipts that are due, every few milliseconds, one write per bind."""
        while True:
            if not self.due:
                self.wake.clear()
                await self.wake.wait()
            wait = self.due[0][0] - time.monotonic()
            if wait > 0:
                await asyncio.sleep(max(wait, 0.002))
            now = time.monotonic()
            batches: dict[LeanSession, list[bytes]] = {}
            while self.due and self.due[0][0] <= now:
                _, session, body = self.due.popleft()
                target = self._receiver(session)
                if target is None:
                    self.counters.receipts_dropped += 1
                    continue
                batches.setdefault(target, []).append(body)
            for target, bodies in batches.items():
                target.deliver(bodies)
                self.counters.receipts_sent += len(bodies)

    def _receiver(self, session: LeanSession) -> LeanSession | None:
        if session.can_receive and session in self.sessions:
            return session
        return next((s for s in self.sessions if s.can_receive), None)


# -- the smpp34 engine ----------------------------------------------------------------------


class Smpp34Smsc:
    """smpp34's server, decisions taken by one Python task; a task per receipt."""

    def __init__(self, counters: Counters, receipt_delay: float | None) -> None:
        import smpp34

        self.smpp34 = smpp34
        self.counters = counters
        self.receipt_delay = receipt_delay
        self.esmes: dict[str, Any] = {}  # session_id -> Esme
        self.due: deque[tuple[float, str, str, str]] = deque()
        self.wake = asyncio.Event()
        self.tasks: set[asyncio.Task[None]] = set()

    async def serve(self, port: int) -> Any:
        server = self.smpp34.Server(host="127.0.0.1", port=port, system_id="SMSC")
        await server.start()
        loop = asyncio.get_running_loop()
        self.tasks.add(loop.create_task(self.drive(server)))
        if self.receipt_delay is not None:
            self.tasks.add(loop.create_task(self.pump()))
        return server

    async def drive(self, server: Any) -> None:
        while True:
            event = await server.next()
            if isinstance(event, self.smpp34.SubmitSmEvent):
                fields = None if self.counters.sample else self._fields(event)
                message_id = self.counters.submitted(fields)
                event.accept(message_id)
                if self.receipt_delay is not None:
                    due = time.monotonic() + self.receipt_delay
                    self.due.append((due, event.session_id, message_id, event.destination_addr))
                    self.wake.set()
            elif isinstance(event, self.smpp34.Esme):
                self.counters.binds += 1
                self.esmes[event.session_id] = event
            elif isinstance(event, self.smpp34.Unbound):
                self.esmes.pop(event.session_id, None)

    @staticmethod
    def _fields(event: Any) -> dict[str, Any]:
        names = (
            "service_type", "source_addr_ton", "source_addr_npi", "source_addr",
            "dest_addr_ton", "dest_addr_npi", "destination_addr", "esm_class", "protocol_id",
            "registered_delivery", "data_coding",
        )  # fmt: skip
        fields = {name: getattr(event, name) for name in names}
        fields["short_message"] = bytes(event.short_message).hex()
        return fields

    async def pump(self) -> None:
        while True:
            if not self.due:
                self.wake.clear()
                await self.wake.wait()
            wait = self.due[0][0] - time.monotonic()
            if wait > 0:
                await asyncio.sleep(max(wait, 0.002))
            now = time.monotonic()
            while self.due and self.due[0][0] <= now:
                _, session_id, message_id, msisdn = self.due.popleft()
                esme = self.esmes.get(session_id) or next(iter(self.esmes.values()), None)
                if esme is None:
                    self.counters.receipts_dropped += 1
                    continue
                task = asyncio.get_running_loop().create_task(
                    self.receipt(esme, message_id, msisdn)
                )
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)

    async def receipt(self, esme: Any, message_id: str, msisdn: str) -> None:
        tlvs = [
            self.smpp34.Tlv(TLV_RECEIPTED_MESSAGE_ID, message_id.encode() + b"\x00"),
            self.smpp34.Tlv(TLV_MESSAGE_STATE, bytes([DELIVERED])),
        ]
        self.counters.receipts_sent += 1
        try:
            response = await esme.deliver_sm(
                "Hongyan", receipt_text(message_id), source_addr=msisdn, source_addr_ton=1,
                source_addr_npi=1, esm_class=0x04, tlvs=tlvs,
            )  # fmt: skip
        except Exception:
            self.counters.receipts_nacked += 1
            return
        if response.is_success:
            self.counters.receipts_acked += 1
        else:
            self.counters.receipts_nacked += 1


# -- the process ----------------------------------------------------------------------------


async def control(counters: Counters) -> None:
    """Answer ``stats`` lines on stdin until it closes."""
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            return
        if line.strip() == "stats":
            print(json.dumps(counters.snapshot()), flush=True)


async def main_async(args: argparse.Namespace) -> None:
    counters = Counters()
    delay = None if args.receipt_delay_ms is None else args.receipt_delay_ms / 1000
    engine = LeanSmsc(counters, delay) if args.engine == "lean" else Smpp34Smsc(counters, delay)
    await engine.serve(args.port)
    print(f"READY {args.port}", flush=True)
    await control(counters)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=("lean", "smpp34"), default="lean")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--receipt-delay-ms", type=int, help="send a receipt per submit")
    args = parser.parse_args()
    asyncio.run(main_async(args))
    sys.stdout.flush()
    # Leave without interpreter teardown: smpp34's runtime may crash while being torn down.
    os._exit(0)


if __name__ == "__main__":
    main()
