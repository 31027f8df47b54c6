"""Our session as an ESME against a real peer: the SMSC server of ``smpp34`` (Rust-backed).

smpp34's server accepts every bind, hands each submit_sm to Python to accept or reject, and
sends deliver_sm on request; it speaks its own Rust codec, so every PDU here crosses two
independent implementations.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest

from hongyan.kit.segments import Encoding, encode_part, split, udh_concat
from hongyan.smpp import (
    BindTransceiver,
    CommandStatus,
    DeliverSm,
    DeliverSmResp,
    Pdu,
    SessionClosedError,
    SmppSession,
    SubmitSm,
    SubmitSmResp,
    Tlvs,
    receipt_from_pdu,
)
from hongyan.smpp.net import connect
from hongyan.smpp.tlv import encode_tlvs
from tests.smpp.peers import Proxy, eventually

smpp34 = pytest.importorskip("smpp34")
S = CommandStatus


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Inbox:
    """Our ESME's on_request: keeps deliver_sm and acknowledges once 'stored' (by the test)."""

    def __init__(self) -> None:
        self.pdus: list[Pdu] = []

    def __call__(self, session: SmppSession, pdu: Pdu) -> None:
        self.pdus.append(pdu)

    def store_all(self, session: SmppSession) -> None:
        for pdu in self.pdus:
            session.respond(pdu, DeliverSmResp())


@pytest.fixture
async def simulator() -> AsyncIterator[tuple[Any, int]]:
    port = _free_port()
    server = smpp34.Server(host="127.0.0.1", port=port, system_id="SIM")
    await server.start()
    yield server, port
    await server.stop()


async def _bound(port: int, inbox: Inbox, **options: Any) -> SmppSession:
    session = await connect("127.0.0.1", port, on_request=inbox, **options)
    await session.bind(BindTransceiver(system_id="hongyan", password="pw", system_type="SMS"))
    return session


async def _next(server: Any, kind: type) -> Any:
    event = await asyncio.wait_for(server.next(), 5)
    assert isinstance(event, kind), event
    return event


def mt(body: bytes = b"hi", **fields: Any) -> SubmitSm:
    return SubmitSm(
        source_addr="Hongyan",
        dest_addr_ton=1,
        dest_addr_npi=1,
        destination_addr="8613800138000",
        registered_delivery=1,
        short_message=body,
        **fields,
    )


async def test_bind_submit_and_receipt_back(simulator: tuple[Any, int]) -> None:
    server, port = simulator
    inbox = Inbox()
    session = await _bound(port, inbox)
    esme = await _next(server, smpp34.Esme)
    assert esme.system_id == "hongyan" and esme.can_receive
    sent = session.send(mt(b"Your code is 123456"))
    event = await _next(server, smpp34.SubmitSmEvent)
    assert (event.destination_addr, event.short_message) == (
        "8613800138000",
        b"Your code is 123456",
    )
    assert (event.dest_addr_ton, event.registered_delivery) == (1, 1)
    event.accept("5f3a")
    response = await sent
    assert isinstance(response, SubmitSmResp) and response.message_id == "5f3a"

    text = (
        b"id:5f3a sub:001 dlvrd:001 submit date:2401021530 done date:2401021531 stat:DELIVRD"
        b" err:000 text:Your code is 123456"
    )
    delivering = asyncio.ensure_future(
        esme.deliver_sm(
            "Hongyan",
            text,
            source_addr="8613800138000",
            esm_class=0x04,
            tlvs=[
                smpp34.Tlv(smpp34.TLV_RECEIPTED_MESSAGE_ID, b"5f3a\x00"),
                smpp34.Tlv(smpp34.TLV_MESSAGE_STATE, b"\x02"),
            ],
        )
    )
    await eventually(lambda: len(inbox.pdus) == 1)
    assert not delivering.done()  # not acknowledged before it is stored
    receipt = receipt_from_pdu(inbox.pdus[0])  # type: ignore[arg-type]
    assert receipt is not None and (receipt.message_id, receipt.status) == ("5f3a", "delivered")
    inbox.store_all(session)
    assert (await asyncio.wait_for(delivering, 5)).is_success
    await session.unbind()
    await _next(server, smpp34.Unbound)


async def test_long_messages_udh_sar_and_payload(simulator: tuple[Any, int]) -> None:
    server, port = simulator
    session = await _bound(port, Inbox())
    await _next(server, smpp34.Esme)
    text = "鸿雁传书，" * 30  # 150 UCS-2 characters: 3 parts of at most 67
    parts = split(text, Encoding.UCS2)
    pdus = [
        mt(
            udh_concat(0x42, len(parts), i + 1) + encode_part(part, Encoding.UCS2),
            esm_class=0x40,
            data_coding=8,
        )
        for i, part in enumerate(parts)
    ]
    pdus.append(
        mt(b"part", tlvs=Tlvs(sar_msg_ref_num=7, sar_total_segments=2, sar_segment_seqnum=1))
    )
    pdus.append(mt(b"", tlvs=Tlvs(message_payload=text.encode("utf-16-be")), data_coding=8))
    futures = [session.send(pdu) for pdu in pdus]
    arrived = [await _next(server, smpp34.SubmitSmEvent) for _ in pdus]
    events = [_matching(arrived, pdu) for pdu in pdus]  # smpp34 may hand them over reordered
    for i, event in enumerate(events):
        event.accept(f"id{i}")
    # Each response reaches the request it answers, whatever order they come back in.
    assert [r.message_id for r in await asyncio.gather(*futures)] == [f"id{i}" for i in range(5)]  # type: ignore[attr-defined]
    rebuilt = "".join(e.short_message[6:].decode("utf-16-be") for e in events[:3])
    assert rebuilt == text and all(e.esm_class == 0x40 for e in events[:3])
    assert {t.tag: t.value for t in events[3].tlvs} == {
        0x020C: b"\x00\x07",
        0x020E: b"\x02",
        0x020F: b"\x01",
    }
    assert events[4].tlvs[0].tag == 0x0424 and events[4].tlvs[0].value.decode("utf-16-be") == text
    await session.unbind()


