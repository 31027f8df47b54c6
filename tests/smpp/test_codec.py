"""The PDU codec: golden bytes from the spec, round trips, leniency, and the typed errors."""

from __future__ import annotations

import struct

import pytest

from hongyan.smpp import (
    EMPTY_TLVS,
    BindTransceiver,
    BindTransceiverResp,
    CommandId,
    CommandLengthError,
    CommandStatus,
    CStringError,
    DeliverSmResp,
    EnquireLink,
    GenericNack,
    NetworkErrorCode,
    PduEncodeError,
    PduError,
    SubmitSm,
    SubmitSmResp,
    Tlv,
    TlvError,
    Tlvs,
    TruncatedPduError,
    UnknownCommandError,
    command_name,
    decode,
    decode_header,
    encode,
    next_sequence,
    response_to,
    status_name,
)
from tests.smpp.samples import SAMPLES

S = CommandStatus


def header(command_id: int, body: bytes = b"", *, status: int = 0, seq: int = 1) -> bytes:
    return struct.pack(">IIII", 16 + len(body), command_id, status, seq) + body


# Hand-assembled from SMPP 3.4 section 4, independent of the encoder under test.
GOLDEN = [
    ("enquire_link", EnquireLink(1), bytes.fromhex("00000010 00000015 00000000 00000001")),
    (
        "bind_transceiver",
        BindTransceiver(2, system_id="abc", password="pw", system_type="", addr_ton=1),
        header(0x09, b"abc\0pw\0\0\x34\x01\x00\0", seq=2),
    ),
    (
        "submit_sm",
        SubmitSm(
            3,
            source_addr="123",
            dest_addr_ton=1,
            dest_addr_npi=1,
            destination_addr="8613800138000",
            registered_delivery=1,
            short_message=b"hi",
        ),
        header(
            0x04,
            b"\0\x00\x00123\0\x01\x018613800138000\0\x00\x00\x00\0\0\x01\x00\x00\x00\x02hi",
            seq=3,
        ),
    ),
    (
        "submit_sm_with_tlvs",
        SubmitSm(4, tlvs=Tlvs(sar_msg_ref_num=0x0102, sar_total_segments=3, sar_segment_seqnum=1)),
        header(
            0x04,
            bytes(17)  # every mandatory field empty or 0, sm_length 0
            + bytes.fromhex("020C 0002 0102 020E 0001 03 020F 0001 01"),
            seq=4,
        ),
    ),
    ("submit_sm_resp", SubmitSmResp(5, message_id="X1"), header(0x80000004, b"X1\0", seq=5)),
    (
        "submit_sm_resp_error_has_no_body",
        SubmitSmResp(6, S.ESME_RTHROTTLED, message_id="ignored"),
        header(0x80000004, status=0x58, seq=6),
    ),
    ("generic_nack", GenericNack(7, S.ESME_RINVCMDID), header(0x80000000, status=3, seq=7)),
]


@pytest.mark.parametrize(("pdu", "wire"), [g[1:] for g in GOLDEN], ids=[g[0] for g in GOLDEN])
def test_golden_bytes(pdu: object, wire: bytes) -> None:
    assert encode(pdu) == wire  # type: ignore[arg-type]
    decoded = decode(wire)
    assert decoded.sequence_number == pdu.sequence_number  # type: ignore[attr-defined]
    assert encode(decoded) == wire


@pytest.mark.parametrize("name", list(SAMPLES))
def test_samples_round_trip(name: str) -> None:
    pdu = SAMPLES[name]
    wire = encode(pdu)
    assert decode(wire) == pdu
    assert decode(bytearray(wire)) == pdu
    assert decode(memoryview(wire)) == pdu
    assert decode_header(wire) == (
        len(wire),
        pdu.command_id,
        pdu.command_status,
        pdu.sequence_number,
    )


def test_unknown_tlvs_are_kept_byte_for_byte_after_known_ones() -> None:
    vendor = (Tlv(0x1403, b"\xaa\xbb"), Tlv(0x2150, b""), Tlv(0x020C, b"\x00\x07"))
    wire = header(
        0x04,
        bytes(17)  # mandatory fields all empty or 0, sm_length 0
        + bytes.fromhex("1403 0002 AABB")
        + bytes.fromhex("020C 0002 0005")
        + bytes.fromhex("2150 0000")
        + bytes.fromhex("020C 0002 0007"),  # a repeated known tag is kept raw
    )
    pdu = decode(wire)
    assert pdu.tlvs.sar_msg_ref_num == 5
    assert pdu.tlvs.unknown == vendor
    again = encode(pdu)
    assert decode(again) == pdu
    assert again.endswith(bytes.fromhex("020C 0002 0005 1403 0002 AABB 2150 0000 020C 0002 0007"))


def test_typed_tlv_values() -> None:
    tlvs = Tlvs(
        receipted_message_id="abc",
        message_state=5,
        network_error_code=NetworkErrorCode(3, 0x0102),
        qos_time_to_live=86400,
        alert_on_message_delivery=True,
        message_payload=b"\x00\x01",
        callback_num=b"\x01\x01123",
    )
    pdu = decode(encode(SubmitSm(1, tlvs=tlvs)))
    assert pdu.tlvs == tlvs
    assert "message_state=5" in repr(pdu.tlvs) and "dpf_result" not in repr(pdu.tlvs)


def test_receipted_message_id_without_nul_is_accepted() -> None:
    wire = header(0x05, bytes(17) + bytes.fromhex("001E 0003") + b"abc")
    assert decode(wire).tlvs.receipted_message_id == "abc"


