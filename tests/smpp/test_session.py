"""The session over real loopback sockets: our client <-> our server, and a raw-byte peer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from hongyan.smpp import (
    BindFailedError,
    BindReceiver,
    BindTransceiver,
    BindTransceiverResp,
    CommandStatus,
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    Pdu,
    ResponseTimeoutError,
    SessionClosedError,
    SessionError,
    SmppSession,
    SubmitSm,
    SubmitSmResp,
    Unbind,
    UnbindResp,
    WindowFullError,
    encode,
)
from hongyan.smpp.net import connect
from tests.smpp.peers import PASSWORD, RawPeer, Smsc, client, eventually

S = CommandStatus


def mt(text: str = "hi") -> SubmitSm:
    return SubmitSm(
        source_addr="Hongyan", destination_addr="8613800138000", short_message=text.encode()
    )


@pytest.fixture
async def smsc() -> AsyncIterator[Smsc]:
    server = await Smsc().start()
    yield server
    await server.stop()


async def test_bind_submit_and_unbind(smsc: Smsc) -> None:
    closed: list[SmppSession] = []
    session = await client(smsc.port, on_close=lambda s, exc: closed.append(s))
    assert session.bound == "transceiver" and session.role == "esme"
    await eventually(lambda: bool(smsc.sessions) and smsc.sessions[0].bound is not None)
    assert smsc.sessions[0].role == "smsc" and smsc.sessions[0].system_id == "esme"
    response = await session.request(mt())
    assert isinstance(response, SubmitSmResp) and response.message_id == "m1"
    await session.unbind()
    assert closed == [session] and not session.is_open
    await eventually(lambda: smsc.closed == smsc.sessions)


async def test_wrong_password_and_requests_before_bind(smsc: Smsc) -> None:
    session = await connect("127.0.0.1", smsc.port)
    with pytest.raises(BindFailedError) as refused:
        await session.bind(BindTransceiver(system_id="esme", password="wrong"))
    assert refused.value.command_status == S.ESME_RINVPASWD
    with pytest.raises(SessionError):
        session.send(mt())  # not bound: refused locally
    session.close()
    raw = await RawPeer.connect(smsc.port)
    await raw.send(SubmitSm(5))  # not bound: the server refuses it
    assert await raw.read() == SubmitSmResp(5, S.ESME_RINVBNDSTS)
    assert smsc.received == [BindTransceiver(1, system_id="esme", password="wrong")]
    raw.close()


async def test_framing_many_pdus_per_read_and_one_pdu_over_many_reads(smsc: Smsc) -> None:
    raw = await RawPeer.connect(smsc.port)
    await raw.send(
        b"".join(
            encode(p)
            for p in [
                BindTransceiver(1, system_id="r", password=PASSWORD),
                *(SubmitSm(n) for n in (2, 3, 4)),
            ]
        )
    )
    answers = [await raw.read() for _ in range(4)]
    assert [a.sequence_number for a in answers] == [1, 2, 3, 4]
    assert isinstance(answers[0], BindTransceiverResp) and answers[0].command_status == 0
    for byte in encode(SubmitSm(5, short_message=b"dribbled")):
        await raw.send(bytes([byte]))
    assert (await raw.read()).sequence_number == 5
    assert smsc.received[-1] == SubmitSm(5, short_message=b"dribbled")
    raw.close()


async def test_window_full_then_wait_for_window(smsc: Smsc) -> None:
    smsc.hold = True
    session = await client(smsc.port, window=3)
    futures = [session.send(mt(str(i))) for i in range(3)]
    with pytest.raises(WindowFullError):
        session.send(mt("4th"))
    waiter = asyncio.ensure_future(session.wait_for_window())
    await eventually(lambda: len(smsc.held) == 3)
    assert not waiter.done() and session.outstanding == 3
    smsc.answer_held(1)
    await asyncio.wait_for(waiter, 5)
    futures.append(session.send(mt("4th")))
    await eventually(lambda: len(smsc.held) == 3)
    smsc.answer_held()
    responses = await asyncio.gather(*futures)
    assert [r.command_status for r in responses] == [0, 0, 0, 0]
    await session.unbind()


async def test_many_requests_through_a_small_window(smsc: Smsc) -> None:
    session = await client(smsc.port, window=4)
    futures: list[asyncio.Future[Pdu]] = []
    for i in range(200):  # one coroutine, no task per message
        await session.wait_for_window()
        assert session.outstanding < 4
        futures.append(session.send(mt(str(i))))
    responses = await asyncio.gather(*futures)
    assert sorted(int(r.message_id[1:]) for r in responses if isinstance(r, SubmitSmResp)) == list(
        range(1, 201)
    )
    await session.unbind()


async def test_response_timeout_frees_the_slot_and_ignores_a_late_answer(smsc: Smsc) -> None:
    smsc.hold = True
    session = await client(smsc.port, window=1, response_timeout_secs=0.2)
    with pytest.raises(ResponseTimeoutError):
        await session.send(mt())
    assert session.outstanding == 0
    smsc.answer_held()  # the late answer is dropped, not matched to anything else
    smsc.hold = False
    response = await session.request(mt("next"))
    assert isinstance(response, SubmitSmResp) and response.message_id != "late"
    await session.unbind()


class ScriptedSmsc:
    """A raw-socket SMSC: answers the bind, then whatever ``answer`` returns (None: nothing)."""

    def __init__(self, answer: Callable[[Pdu], Pdu | None]) -> None:
        self.answer = answer
        self.seen: list[Pdu] = []
        self.port = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> ScriptedSmsc:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = RawPeer(reader, writer)
        try:
            bind = await peer.read()
            await peer.send(BindTransceiverResp(bind.sequence_number, system_id="scripted"))
            while True:
                pdu = await peer.read(timeout_secs=10)
                self.seen.append(pdu)
                if (response := self.answer(pdu)) is not None:
                    await peer.send(response)
        except (asyncio.IncompleteReadError, ConnectionError, TimeoutError):
            peer.close()


def _enquire_link_only(pdu: Pdu) -> Pdu | None:
    return EnquireLinkResp(pdu.sequence_number) if isinstance(pdu, EnquireLink) else None


async def test_enquire_link_after_idleness_keeps_the_link() -> None:
    async with ScriptedSmsc(_enquire_link_only) as smsc:
        session = await client(smsc.port, enquire_link_secs=0.05, enquire_link_timeout_secs=0.5)
        await eventually(lambda: len(smsc.seen) >= 3)  # several probes, each answered
        assert all(isinstance(p, EnquireLink) for p in smsc.seen) and session.is_open
        session.close()


async def test_enquire_link_unanswered_drops_the_link() -> None:
    async with ScriptedSmsc(lambda pdu: None) as smsc:
        closed: list[BaseException | None] = []
        session = await client(
            smsc.port,
            enquire_link_secs=0.05,
            enquire_link_timeout_secs=0.1,
            on_close=lambda s, e: closed.append(e),
        )
        pending = session.send(mt())  # never answered either
        await asyncio.wait_for(session.wait_closed(), 5)
        assert len(closed) == 1 and not session.is_open
        with pytest.raises(SessionClosedError):
            await pending
        assert [type(p) for p in smsc.seen] == [SubmitSm, EnquireLink]


async def test_deliver_sm_in_the_same_read_as_bind_resp_is_taken() -> None:
    """SMSCs push queued receipts right behind bind_resp; they must not be refused."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = RawPeer(reader, writer)
        bind = await peer.read()
        answer = BindTransceiverResp(bind.sequence_number, system_id="eager")
        await peer.send(encode(answer) + encode(DeliverSm(1, esm_class=4, short_message=b"id:1")))
        got.append(await peer.read())
        peer.close()

    got: list[Pdu] = []
    inbox: list[Pdu] = []
    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    session = await client(
        server.sockets[0].getsockname()[1], on_request=lambda s, p: inbox.append(p)
    )
    await eventually(lambda: len(inbox) == 1)
    session.respond(inbox[0], DeliverSmResp())
    await eventually(lambda: len(got) == 1)
    assert got == [DeliverSmResp(1)]
    session.close()
    server.close()


