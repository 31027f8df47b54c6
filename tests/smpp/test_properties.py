"""Property tests: generated PDUs round-trip; no input makes decode() raise but PduError."""

from __future__ import annotations

import struct
from dataclasses import fields
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from hongyan.smpp import NetworkErrorCode, Pdu, PduEncodeError, PduError, Tlv, Tlvs, decode, encode
from hongyan.smpp.framing import FrameBuffer
from hongyan.smpp.pdu import _CSTR, _NO_BODY_ON_ERROR, _U8, PDU_CLASSES
from hongyan.smpp.tlv import _SPECS
from tests.smpp.samples import SAMPLES

KNOWN_TAGS = {tag for tag, _, _ in _SPECS}
U32 = st.integers(0, 0xFFFFFFFF)
_TLV_VALUES: dict[int, st.SearchStrategy[Any]] = {
    0: st.integers(0, 0xFF),  # u8
    1: st.integers(0, 0xFFFF),  # u16
    2: U32,
    3: st.text(st.characters(min_codepoint=1, max_codepoint=255), max_size=64),  # C-string
    4: st.binary(max_size=300),  # octets
    5: st.builds(NetworkErrorCode, st.integers(0, 0xFF), st.integers(0, 0xFFFF)),
    6: st.just(True),  # a flag TLV is present or absent
}


@st.composite
def tlvs(draw: st.DrawFn) -> Tlvs:
    chosen = draw(st.lists(st.sampled_from(_SPECS), max_size=5, unique=True))
    known = {name: draw(_TLV_VALUES[kind]) for _, name, kind in chosen}
    unknown_tag = st.integers(0, 0xFFFF).filter(lambda tag: tag not in KNOWN_TAGS)
    unknown = draw(st.lists(st.builds(Tlv, unknown_tag, st.binary(max_size=20)), max_size=3))
    return Tlvs(**known, unknown=tuple(unknown))


def _field_value(field: tuple[str, int, int, int]) -> st.SearchStrategy[Any]:
    _, kind, size, _ = field
    if kind == _CSTR:
        return st.text(st.characters(min_codepoint=1, max_codepoint=255), max_size=size - 1)
    if kind == _U8:
        return st.integers(0, 0xFF)
    return st.binary(max_size=size)


@st.composite
def pdus(draw: st.DrawFn) -> Pdu:
    cls = draw(st.sampled_from(sorted(PDU_CLASSES.values(), key=lambda c: c.command_id)))
    body = {field[0]: draw(_field_value(field)) for field in cls._body}
    status = draw(st.one_of(st.just(0), U32))
    return cls(draw(U32), status, draw(tlvs()), **body)  # type: ignore[arg-type]


def _as_received(pdu: Pdu) -> Pdu:
    """What the peer decodes: an error response of these kinds travels without a body."""
    if pdu.command_status and type(pdu) in _NO_BODY_ON_ERROR:
        return type(pdu)(pdu.sequence_number, pdu.command_status)
    return pdu


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(pdus())
def test_generated_pdus_round_trip(pdu: Pdu) -> None:
    wire = encode(pdu)
    assert len(wire) == struct.unpack(">I", wire[:4])[0]
    assert decode(wire) == _as_received(pdu)


def _decode_only_pdu_errors(data: bytes) -> None:
    try:
        pdu = decode(data)
    except PduError:
        return
    try:  # whatever decodes must encode again (or refuse with the typed error) and re-decode
        again = encode(pdu)
    except PduEncodeError:
        return
    assert decode(again) == _as_received(pdu)


@settings(max_examples=500)
@given(st.binary(max_size=300))
@example(b"")
@example(b"\x00" * 16)
def test_arbitrary_bytes_raise_only_pdu_error(data: bytes) -> None:
    _decode_only_pdu_errors(data)


@settings(max_examples=500)
@given(st.sampled_from(sorted(PDU_CLASSES)), U32, U32, st.binary(max_size=200))
def test_well_framed_garbage_bodies_raise_only_pdu_error(
    command_id: int, status: int, seq: int, body: bytes
) -> None:
    _decode_only_pdu_errors(struct.pack(">IIII", 16 + len(body), command_id, status, seq) + body)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(encode(draw(st.sampled_from(list(SAMPLES.values())))))
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["flip", "cut", "insert", "delete"]))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if action == "flip" and data:
            data[pos] ^= draw(st.integers(1, 255))
        elif action == "cut":
            del data[pos:]
        elif action == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=4))
        elif data:
            del data[pos]
    if draw(st.booleans()) and len(data) >= 4:  # keep command_length consistent half the time
        data[:4] = len(data).to_bytes(4, "big")
    return bytes(data)


@settings(max_examples=1000)
@given(mutated())
def test_mutated_valid_pdus_raise_only_pdu_error(data: bytes) -> None:
    _decode_only_pdu_errors(data)


@settings(max_examples=200)
@given(st.lists(pdus(), min_size=1, max_size=8), st.data())
def test_framing_any_split_of_a_stream_gives_the_same_pdus(
    pdus_: list[Pdu], data: st.DataObject
) -> None:
    stream = b"".join(encode(p) for p in pdus_)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    frames = FrameBuffer(max_command_length=1 << 20)
    got: list[Pdu] = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        frames.feed(stream[start:end])
        while (frame := frames.next_frame()) is not None:
            got.append(decode(frame))
    assert got == [_as_received(p) for p in pdus_]
    assert len(frames) == 0


def test_every_tlv_field_has_a_generator() -> None:
    names = {f.name for f in fields(Tlvs)} - {"unknown"}
    assert names == {name for _, name, _ in _SPECS}
