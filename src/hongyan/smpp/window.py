"""The window of outstanding requests of one SMPP session: a future per request, one timer.

Every request sent waits for its response in ``outstanding`` (sequence_number -> future and
deadline). All requests of a session share one response timeout, so deadlines grow with
insertion order and the oldest entry is the next to expire: a single ``call_at`` timer aimed
at it replaces a timer (or a Task) per request. When it fires it fails what is overdue with
``ResponseTimeoutError`` and re-aims at the new oldest entry.

Senders that find the window full wait in a FIFO of futures, woken one per freed slot.
"""

from __future__ import annotations

import asyncio
from collections import deque

from hongyan.smpp.constants import RESPONSE_BIT, CommandId, command_name
from hongyan.smpp.errors import ResponseTimeoutError, SessionError
from hongyan.smpp.pdu import Pdu

__all__ = ["RequestWindow"]


class RequestWindow:
    """Outstanding requests, their deadlines, and the senders waiting for a free slot."""

    def __init__(self, loop: asyncio.AbstractEventLoop, *, size: int, timeout_secs: float) -> None:
        if size < 1:
            raise ValueError("window size must be at least 1")
        self._loop = loop
        self.size = size
        self.timeout_secs = timeout_secs
        # sequence_number -> (future, deadline, command_id of the expected response)
        self.outstanding: dict[int, tuple[asyncio.Future[Pdu], float, int]] = {}
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._empty_waiters: list[asyncio.Future[None]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._blocked = False  # the transport asked us to stop writing
        self._closed: BaseException | None = None

    def __len__(self) -> int:
        return len(self.outstanding)

    def has_room(self) -> bool:
        """True when a request may be sent now without waiting."""
        return len(self.outstanding) < self.size and not self._blocked

    def add(self, request: Pdu) -> asyncio.Future[Pdu]:
        """Register a sent request; its future resolves with the response PDU."""
        future: asyncio.Future[Pdu] = self._loop.create_future()
        deadline = self._loop.time() + self.timeout_secs
        expected = request.command_id | RESPONSE_BIT
        self.outstanding[request.sequence_number] = (future, deadline, expected)
        if self._timer is None:
            self._timer = self._loop.call_at(deadline, self._expire)
        return future

    def resolve(self, seq: int, response: Pdu) -> bool:
        """Hand a response to the request it answers; False when none is waiting for it.

        A response of the wrong kind (a deliver_sm_resp to a submit_sm, say) fails the request
        with ``SessionError``: what the peer did with it is unknown.
        """
        entry = self.outstanding.pop(seq, None)
        if entry is None:
            return False
        future, _, expected = entry
        if future.done():
            pass
        elif response.command_id in (expected, CommandId.GENERIC_NACK):
            future.set_result(response)
        else:
            wrong = command_name(response.command_id)
            due = command_name(expected)
            future.set_exception(SessionError(f"{wrong} came where {due} was due"))
        self._freed()
        return True

    def fail(self, seq: int, exc: BaseException) -> bool:
        """Fail one outstanding request; False when it is not outstanding."""
        entry = self.outstanding.pop(seq, None)
        if entry is None:
            return False
        if not entry[0].done():
            entry[0].set_exception(exc)
        self._freed()
        return True

    def close(self, exc: BaseException) -> None:
        """Fail every outstanding request and every waiter with exc; refuse new waits."""
        self._closed = exc
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        pending, self.outstanding = self.outstanding, {}
        for future, _, _ in pending.values():
            if not future.done():
                future.set_exception(exc)
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(exc)
        self._wake_empty()

    def block(self, blocked: bool) -> None:
        """Stop (or resume) handing out slots while the transport's write buffer is full."""
        self._blocked = blocked
        if not blocked:
            self._wake()

    async def wait_for_room(self) -> None:
        """Return when a slot is free; raise the close reason if the session closes first."""
        while not self.has_room():
            if self._closed is not None:
                raise self._closed
            waiter: asyncio.Future[None] = self._loop.create_future()
            self._waiters.append(waiter)
            await waiter
        if self._closed is not None:
            raise self._closed

    async def wait_empty(self) -> None:
        """Return when nothing is outstanding (or the window is closed)."""
        while self.outstanding and self._closed is None:
            waiter: asyncio.Future[None] = self._loop.create_future()
            self._empty_waiters.append(waiter)
            await waiter

    def _freed(self) -> None:
        self._wake()
        if not self.outstanding:
            self._wake_empty()

    def _wake(self) -> None:
        room = self.size - len(self.outstanding)
        while self._waiters and room > 0 and not self._blocked:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                room -= 1

    def _wake_empty(self) -> None:
        waiters, self._empty_waiters = self._empty_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _expire(self) -> None:
        """Fail the requests whose deadline has passed; aim the timer at the next one."""
        self._timer = None
        now = self._loop.time()
        expired: list[int] = []
        for seq, (_, deadline, _) in self.outstanding.items():
            if deadline > now:
                self._timer = self._loop.call_at(deadline, self._expire)
                break
            expired.append(seq)
        for seq in expired:
            future = self.outstanding.pop(seq)[0]
            if not future.done():
                future.set_exception(ResponseTimeoutError(f"no response in {self.timeout_secs} s"))
        if expired:
            self._freed()
