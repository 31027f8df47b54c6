"""Test peers on 127.0.0.1: an SMSC built on our session, and a raw-socket peer for bytes."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hongyan.smpp import (
    BindTransceiver,
    CommandStatus,
    Pdu,
    SmppSession,
    SubmitSm,
    SubmitSmResp,
    decode,
    encode,
)
from hongyan.smpp.binding import bind_mode
from hongyan.smpp.net import connect, serve

PASSWORD = "secret"
Policy = Callable[[SmppSession, Pdu], "Pdu | int | None"]


@dataclass
class Smsc:
    """An SMSC on our own session: checks the password, answers or holds what comes in."""

    hold: bool = False  # keep requests unanswered (in ``held``) instead of answering
    policy: Policy | None = None  # overrides the default answer to non-bind requests
    options: dict[str, Any] = field(default_factory=dict)  # SmppSession keyword arguments
    received: list[Pdu] = field(default_factory=list)
    held: list[tuple[SmppSession, Pdu]] = field(default_factory=list)
    sessions: list[SmppSession] = field(default_factory=list)
    closed: list[SmppSession] = field(default_factory=list)
    server: asyncio.Server | None = None
    port: int = 0
    _counter: int = 0

    async def start(self) -> Smsc:
        self.server = await serve("127.0.0.1", 0, self._session)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        for session in self.sessions:
            session.abort()
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    def _session(self) -> SmppSession:
        session = SmppSession(
            self._on_request, on_close=lambda s, exc: self.closed.append(s), **self.options
        )
        self.sessions.append(session)
        return session

    def _on_request(self, session: SmppSession, pdu: Pdu) -> Pdu | int | None:
        self.received.append(pdu)
        mode = bind_mode(pdu)
        if mode is not None:
            ok = getattr(pdu, "password", None) == PASSWORD
            response = type(pdu).response_class
            assert response is not None
            return response(system_id="HONGYAN") if ok else CommandStatus.ESME_RINVPASWD
        if self.policy is not None:
            return self.policy(session, pdu)
        if self.hold:
            self.held.append((session, pdu))
            return None
        self._counter += 1
        if isinstance(pdu, SubmitSm):
            return SubmitSmResp(message_id=f"m{self._counter}")
        return CommandStatus.ESME_ROK

    def answer_held(self, count: int | None = None) -> None:
        """Answer the held requests (the first ``count`` of them) with ESME_ROK."""
        take = self.held[:count] if count is not None else list(self.held)
        del self.held[: len(take)]
        for session, pdu in take:
            session.respond(
                pdu, SubmitSmResp(message_id="late") if isinstance(pdu, SubmitSm) else 0
            )


async def client(port: int, **options: Any) -> SmppSession:
    """Our session, connected and bound as a transceiver."""
    session = await connect("127.0.0.1", port, **options)
    await session.bind(BindTransceiver(system_id="esme", password=PASSWORD))
    return session


class RawPeer:
    """Bytes in and out over a plain socket, to see exactly what a session writes."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, port: int) -> RawPeer:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def send(self, data: bytes | Pdu) -> None:
        self.writer.write(data if isinstance(data, bytes) else encode(data))
        await self.writer.drain()

    async def read(self, timeout_secs: float = 5.0) -> Pdu:
        header = await asyncio.wait_for(self.reader.readexactly(16), timeout_secs)
        (length,) = struct.unpack(">I", header[:4])
        body = await asyncio.wait_for(self.reader.readexactly(length - 16), timeout_secs)
        return decode(header + body)

    async def at_eof(self, timeout_secs: float = 5.0) -> bool:
        return await asyncio.wait_for(self.reader.read(), timeout_secs) == b""

    async def bind(self) -> Pdu:
        await self.send(BindTransceiver(1, system_id="raw", password=PASSWORD))
        return await self.read()

    def close(self) -> None:
        self.writer.close()


async def eventually(check: Callable[[], bool], timeout_secs: float = 5.0) -> None:
    """Wait until check() holds (polling), failing after timeout_secs: no timing is asserted."""
    async with asyncio.timeout(timeout_secs):
        while not check():  # noqa: ASYNC110  # plain state of the code under test, no event
            await asyncio.sleep(0.005)


class Proxy:
    """A TCP relay to a real peer that a test can cut, as a network or an SMSC would."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> Proxy:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def cut(self) -> None:
        """Drop every relayed connection, both ways, at once."""
        for writer in self._writers:
            writer.transport.abort()
        self._writers.clear()

    async def stop(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self._writers += [writer, up_writer]
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.transport.abort()