def test_responses_with_empty_or_bad_body_and_an_error_status_decode_bare() -> None:
    empty = decode(header(0x80000005, seq=9))  # deliver_sm_resp without its NUL: common
    assert empty == DeliverSmResp(9)
    bad = decode(header(0x80000009, b"no nul here", status=0x0E, seq=3))
    assert bad == BindTransceiverResp(3, S.ESME_RINVPASWD)
    assert bad.tlvs is EMPTY_TLVS


BAD = [
    ("short_header", b"\x00\x00\x00\x10\x00", TruncatedPduError, S.ESME_RINVCMDLEN),
    (
        "length_too_small",
        struct.pack(">IIII", 12, 0x15, 0, 1),
        CommandLengthError,
        S.ESME_RINVCMDLEN,
    ),
    (
        "length_mismatch",
        struct.pack(">IIII", 17, 0x15, 0, 1),
        CommandLengthError,
        S.ESME_RINVCMDLEN,
    ),
    ("unknown_command", header(0x0000_0099), UnknownCommandError, S.ESME_RINVCMDID),
    ("replace_sm_not_decoded", header(0x07, b"x\0"), UnknownCommandError, S.ESME_RINVCMDID),
    ("missing_nul", header(0x02, b"hongyan"), CStringError, S.ESME_RINVSYSID),
    (
        "system_id_too_long",
        header(0x02, b"x" * 16 + b"\0pw\0\0\x34\0\0\0"),
        CStringError,
        S.ESME_RINVSYSID,
    ),
    (
        "dest_too_long",
        header(0x04, b"\0\0\0\0\0\0" + b"1" * 21 + b"\0"),
        CStringError,
        S.ESME_RINVDSTADR,
    ),
    ("truncated_u8", header(0x02, b"a\0b\0c\0\x34"), TruncatedPduError, S.ESME_RINVCMDLEN),
    (
        "sm_length_past_end",
        header(0x04, bytes(16) + b"\x05ab"),
        TruncatedPduError,
        S.ESME_RINVMSGLEN,
    ),
    ("tlv_header_cut", header(0x04, bytes(17) + b"\x02"), TlvError, S.ESME_RINVOPTPARSTREAM),
    (
        "tlv_value_cut",
        header(0x04, bytes(17) + b"\x04\x24\x00\x09ab"),
        TlvError,
        S.ESME_RINVOPTPARSTREAM,
    ),
    (
        "tlv_bad_size",
        header(0x04, bytes(17) + b"\x04\x27\x00\x02\x00\x01"),
        TlvError,
        S.ESME_RINVOPTPARAMVAL,
    ),
    ("stray_bytes_after_enquire_link", header(0x15, b"\x01"), TlvError, S.ESME_RINVOPTPARSTREAM),
]


@pytest.mark.parametrize(("data", "error", "status"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_malformed_input_raises_typed_errors(
    data: bytes, error: type[PduError], status: int
) -> None:
    with pytest.raises(error) as caught:
        decode(data)
    assert caught.value.command_status == status
    if len(data) >= 16:
        assert caught.value.sequence_number == struct.unpack(">I", data[12:16])[0]
        assert caught.value.command_id == struct.unpack(">I", data[4:8])[0]


ENCODE_ERRORS = [
    ("source_addr_too_long", SubmitSm(source_addr="1" * 21)),
    ("nul_in_string", SubmitSm(source_addr="a\0b")),
    ("not_latin1", SubmitSm(source_addr="鸿雁")),
    ("short_message_too_long", SubmitSm(short_message=bytes(255))),
    ("u8_out_of_range", SubmitSm(esm_class=256)),
    ("str_for_int", SubmitSm(esm_class="1")),  # type: ignore[arg-type]
    ("negative_sequence", EnquireLink(-1)),
    ("tlv_u16_out_of_range", SubmitSm(tlvs=Tlvs(sar_msg_ref_num=70000))),
    ("tlv_payload_too_long", SubmitSm(tlvs=Tlvs(message_payload=bytes(70000)))),
    ("tlv_unknown_tag_too_big", SubmitSm(tlvs=Tlvs(unknown=(Tlv(0x10000, b""),)))),
]


@pytest.mark.parametrize("pdu", [e[1] for e in ENCODE_ERRORS], ids=[e[0] for e in ENCODE_ERRORS])
def test_values_that_do_not_fit_raise_encode_error(pdu: SubmitSm) -> None:
    with pytest.raises(PduEncodeError):
        encode(pdu)
    assert issubclass(PduEncodeError, ValueError)


def test_sequence_numbers_wrap_to_one() -> None:
    assert next_sequence(0) == 1
    assert next_sequence(41) == 42
    assert next_sequence(0x7FFFFFFF) == 1


def test_response_to_and_names() -> None:
    assert response_to(SubmitSm(12), S.ESME_RTHROTTLED) == SubmitSmResp(12, S.ESME_RTHROTTLED)
    assert response_to(GenericNack(3)) == GenericNack(3)  # nothing answers a nack: nack again
    assert status_name(0x58) == "ESME_RTHROTTLED" and status_name(0x401) == "0x00000401"
    assert command_name(CommandId.DELIVER_SM_RESP) == "deliver_sm_resp"
    assert command_name(0x1234) == "0x00001234"
    assert SubmitSmResp().is_response and not SubmitSm().is_response


def test_named_statuses_match_the_spec() -> None:
    assert (S.ESME_RTHROTTLED, S.ESME_RMSGQFUL, S.ESME_RINVDSTADR) == (0x58, 0x14, 0x0B)
    assert (S.ESME_RBINDFAIL, S.ESME_RINVPASWD, S.ESME_RSUBMITFAIL) == (0x0D, 0x0E, 0x45)
    assert (S.ESME_RINVCMDID, S.ESME_RINVCMDLEN, S.ESME_RSYSERR) == (0x03, 0x02, 0x08)
