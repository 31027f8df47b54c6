"""One SMPP 3.4 link on ``asyncio.Protocol``, for either side: ESME client or SMSC server.

- **Requests out** (``bind``, ``send``, ``request``): a sequence number each (1..0x7FFFFFFF,
  then 1), a future each in the ``RequestWindow``; at most ``window`` outstanding. A future
  resolves with the response PDU whatever its command_status (generic_nack included), or
  fails with ``ResponseTimeoutError`` or, when the link goes, ``SessionClosedError``: for
  those the caller cannot know whether the peer acted. No Task is created per message.
- **Requests in**: enquire_link and unbind are answered here; a request the bind state
  refuses gets ESME_RINVBNDSTS (ESME_RALYBND for a second bind); the rest go to
  ``on_request(session, pdu)``, which returns the response (a PDU or a bare command_status),
  or None and answers later with ``respond()`` (once it has stored what came, say).
  Unanswered requests count against ``max_pending_requests``; past it reading pauses.
- **Malformed PDUs** get a generic_nack with the decoder's command_status and the sequence
  number (ESME_RINVCMDID for unknown commands); the link stays up. A command_length that
  cannot be a PDU's loses the framing: generic_nack, then close.
- **Writes** made in one loop iteration go out in one ``transport.write``; while the
  transport's buffer is over its high-water mark the window hands out no slot.
- **Timers** are constructor parameters (below); see docs/explanation/smpp.md for why.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import structlog

from hongyan.smpp.binding import Bind, BindMode, Role, bind_accepted, bind_mode, refusal
from hongyan.smpp.codec import decode, encode, next_sequence, response_to
from hongyan.smpp.constants import RESPONSE_BIT, CommandStatus
from hongyan.smpp.errors import (
    BindFailedError,
    PduError,
    SessionClosedError,
    SessionError,
    WindowFullError,
)
from hongyan.smpp.keepalive import Keepalive
from hongyan.smpp.link import FramedLink
from hongyan.smpp.pdu import (
    PDU_CLASSES,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    Outbind,
    Pdu,
    Unbind,
    UnbindResp,
)
from hongyan.smpp.window import RequestWindow

__all__ = ["CloseHandler", "RequestHandler", "SmppSession"]

log = structlog.get_logger("hongyan.smpp.session")

S = CommandStatus
RequestHandler = Callable[["SmppSession", Pdu], "Pdu | int | None"]
CloseHandler = Callable[["SmppSession", BaseException | None], None]


def _refuse_all(session: SmppSession, pdu: Pdu) -> int:
    return S.ESME_RSYSERR  # a session built without on_request serves nothing


class SmppSession(FramedLink):
    """An SMPP link (see the module docstring); build it in a protocol factory."""

    def __init__(
        self,
        on_request: RequestHandler | None = None,
        *,
        on_close: CloseHandler | None = None,
        window: int = 10,  # our unanswered requests at most; carriers allow about 10
        max_pending_requests: int = 100,  # peer's requests the app has not answered; past
        # this we stop reading, so a slow store slows the peer instead of filling memory
        response_timeout_secs: float = 10.0,  # a request unanswered this long fails (and frees
        # its slot); SMSCs answer in milliseconds, a loaded one in seconds
        enquire_link_secs: float = 30.0,  # keepalive after this long without hearing from the
        # peer; lower it if the SMSC (or a NAT/firewall on the way) drops idle binds
        enquire_link_timeout_secs: float = 10.0,  # nothing back within this after a keepalive:
        # the peer or the path is dead, so drop the link and let the owner reconnect
        bind_timeout_secs: float | None = 30.0,  # close a connection not bound within this, so
        # scanners and half-open sockets do not hold server slots; None: no limit
        unbind_timeout_secs: float = 5.0,  # on unbind, how long in-flight requests and the
        # app's pending answers get to finish before the link closes anyway
        max_command_length: int = 70_000,  # longer frames are garbage (64 KiB payload + fields)
        initial_sequence_number: int = 1,
        name: str = "smpp",  # in log lines: the connector or tenant this link belongs to
    ) -> None:
        super().__init__(max_command_length=max_command_length)
        self._on_request: RequestHandler = on_request or _refuse_all
        self._on_close = on_close
        self._window = RequestWindow(self._loop, size=window, timeout_secs=response_timeout_secs)
        self._keepalive = Keepalive(
            self._loop,
            idle_secs=enquire_link_secs,
            timeout_secs=enquire_link_timeout_secs,
            probe=self._send_enquire_link,
            on_dead=self._link_dead,
        )
        self.max_pending_requests = max_pending_requests
        self.bind_timeout_secs = bind_timeout_secs
        self.unbind_timeout_secs = unbind_timeout_secs
        self.name = name
        self._seq = initial_sequence_number - 1
        self._pending: set[int] = set()  # sequence numbers of the peer's requests not answered
        self._unbinding = False  # we sent (or are about to send) unbind
        self._peer_unbind_seq: int | None = None  # the peer's unbind we still have to answer
        self._drain_waiter: asyncio.Future[None] | None = None
        self._binding: Bind | None = None  # our bind request awaiting its response
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self.bound: BindMode | None = None
        self.role: Role | None = None  # our side of the link, once bound
        self.system_id = ""  # the ESME's system_id on this bind

    # -- FramedLink hooks ------------------------------------------------------------------

    def _on_connected(self) -> None:
        self._keepalive.start()
        if self.bind_timeout_secs is not None:
            self._arm("bind", self.bind_timeout_secs, self._bind_timeout)

    def data_received(self, data: bytes) -> None:
        self._keepalive.last_heard = self._loop.time()
        super().data_received(data)

    def pause_writing(self) -> None:
        self._window.block(True)

    def resume_writing(self) -> None:
        self._window.block(False)

    def _on_disconnected(self, exc: Exception | None) -> None:
        self._keepalive.stop()
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._window.close(SessionClosedError(f"link closed: {exc or 'closed'}"))
        self._pending.clear()
        self.bound = None
        self._wake_drain()
        if self._on_close is not None:
            self._on_close(self, exc)

    def _on_framing_lost(self, exc: PduError) -> None:
        self._write(encode(GenericNack(exc.sequence_number, exc.command_status)))
        self.close()

    # -- public API ---------------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        """True while the link can carry new requests (connected, not closing or unbinding)."""
        return (
            self._transport is not None
            and not self._closing
            and not self._unbinding
            and self._peer_unbind_seq is None
        )

    @property
    def outstanding(self) -> int:
        """How many of our requests wait for a response."""
        return len(self._window)

    def send(self, pdu: Pdu) -> asyncio.Future[Pdu]:
        """Send a request now; the future resolves with its response.

        Raises:
            SessionClosedError: the link is closed, closing or unbinding.
            SessionError: not bound yet (``bind()`` first).
            WindowFullError: no free slot (``await wait_for_window()`` first).
            PduEncodeError: a field of ``pdu`` does not fit; nothing was sent.
        """
        self._check_open()
        if self.bound is None:
            raise SessionError("not bound")
        if not self._window.has_room():
            raise WindowFullError(f"{len(self._window)} requests outstanding")
        return self._send_request(pdu)

    async def wait_for_window(self) -> None:
        """Return when ``send()`` has a free slot; raise SessionClosedError if it never will."""
        self._check_open()
        await self._window.wait_for_room()
        self._check_open()

    async def request(self, pdu: Pdu) -> Pdu:
        """Wait for a window slot, send, and return the response PDU."""
        await self.wait_for_window()
        return await self.send(pdu)

    def post(self, pdu: Pdu) -> None:
        """Send a PDU that gets no response (outbind)."""
        self._check_open()
        pdu.sequence_number = self._next_seq()
        self._write(encode(pdu))

    async def bind(self, pdu: Bind) -> Pdu:
        """Bind as an ESME; return the bind response or raise ``BindFailedError``."""
        self._check_open()
        if self.bound is not None:
            raise SessionError(f"already bound as {self.bound}")
        self._binding = pdu  # marked bound as its response is read, see _on_response
        try:
            response = await self._send_request(pdu)
        finally:
            self._binding = None
        if response.command_status != S.ESME_ROK:
            raise BindFailedError(response.command_status)
        return response

    def respond(self, request: Pdu, response: Pdu | int) -> None:
        """Answer a request handed to ``on_request``: a response PDU or a bare command_status."""
        self._pending.discard(request.sequence_number)
        if not self._writable:
            return  # too late: the peer will send it again on another link
        if isinstance(response, int):
            response = response_to(request, response)
        response.sequence_number = request.sequence_number
        try:
            data = encode(response)
        except PduError:
            self._write(encode(response_to(request, S.ESME_RSYSERR)))
            raise
        self._write(data)
        if response.command_status == S.ESME_ROK and bind_mode(request) is not None:
            self._mark_bound(request, "smsc")
        self._after_answer()

    async def unbind(self) -> None:
        """Let in-flight requests finish (up to unbind_timeout_secs), unbind, and close."""
        if self._transport is None:
            return
        if self._closing or self._unbinding:
            return await self.wait_closed()
        self._unbinding = True
        try:
            await asyncio.wait_for(self._drained(), self.unbind_timeout_secs)
        except TimeoutError:
            log.warning("smpp.unbind_timeout", link=self.name, outstanding=len(self._window))
        if not self._closing and self.bound is not None:
            with contextlib.suppress(SessionError):  # no answer, or the peer closed first
                await self._send_request(Unbind())
        self.close()
        await self.wait_closed()

    # -- sending ------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if not self.is_open:
            raise SessionClosedError("closing" if self._transport else "not connected")

    def _next_seq(self) -> int:
        seq = next_sequence(self._seq)
        while seq in self._window.outstanding:  # only after a wrap, with ancient requests
            seq = next_sequence(seq)
        self._seq = seq
        return seq

    def _send_request(self, pdu: Pdu) -> asyncio.Future[Pdu]:
        pdu.sequence_number = self._next_seq()
        data = encode(pdu)  # before taking a slot, so a PDU that cannot be encoded takes none
        future = self._window.add(pdu)
        self._write(data)
        return future

    def _send_enquire_link(self) -> int:
        seq = self._next_seq()
        self._write(encode(EnquireLink(seq)))
        return seq

    # -- receiving ----------------------------------------------------------------------------

    def _on_frame(self, frame: bytes) -> None:
        try:
            pdu = decode(frame)
        except PduError as exc:
            self._on_bad_pdu(exc)
            return
        if pdu.command_id & RESPONSE_BIT:
            self._on_response(pdu)
        else:
            self._on_incoming(pdu)

    def _on_bad_pdu(self, exc: PduError) -> None:
        log.warning("smpp.bad_pdu", link=self.name, error=str(exc), seq=exc.sequence_number)
        if exc.command_id & RESPONSE_BIT and exc.command_id in PDU_CLASSES:
            # A response we cannot read fails its request; a nack would answer an answer.
            self._window.fail(exc.sequence_number, exc)
            self._after_answer()
            return
        self._write(encode(GenericNack(exc.sequence_number, exc.command_status)))

    def _on_response(self, pdu: Pdu) -> None:
        if self._keepalive.answered(pdu.sequence_number):
            return
        binding = self._binding
        if binding is not None and bind_accepted(binding, pdu):
            # Bound from this PDU on: an SMSC may send deliver_sm right behind bind_resp, in
            # the same read, before the coroutine awaiting bind() runs again.
            self._mark_bound(binding, "esme")
        if not self._window.resolve(pdu.sequence_number, pdu):
            log.info("smpp.stray_response", link=self.name, seq=pdu.sequence_number)
        self._after_answer()

    def _on_incoming(self, pdu: Pdu) -> None:
        if isinstance(pdu, EnquireLink):
            self._write(encode(EnquireLinkResp(pdu.sequence_number)))
            return
        if isinstance(pdu, Unbind):
            self._on_peer_unbind(pdu)
            return
        status: int = S.ESME_RINVBNDSTS  # after the peer's unbind, nothing new is taken
        if self._peer_unbind_seq is None:
            status = refusal(pdu, bound=self.bound, role=self.role)
        if status:
            self._write(encode(response_to(pdu, status)))
            return
        if not isinstance(pdu, Outbind):
            self._pending.add(pdu.sequence_number)
            if len(self._pending) >= self.max_pending_requests:
                self._pause_reading()
        self._dispatch(pdu)

    def _dispatch(self, pdu: Pdu) -> None:
        try:
            result = self._on_request(self, pdu)
        except Exception:
            log.exception("smpp.handler_failed", link=self.name, command=type(pdu).__name__)
            result = S.ESME_RSYSERR
        if result is not None and not isinstance(pdu, Outbind):
            self.respond(pdu, result)

    # -- flow control, binding, unbinding -----------------------------------------------------

    def _after_answer(self) -> None:
        """Resume reading once the app caught up; finish a peer's unbind once drained."""
        if self._reading_paused and len(self._pending) <= self.max_pending_requests // 2:
            self._resume_reading()
        if self._pending or self._window:
            return
        self._wake_drain()
        if self._peer_unbind_seq is not None:
            self._finish_peer_unbind()

    def _wake_drain(self) -> None:
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_result(None)

    def _mark_bound(self, request: Pdu, role: Role) -> None:
        self.bound = bind_mode(request)
        self.role = role
        self.system_id = getattr(request, "system_id", "")
        timer = self._timers.pop("bind", None)
        if timer is not None:
            timer.cancel()

    def _on_peer_unbind(self, pdu: Unbind) -> None:
        if self._unbinding or self.bound is None:
            # Both sides unbinding at once, or nothing bound: answer now.
            self._write(encode(UnbindResp(pdu.sequence_number)))
            return
        self._peer_unbind_seq = pdu.sequence_number
        self._arm("unbind", self.unbind_timeout_secs, self._finish_peer_unbind)
        self._after_answer()

    def _finish_peer_unbind(self) -> None:
        seq, self._peer_unbind_seq = self._peer_unbind_seq, None
        if seq is None:
            return
        self._unbinding = True  # nothing new goes out after the answer
        self._write(encode(UnbindResp(seq)))
        self.close()

    async def _drained(self) -> None:
        """Return when our requests are answered and so are the peer's (by the app)."""
        await self._window.wait_empty()
        while self._pending and not self._closing:
            self._drain_waiter = self._loop.create_future()
            await self._drain_waiter

    # -- timers -------------------------------------------------------------------------------

    def _arm(self, name: str, delay_secs: float, callback: Callable[[], None]) -> None:
        old = self._timers.pop(name, None)
        if old is not None:
            old.cancel()
        if not self._closing:
            self._timers[name] = self._loop.call_later(delay_secs, callback)

    def _link_dead(self) -> None:
        log.warning("smpp.enquire_link_timeout", link=self.name, peer=self.peer)
        self.abort()

    def _bind_timeout(self) -> None:
        self._timers.pop("bind", None)
        if self.bound is None and not self._unbinding:
            log.info("smpp.bind_timeout", link=self.name, peer=self.peer)
            self.close()