async def test_a_response_of_the_wrong_kind_fails_the_request() -> None:
    async with ScriptedSmsc(lambda pdu: DeliverSmResp(pdu.sequence_number)) as smsc:
        session = await client(smsc.port)
        with pytest.raises(SessionError, match="deliver_sm_resp came where submit_sm_resp was due"):
            await session.request(mt())
        generic = ScriptedSmsc(lambda pdu: GenericNack(pdu.sequence_number, S.ESME_RSYSERR))
        async with generic:
            other = await client(generic.port)
            assert await other.request(mt()) == GenericNack(2, S.ESME_RSYSERR)
            other.close()
        session.close()


async def test_we_answer_enquire_link_before_and_after_bind(smsc: Smsc) -> None:
    raw = await RawPeer.connect(smsc.port)
    await raw.send(EnquireLink(7))
    assert await raw.read() == EnquireLinkResp(7)
    await raw.bind()
    await raw.send(EnquireLink(8))
    assert await raw.read() == EnquireLinkResp(8)
    raw.close()


GARBAGE = [
    # a command Hongyan does not decode
    (bytes.fromhex("00000010 00000099 00000000 0000002A"), S.ESME_RINVCMDID),
    # a submit_sm whose service_type runs off the end without its NUL
    (bytes.fromhex("00000013 00000004 00000000 0000002A") + b"CMT", S.ESME_RINVSERTYP),
]


