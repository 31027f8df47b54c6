"""Concatenated MO messages through the SMPP connector, sent by smpp34's SMSC as deliver_sm.

Parts tied by a UDH (8- or 16-bit reference) or by the SAR TLVs become one inbound message,
whatever order they come in; none of their deliver_sm is answered before that message is
stored; when a part never comes, each part that came is delivered alone.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hongyan.kit.segments import udh_concat
from tests.smpp.peers import eventually

smpp34 = pytest.importorskip("smpp34")
from tests.connectors.test_smpp_connector import SmscPeer, started  # noqa: E402

SENDER = "8613800138000"
TO = "106900001234"
TEXT = "鸿雁传书，千里寄情。" * 5  # 50 UCS-2 characters


def cut(text: str, size: int) -> list[bytes]:
    body = text.encode("utf-16-be")
    return [body[i : i + size] for i in range(0, len(body), size)]


async def deliver(peer: SmscPeer, short_message: bytes, **fields: Any) -> Any:
    return await peer.esmes[0].deliver_sm(
        TO, short_message, source_addr=SENDER, source_addr_ton=1, data_coding=8, **fields
    )


@pytest.mark.parametrize("sixteen_bit", [False, True])
async def test_udh_parts_out_of_order_become_one_message(sixteen_bit: bool) -> None:
    # 33 bytes a part: a UCS-2 character split between parts 1 and 2 survives the join.
    bodies = cut(TEXT, 33)
    total = len(bodies)
    async with SmscPeer() as peer, started(peer.port) as (_, collector):
        await eventually(lambda: len(peer.esmes) == 1)
        udhs = [
            udh_concat(300 if sixteen_bit else 7, total, i + 1, sixteen_bit=sixteen_bit)
            for i in range(total)
        ]
        first = [
            asyncio.ensure_future(deliver(peer, udhs[i] + bodies[i], esm_class=0x40))
            for i in reversed(range(1, total))
        ]
        await asyncio.sleep(0.05)
        assert not any(f.done() for f in first)  # held: nothing stored yet, nothing answered
        assert collector.inbound == []
        last = await deliver(peer, udhs[0] + bodies[0], esm_class=0x40)
        answers = [last, *await asyncio.gather(*first)]
        assert all(a.is_success for a in answers)
        [mo] = collector.inbound
        assert (mo.msisdn, mo.to, mo.text) == (f"+{SENDER}", TO, TEXT)


async def test_sar_parts_become_one_message() -> None:
    bodies = cut(TEXT, 40)

    def sar(seq: int) -> list[Any]:
        return [
            smpp34.Tlv(smpp34.TLV_SAR_MSG_REF_NUM, (513).to_bytes(2, "big")),
            smpp34.Tlv(smpp34.TLV_SAR_TOTAL_SEGMENTS, bytes([len(bodies)])),
            smpp34.Tlv(smpp34.TLV_SAR_SEGMENT_SEQNUM, bytes([seq])),
        ]

    async with SmscPeer() as peer, started(peer.port) as (_, collector):
        await eventually(lambda: len(peer.esmes) == 1)
        answers = await asyncio.gather(
            *(deliver(peer, body, tlvs=sar(i + 1)) for i, body in enumerate(bodies))
        )
        assert all(a.is_success for a in answers)
        assert [mo.text for mo in collector.inbound] == [TEXT]


async def test_a_missing_part_lets_the_others_through_alone_after_the_hold() -> None:
    bodies = cut("第一段。第二段。第三段。", 8)  # 3 parts; the second never comes
    udhs = [udh_concat(9, 3, i + 1) for i in range(3)]
    async with (
        SmscPeer() as peer,
        started(peer.port, mo_reassembly_secs=0.3) as (_, collector),
    ):
        await eventually(lambda: len(peer.esmes) == 1)
        answers = await asyncio.gather(
            deliver(peer, udhs[0] + bodies[0], esm_class=0x40),
            deliver(peer, udhs[2] + bodies[2], esm_class=0x40),
        )
        assert all(a.is_success for a in answers)  # answered once the parts were stored
        assert [mo.text for mo in collector.inbound] == ["第一段。", "第三段。"]


async def test_reassembly_off_delivers_each_part() -> None:
    bodies = cut(TEXT, 40)
    udhs = [udh_concat(1, len(bodies), i + 1) for i in range(len(bodies))]
    async with SmscPeer() as peer, started(peer.port, mo_reassembly_secs=0) as (_, collector):
        await eventually(lambda: len(peer.esmes) == 1)
        for udh, body in zip(udhs, bodies, strict=True):
            assert (await deliver(peer, udh + body, esm_class=0x40)).is_success
        assert [mo.text for mo in collector.inbound] == [b.decode("utf-16-be") for b in bodies]
