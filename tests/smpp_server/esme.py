"""``smpplib`` (a real, independent, synchronous SMPP client) driven from async tests.

Every call to the library runs on one thread of its own, so the client is used the way its
authors meant (one thread) while the test's event loop keeps serving Hongyan's SMPP server.
Reads time out after ``READ_SECS``; loops waiting for PDUs give up after a deadline, so no
test waits forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import smpplib.client
import smpplib.consts
import smpplib.exceptions
import smpplib.gsm

T = TypeVar("T")
READ_SECS = 0.2
BIND_SECS = 10.0  # a bind verifies an scrypt hash: slower than other answers


@dataclass
class Answer:
    """A submit_sm_resp as the client saw it."""

    sequence: int
    status: int
    message_id: str


@dataclass
class SyncEsme:
    port: int
    answers: dict[int, Answer] = field(default_factory=dict)
    delivered: list[Any] = field(default_factory=list)  # deliver_sm PDUs received
    ack: bool = True  # answer deliver_sm (ESME_ROK); False: read them and say nothing

    def __post_init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1)
        self.client = smpplib.client.Client(
            "127.0.0.1", self.port, timeout=BIND_SECS, allow_unknown_opt_params=True
        )
        self.client.set_message_sent_handler(self._on_answer)
        self.client.set_error_pdu_handler(self._on_error)
        self.client.set_message_received_handler(self._on_deliver)

    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, lambda: fn(*args, **kwargs))

    # -- handlers (on the client's thread) -------------------------------------------------------

    def _on_answer(self, pdu: Any) -> None:
        message_id = pdu.message_id.decode() if isinstance(pdu.message_id, bytes) else ""
        self.answers[pdu.sequence] = Answer(pdu.sequence, int(pdu.status), message_id)

    def _on_error(self, pdu: Any) -> None:
        if pdu.command == "submit_sm_resp":
            self.answers[pdu.sequence] = Answer(pdu.sequence, int(pdu.status), "")

    def _on_deliver(self, pdu: Any) -> int | None:
        self.delivered.append(pdu)
        return None

    # -- calls ----------------------------------------------------------------------------------

    async def bind(self, mode: str, system_id: str, password: str) -> int:
        """Connect and bind; the command_status of the answer (0: bound)."""
        await self._run(self.client.connect)
        try:
            await self._run(
                getattr(self.client, f"bind_{mode}"), system_id=system_id, password=password
            )
        except smpplib.exceptions.PDUError as exc:
            return int(exc.args[1])
        self.client._socket.settimeout(READ_SECS)  # from now on, short reads in loops
        return 0

    async def submit(self, text: str, *, to: str = "8613800138000", **fields: Any) -> list[int]:
        """Send text as smpplib splits it (UDH parts, GSM-7 or UCS-2); the sequence numbers."""
        parts, coding, esm_class = smpplib.gsm.make_parts(text)
        sequences = []
        for part in parts:
            pdu = await self._run(
                self.client.send_message,
                source_addr_ton=fields.get("source_addr_ton", smpplib.consts.SMPP_TON_ALNUM),
                source_addr=fields.get("source_addr", "HONGYAN"),
                dest_addr_ton=smpplib.consts.SMPP_TON_INTL,
                dest_addr_npi=smpplib.consts.SMPP_NPI_ISDN,
                destination_addr=to,
                short_message=part,
                data_coding=coding,
                esm_class=esm_class,
                registered_delivery=fields.get("registered_delivery", 1),
            )
            sequences.append(pdu.sequence)
        return sequences

    async def answers_for(self, sequences: list[int], timeout_secs: float = 10.0) -> list[Answer]:
        """Read until every sequence number has its submit_sm_resp (or fail at the deadline)."""
        await self._read_until(lambda: all(s in self.answers for s in sequences), timeout_secs)
        return [self.answers[s] for s in sequences]

    async def wait_delivered(self, count: int, timeout_secs: float = 10.0) -> list[Any]:
        await self._read_until(lambda: len(self.delivered) >= count, timeout_secs)
        return list(self.delivered)

    async def listen(self, secs: float) -> None:
        """Keep reading (and answering) for a while."""
        await self._read_until(lambda: False, secs, fail=False)

    async def _read_until(self, done: Callable[[], bool], secs: float, fail: bool = True) -> None:
        def loop() -> bool:
            deadline = time.monotonic() + secs
            while not done():
                if time.monotonic() > deadline:
                    return False
                try:
                    if self.ack:
                        self.client.read_once(auto_send_enquire_link=False)
                    else:
                        self._peek()
                except TimeoutError:  # nothing to read within READ_SECS: look again
                    continue
            return True

        finished = await self._run(loop)
        if fail:
            assert finished, "the server did not answer in time"

    def _peek(self) -> None:
        """Read one PDU without answering deliver_sm (a client that does not acknowledge)."""
        pdu = self.client.read_pdu()
        if pdu.command == "deliver_sm":
            self.delivered.append(pdu)
        elif pdu.command == "submit_sm_resp":
            self._on_answer(pdu)

    async def close(self) -> None:
        """Unbind when possible, then drop the connection; never raises, once is enough."""
        if self._pool._shutdown:
            return

        def shut() -> None:
            with contextlib.suppress(Exception):  # the server may have gone first
                self.client.unbind()
            with contextlib.suppress(Exception):
                self.client.disconnect()

        await self._run(shut)
        self._pool.shutdown(wait=False)

    async def drop(self) -> None:
        """Cut the connection without unbinding (a client that crashed)."""
        if self._pool._shutdown:
            return

        def cut() -> None:
            sock = self.client._socket
            if sock is not None:
                sock.close()
            self.client._socket = None
            self.client.state = smpplib.consts.SMPP_CLIENT_STATE_CLOSED

        await self._run(cut)
        self._pool.shutdown(wait=False)