@pytest.mark.parametrize(("data", "status"), GARBAGE, ids=["unknown_command", "bad_c_string"])
async def test_garbage_gets_generic_nack_and_the_link_stays(
    smsc: Smsc, data: bytes, status: int
) -> None:
    raw = await RawPeer.connect(smsc.port)
    await raw.bind()
    await raw.send(data)
    assert await raw.read() == GenericNack(0x2A, status)
    await raw.send(SubmitSm(43))
    assert (await raw.read()).sequence_number == 43
    raw.close()


async def test_broken_framing_gets_generic_nack_then_close(smsc: Smsc) -> None:
    raw = await RawPeer.connect(smsc.port)
    await raw.bind()
    await raw.send(b"\x00\x00\x00\x05\x00\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00\x09")
    assert await raw.read() == GenericNack(9, S.ESME_RINVCMDLEN)
    assert await raw.at_eof()
    raw.close()


async def test_unbound_or_wrong_mode_requests_are_refused_by_the_session(smsc: Smsc) -> None:
    session = await connect("127.0.0.1", smsc.port)
    await session.bind(BindReceiver(system_id="esme", password=PASSWORD))
    response = await session.request(mt())  # a receiver may not submit
    assert response == SubmitSmResp(response.sequence_number, S.ESME_RINVBNDSTS)
    raw = await RawPeer.connect(smsc.port)
    await raw.bind()
    await raw.send(BindTransceiver(2, system_id="again", password=PASSWORD))
    assert (await raw.read()).command_status == S.ESME_RALYBND
    await raw.send(DeliverSm(3))  # an ESME does not send deliver_sm
    assert await raw.read() == DeliverSmResp(3, S.ESME_RINVBNDSTS)
    raw.close()
    await session.unbind()


async def test_handler_errors_become_esme_rsyserr(smsc: Smsc) -> None:
    def broken(session: SmppSession, pdu: Pdu) -> None:
        raise RuntimeError("boom")

    smsc.policy = broken
    session = await client(smsc.port)
    response = await session.request(mt())
    assert response.command_status == S.ESME_RSYSERR
    await session.unbind()


async def test_sequence_numbers_wrap(smsc: Smsc) -> None:
    session = await client(smsc.port, initial_sequence_number=0x7FFFFFFF)
    await session.request(mt())
    assert [p.sequence_number for p in smsc.received] == [0x7FFFFFFF, 1]
    await session.unbind()


