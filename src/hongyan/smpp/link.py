"""The byte side of an SMPP link: whole frames in, coalesced writes out, pausable reading.

``FramedLink`` is an ``asyncio.Protocol`` that knows nothing of SMPP beyond command_length:
it cuts what it reads into frames and hands each to ``_on_frame``; ``SmppSession`` builds the
protocol on top. Writes made during one loop iteration leave in a single
``transport.write`` (a window of submits, or the answers to forty deliver_sm of one read,
cost one system call). Reading can be paused by the layer above: frames already read stay
buffered and are handled on resume, so pausing takes effect at once.

After every read the link asks Linux for an immediate ACK (``TCP_QUICKACK``), see
``_ack_now``.
"""

from __future__ import annotations

import asyncio
import socket
from contextlib import suppress
from typing import Any, ClassVar

import structlog

from hongyan.smpp.errors import PduError
from hongyan.smpp.framing import FrameBuffer

__all__ = ["FramedLink"]

log = structlog.get_logger("hongyan.smpp.link")

# Linux only; None elsewhere (macOS and Windows have no such option).
_TCP_QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)


def _tcp_socket(transport: asyncio.BaseTransport) -> Any:
    """The transport's socket if TCP_QUICKACK applies to it (TCP on Linux), else None."""
    sock = transport.get_extra_info("socket")
    if _TCP_QUICKACK is None or sock is None:
        return None
    return sock if sock.family in (socket.AF_INET, socket.AF_INET6) else None


class FramedLink(asyncio.Protocol):
    """Frames in, bytes out, over one transport."""

    # Off only to measure without it (bench/proto_quickack.py).
    quick_ack: ClassVar[bool] = True

    def __init__(self, *, max_command_length: int) -> None:
        self._loop = asyncio.get_running_loop()
        self._frames = FrameBuffer(max_command_length)
        self._transport: asyncio.Transport | None = None
        self._out: list[bytes] = []
        self._flush_handle: asyncio.Handle | None = None
        self._reading_paused = False
        self._processing = False
        self._closing = False
        self._closed: asyncio.Future[None] = self._loop.create_future()
        self.peer: object = None  # the remote address, (host, port)
        self._tcp: Any = None  # the TCP socket, when TCP_QUICKACK can be set on it

    # -- hooks for the layer above -------------------------------------------------------------

    def _on_frame(self, frame: bytes) -> None:
        raise NotImplementedError

    def _on_framing_lost(self, exc: PduError) -> None:
        """The stream cannot be cut into PDUs any more; by default, close."""
        self.close()

    def _on_connected(self) -> None:
        """Called once the transport is there."""

    def _on_disconnected(self, exc: Exception | None) -> None:
        """Called once the connection is lost."""

    # -- asyncio.Protocol ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self.peer = transport.get_extra_info("peername")
        self._tcp = _tcp_socket(transport)
        self._on_connected()

    def data_received(self, data: bytes) -> None:
        if self._tcp is not None and self.quick_ack:
            self._ack_now()
        self._frames.feed(data)
        if not self._processing:
            self._process()

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        self._on_disconnected(exc)
        if not self._closed.done():
            self._closed.set_result(None)

    # -- reading -----------------------------------------------------------------------------

    def _ack_now(self) -> None:
        """ACK what was just read at once instead of up to 40 ms later.

        Linux delays an ACK while it hopes to piggyback it on data going the other way. A
        peer that leaves Nagle's algorithm on (smpp34's SMSC does; SMSCs that never set
        TCP_NODELAY would too) sends the first answer of a window at once and holds the rest
        until that ACK arrives; we write a whole window in one write and then only wait, so
        nothing carries the ACK: ~40 ms lost per window. Measured with smpp34's SMSC: the
        connector's rate doubled (bench/proto_quickack.py, docs/benchmarks.md S3); against a
        peer with Nagle off, no change. Linux clears the flag by itself, so it is set again
        on every read: one setsockopt per read, not per PDU.
        """
        assert _TCP_QUICKACK is not None
        with suppress(OSError):  # the socket went away under us: connection_lost follows
            self._tcp.setsockopt(socket.IPPROTO_TCP, _TCP_QUICKACK, 1)

    def _process(self) -> None:
        """Handle the whole frames received, until reading is paused or the bytes run out."""
        self._processing = True
        try:
            while not self._reading_paused and not self._closing:
                try:
                    frame = self._frames.next_frame()
                except PduError as exc:
                    log.warning("smpp.framing_lost", error=str(exc), peer=self.peer)
                    self._on_framing_lost(exc)
                    return
                if frame is None:
                    return
                self._on_frame(frame)
        finally:
            self._processing = False

    def _pause_reading(self) -> None:
        if not self._reading_paused and self._transport is not None:
            self._reading_paused = True
            self._transport.pause_reading()

    def _resume_reading(self) -> None:
        if not self._reading_paused:
            return
        self._reading_paused = False
        if not self._processing:
            self._process()  # what was read before the pause first
        if not self._reading_paused and self._transport is not None:
            self._transport.resume_reading()

    # -- writing and closing -----------------------------------------------------------------------

    @property
    def _writable(self) -> bool:
        return self._transport is not None and not self._transport.is_closing()

    def _write(self, data: bytes) -> None:
        self._out.append(data)
        if self._flush_handle is None:
            self._flush_handle = self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if not self._out:
            return
        data = self._out[0] if len(self._out) == 1 else b"".join(self._out)
        self._out.clear()
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        """Close the connection once what is queued is written."""
        self._closing = True
        self._flush()
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()

    def abort(self) -> None:
        """Drop the connection at once, discarding what is queued."""
        self._closing = True
        if self._transport is not None:
            self._transport.abort()

    async def wait_closed(self) -> None:
        """Return once the connection is lost."""
        await asyncio.shield(self._closed)