def _matching(events: list[Any], pdu: SubmitSm) -> Any:
    tlvs = encode_tlvs(pdu.tlvs)
    for event in events:
        if (
            event.short_message == pdu.short_message
            and b"".join(
                t.tag.to_bytes(2, "big") + len(t.value).to_bytes(2, "big") + t.value
                for t in event.tlvs
            )
            == tlvs
        ):
            return event
    raise AssertionError(f"no event for {pdu}")


async def test_throttled_and_queue_full_answers(simulator: tuple[Any, int]) -> None:
    server, port = simulator
    session = await _bound(port, Inbox())
    await _next(server, smpp34.Esme)
    first, second = session.send(mt(b"first")), session.send(mt(b"second"))
    answers = {b"first": smpp34.ESME_RTHROTTLED, b"second": smpp34.ESME_RMSGQFUL}
    for _ in range(2):
        event = await _next(server, smpp34.SubmitSmEvent)
        event.reject(answers[event.short_message])
    assert [(await first).command_status, (await second).command_status] == [
        S.ESME_RTHROTTLED,
        S.ESME_RMSGQFUL,
    ]
    await session.unbind()


async def test_mo_message_in_ucs2(simulator: tuple[Any, int]) -> None:
    server, port = simulator
    inbox = Inbox()
    session = await _bound(port, inbox)
    esme = await _next(server, smpp34.Esme)
    delivering = asyncio.ensure_future(
        esme.deliver_sm(
            "106900001234", "退订".encode("utf-16-be"), source_addr="8613800138000", data_coding=8
        )
    )
    await eventually(lambda: len(inbox.pdus) == 1)
    mo = inbox.pdus[0]
    assert isinstance(mo, DeliverSm) and receipt_from_pdu(mo) is None
    assert (mo.source_addr, mo.destination_addr, mo.short_message.decode("utf-16-be")) == (
        "8613800138000",
        "106900001234",
        "退订",
    )
    inbox.store_all(session)
    assert (await asyncio.wait_for(delivering, 5)).is_success
    await session.unbind()


async def test_a_burst_through_window_ten(simulator: tuple[Any, int]) -> None:
    server, port = simulator
    session = await _bound(port, Inbox(), window=10)
    await _next(server, smpp34.Esme)

    async def accept_all() -> int:
        for n in range(300):
            (await _next(server, smpp34.SubmitSmEvent)).accept(f"x{n}")
        return 300

    acceptor = asyncio.ensure_future(accept_all())
    futures = []
    for i in range(300):  # one coroutine sends; the window paces it
        await session.wait_for_window()
        assert session.outstanding < 10
        futures.append(session.send(mt(str(i).encode())))
    responses = await asyncio.gather(*futures)
    assert await acceptor == 300
    assert sorted(r.message_id for r in responses) == sorted(f"x{n}" for n in range(300))  # type: ignore[attr-defined]
    await session.unbind()


async def test_keepalive_against_smpp34(simulator: tuple[Any, int]) -> None:
    server, port = simulator
    # Unanswered, a probe would drop the link after 0.1 s; it stays up because smpp34 answers.
    session = await _bound(port, Inbox(), enquire_link_secs=0.05, enquire_link_timeout_secs=0.1)
    await _next(server, smpp34.Esme)
    await asyncio.sleep(0.5)
    assert session.is_open
    submit = mt()
    pending = session.send(submit)
    assert submit.sequence_number > 4  # bind was 1: the probes took the numbers between
    (await _next(server, smpp34.SubmitSmEvent)).accept("after-keepalive")
    assert (await pending).message_id == "after-keepalive"  # type: ignore[attr-defined]
    await session.unbind()


async def test_link_dropped_mid_window_fails_in_flight_requests(simulator: tuple[Any, int]) -> None:
    server, port = simulator
    proxy = await Proxy(port).start()
    closed: list[BaseException | None] = []
    session = await _bound(proxy.port, Inbox(), on_close=lambda s, e: closed.append(e))
    await _next(server, smpp34.Esme)
    in_flight = [session.send(mt(str(i).encode())) for i in range(5)]
    taken = [await _next(server, smpp34.SubmitSmEvent) for _ in range(5)]  # never answered
    proxy.cut()
    for future in in_flight:  # the caller learns the outcome is unknown, for each of them
        with pytest.raises(SessionClosedError):
            await asyncio.wait_for(future, 10)
    assert len(closed) == 1 and not session.is_open
    assert len(taken) == 5
    await proxy.stop()