async def test_slow_app_pauses_reading(smsc: Smsc) -> None:
    smsc.hold = True
    smsc.options = {"max_pending_requests": 4}
    session = await client(smsc.port, window=20)
    futures = [session.send(mt(str(i))) for i in range(20)]
    await eventually(lambda: len(smsc.held) == 4)
    await asyncio.sleep(0.05)
    assert len(smsc.held) == 4  # the rest waits in buffers, not in the app
    smsc.answer_held(2)  # down to half: reading resumes
    await eventually(lambda: len(smsc.held) == 4 and len(smsc.received) >= 7)
    while len(smsc.received) < 21 or smsc.held:
        smsc.answer_held()
        await asyncio.sleep(0.005)
    assert all(r.command_status == 0 for r in await asyncio.gather(*futures))
    await session.unbind()


async def test_peer_unbind_waits_for_the_app_to_answer(smsc: Smsc) -> None:
    smsc.hold = True
    raw = await RawPeer.connect(smsc.port)
    await raw.bind()
    await raw.send(SubmitSm(2))
    await eventually(lambda: len(smsc.held) == 1)
    await raw.send(Unbind(3))
    await raw.send(SubmitSm(4))  # after its own unbind: refused
    assert await raw.read() == SubmitSmResp(4, S.ESME_RINVBNDSTS)
    smsc.answer_held()
    assert await raw.read() == SubmitSmResp(2, message_id="late")
    assert await raw.read() == UnbindResp(3)
    assert await raw.at_eof()
    raw.close()


async def test_our_unbind_finishes_in_flight_requests_first(smsc: Smsc) -> None:
    smsc.hold = True
    session = await client(smsc.port)
    in_flight = session.send(mt())
    unbinding = asyncio.ensure_future(session.unbind())
    await eventually(lambda: len(smsc.held) == 1)
    with pytest.raises(SessionClosedError):
        session.send(mt())  # nothing new once unbinding
    smsc.answer_held()
    assert (await in_flight).command_status == 0
    await asyncio.wait_for(unbinding, 5)
    await eventually(lambda: smsc.closed == smsc.sessions)  # the server answered our unbind


async def test_unbind_gives_up_waiting_after_its_timeout(smsc: Smsc) -> None:
    smsc.hold = True  # and never answers: both sides give up after their unbind_timeout_secs
    smsc.options = {"unbind_timeout_secs": 0.1}
    session = await client(smsc.port, unbind_timeout_secs=0.1)
    in_flight = session.send(mt())
    await asyncio.wait_for(session.unbind(), 5)
    with pytest.raises(SessionClosedError):
        await in_flight  # the outcome is unknown to the caller: it must not assume either


async def test_server_side_deliver_and_delayed_ack(smsc: Smsc) -> None:
    acks: list[Pdu] = []

    def store_later(session: SmppSession, pdu: Pdu) -> None:
        acks.append(pdu)  # acknowledged only once "stored", below

    session = await client(smsc.port, on_request=store_later)
    await eventually(lambda: bool(smsc.sessions) and smsc.sessions[-1].bound is not None)
    server_side = smsc.sessions[-1]
    delivery = server_side.send(
        DeliverSm(source_addr="8613800138000", esm_class=4, short_message=b"id:m1 stat:DELIVRD")
    )
    await eventually(lambda: len(acks) == 1)
    assert not delivery.done()
    session.respond(acks[0], DeliverSmResp())
    assert (await delivery).command_status == 0
    await session.unbind()


async def test_connection_lost_fails_outstanding_requests(smsc: Smsc) -> None:
    smsc.hold = True
    closed: list[BaseException | None] = []
    session = await client(smsc.port, window=3, on_close=lambda s, e: closed.append(e))
    futures = [session.send(mt()) for _ in range(3)]
    blocked = asyncio.ensure_future(session.wait_for_window())
    await eventually(lambda: len(smsc.held) == 3)
    smsc.sessions[-1].abort()
    for future in [*futures, blocked]:
        with pytest.raises(SessionClosedError):
            await future
    assert len(closed) == 1
    with pytest.raises(SessionClosedError):
        session.send(mt())
    with pytest.raises(SessionClosedError):
        await session.wait_for_window()


async def test_unbound_connections_are_closed_after_bind_timeout(smsc: Smsc) -> None:
    smsc.options = {"bind_timeout_secs": 0.05}
    raw = await RawPeer.connect(smsc.port)
    assert await raw.at_eof()
    raw.close()
