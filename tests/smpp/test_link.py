"""The byte link over real sockets: whole frames in, and an immediate ACK after every TCP read.

Why the ACK matters (a peer with Nagle's algorithm on holds its answers until it gets one) is
measured by ``bench/proto_quickack.py``, not here: tests assert no timings. Here: it is asked
for after every read of a TCP link, on Linux, and never on other sockets.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from hongyan.smpp.link import FramedLink

pytestmark = pytest.mark.skipif(
    not hasattr(socket, "TCP_QUICKACK"), reason="TCP_QUICKACK is Linux's"
)

FRAMES = 5


def enquire_link(seq: int) -> bytes:
    """A header-only PDU: command_length 16, enquire_link, status 0, the sequence number."""
    return struct.pack(">IIII", 16, 0x15, 0, seq)


class Recorder(FramedLink):
    """Keeps the frames; counts reads and the ACKs asked for."""

    def __init__(self) -> None:
        super().__init__(max_command_length=1024)
        self.frames: list[bytes] = []
        self.reads = 0
        self.acks = 0
        self.got_all = asyncio.Event()

    def _on_frame(self, frame: bytes) -> None:
        self.frames.append(frame)
        self._write(b"k")  # the peer sends the next frame only then: one read each
        if len(self.frames) == FRAMES:
            self.got_all.set()

    def data_received(self, data: bytes) -> None:
        self.reads += 1
        super().data_received(data)

    def _ack_now(self) -> None:
        self.acks += 1
        super()._ack_now()  # the real setsockopt, on the real socket


class Silent(Recorder):
    quick_ack = False


async def send_frames(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Each frame once the previous one was taken in, the last a byte at a time."""
    for seq in range(1, FRAMES):
        writer.write(enquire_link(seq))
        await reader.readexactly(1)
    for byte in enquire_link(FRAMES):
        writer.write(bytes([byte]))
        await writer.drain()


Connect = Callable[[Callable[[], Recorder]], Awaitable[Recorder]]


@pytest.fixture
async def over_tcp() -> AsyncIterator[Connect]:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await send_frames(reader, writer)
        await reader.read()  # until the link closes
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]

    async def connect(make: Callable[[], Recorder]) -> Recorder:
        _, link = await asyncio.get_running_loop().create_connection(make, "127.0.0.1", port)
        return link

    yield connect
    server.close()
    await server.wait_closed()


async def received(link: Recorder) -> Recorder:
    await asyncio.wait_for(link.got_all.wait(), timeout=10)
    link.close()
    await link.wait_closed()
    return link


async def test_every_read_of_a_tcp_link_asks_for_an_immediate_ack(over_tcp: Connect) -> None:
    link = await received(await over_tcp(Recorder))

    assert link.frames == [enquire_link(seq) for seq in range(1, FRAMES + 1)]
    assert link.reads >= FRAMES and link.acks == link.reads  # one per read, however many frames


async def test_the_ack_can_be_turned_off(over_tcp: Connect) -> None:
    link = await received(await over_tcp(Silent))

    assert len(link.frames) == FRAMES and link.reads >= 1 and link.acks == 0


async def test_a_unix_socket_link_never_asks(tmp_path: Path) -> None:
    path = str(tmp_path / "link.sock")

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await send_frames(reader, writer)
        await reader.read()
        writer.close()

    server = await asyncio.start_unix_server(serve, path)
    try:
        _, link = await asyncio.get_running_loop().create_unix_connection(Recorder, path)
        await received(link)
    finally:
        server.close()
        await server.wait_closed()

    assert len(link.frames) == FRAMES and link.reads >= 1 and link.acks == 0
