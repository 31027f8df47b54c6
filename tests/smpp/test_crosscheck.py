"""Our codec against two independent implementations from PyPI: smpp.pdu3 and smpp34.

- ``smpp.pdu3`` (Jasmin's fork of the Mozes/twisted smpp.pdu, pure Python) decodes and
  encodes every PDU used here into objects with enum-typed fields.
- ``smpp34`` (Rust-backed) exposes typed ``SubmitSm``/``DeliverSm`` with ``encode()`` and a
  ``decode()`` that parses those two; every other command comes back as ``RawPdu`` (header
  and unparsed body), so for them only the framing is checked here. Its full codec is met
  in tests/smpp/test_smpp34_peer.py, where our session talks to its server.

Each check runs both ways: our bytes decode to the same fields in theirs, and their bytes
decode to the same fields in ours.
"""

from __future__ import annotations

import io
from dataclasses import replace
from enum import Enum
from typing import Any

import pytest

from hongyan.smpp import DataSm, DeliverSm, Pdu, PduError, SubmitSm, decode, encode
from hongyan.smpp.constants import MessageState, Npi, Ton
from hongyan.smpp.pdu import _CSTR, _SM
from hongyan.smpp.tlv import encode_tlvs
from tests.smpp.samples import SAMPLES

pdu3_encoding = pytest.importorskip("smpp.pdu.pdu_encoding")
smpp34 = pytest.importorskip("smpp34")

_ENUMS_BY_FIELD: dict[str, type[Enum]] = {
    "addr_ton": Ton,
    "source_addr_ton": Ton,
    "dest_addr_ton": Ton,
    "addr_npi": Npi,
    "source_addr_npi": Npi,
    "dest_addr_npi": Npi,
    "message_state": MessageState,
}


def _pdu3_decode(wire: bytes) -> Any:
    return pdu3_encoding.PDUEncoder().decode(io.BytesIO(wire))


def _pdu3_mandatory(theirs: Any, ours: Pdu) -> dict[str, Any]:
    """Their mandatory fields as wire values, through their own field encoders."""
    encoders = pdu3_encoding.PDUEncoder().getRequiredParamEncoders(theirs)
    values: dict[str, Any] = {}
    for name, kind, _, _ in type(ours)._body:
        value = theirs.params.get(name)
        if isinstance(value, Enum) and name in _ENUMS_BY_FIELD:
            values[name] = int(_ENUMS_BY_FIELD[name][value.name])  # the same name, the same code
        elif kind == _SM:
            values[name] = value
        else:
            raw = encoders[name].encode(value)
            values[name] = raw[:-1].decode("latin-1") if kind == _CSTR else raw[0]
    return values


def _pdu3_tlvs(theirs: Any) -> dict[int, bytes]:
    """Their optional parameters as raw (tag -> value bytes), through their TLV encoder."""
    from smpp.pdu.pdu_types import Option, Tag

    out: dict[int, bytes] = {}
    option_encoder = pdu3_encoding.OptionEncoder()
    for name in theirs.optionalParams:
        if name in theirs.params:
            raw = option_encoder.encode(Option(getattr(Tag, name), theirs.params[name]))
            out[int.from_bytes(raw[:2], "big")] = raw[4:]
    return out


def _our_tlvs(pdu: Pdu, *, known_only: bool) -> dict[int, bytes]:
    """Our TLVs as raw (tag -> value bytes), split out of our encoding."""
    raw = encode_tlvs(pdu.tlvs)
    out: dict[int, bytes] = {}
    pos = 0
    while pos < len(raw):
        tag, length = (
            int.from_bytes(raw[pos : pos + 2], "big"),
            int.from_bytes(raw[pos + 2 : pos + 4], "big"),
        )
        out[tag] = raw[pos + 4 : pos + 4 + length]
        pos += 4 + length
    unknown = {t.tag for t in pdu.tlvs.unknown}
    return {tag: value for tag, value in out.items() if not (known_only and tag in unknown)}


@pytest.mark.parametrize("name", list(SAMPLES))
def test_our_bytes_decode_to_the_same_fields_in_smpp_pdu3(name: str) -> None:
    ours = SAMPLES[name]
    theirs = _pdu3_decode(encode(ours))
    assert pdu3_encoding.constants.command_id_name_map[theirs.id.name] == ours.command_id
    assert theirs.seqNum == ours.sequence_number
    assert (
        pdu3_encoding.constants.command_status_name_map[theirs.status.name] == ours.command_status
    )
    if ours.command_status and not theirs.params:
        return  # an error response sent without a body (4.1.2, 4.4.2): nothing more to see
    mandatory = {field[0]: getattr(ours, field[0]) for field in type(ours)._body}
    assert _pdu3_mandatory(theirs, ours) == mandatory
    # smpp.pdu3 drops vendor-specific TLVs on purpose ("vendor_specific_bypass").
    assert _pdu3_tlvs(theirs) == _our_tlvs(ours, known_only=True)


@pytest.mark.parametrize("name", list(SAMPLES))
def test_smpp_pdu3_encodings_decode_to_the_same_fields_in_ours(name: str) -> None:
    ours = SAMPLES[name]
    theirs = _pdu3_decode(encode(ours))
    wire = pdu3_encoding.PDUEncoder().encode(theirs)
    back = decode(wire)
    # They drop vendor TLVs on purpose, so those are the one expected difference.
    assert back == replace(ours, tlvs=replace(ours.tlvs, unknown=()))


_SMPP34_FIELDS = [
    "service_type",
    "source_addr_ton",
    "source_addr_npi",
    "source_addr",
    "dest_addr_ton",
    "dest_addr_npi",
    "destination_addr",
    "esm_class",
    "protocol_id",
    "priority_flag",
    "schedule_delivery_time",
    "validity_period",
    "registered_delivery",
    "replace_if_present_flag",
    "data_coding",
    "sm_default_msg_id",
    "short_message",
]
_SHORT_MESSAGES = [n for n, p in SAMPLES.items() if isinstance(p, SubmitSm | DeliverSm)]


@pytest.mark.parametrize("name", _SHORT_MESSAGES)
def test_our_bytes_decode_to_the_same_fields_in_smpp34(name: str) -> None:
    ours = SAMPLES[name]
    assert isinstance(ours, SubmitSm | DeliverSm)
    theirs = smpp34.decode(encode(ours))
    assert type(theirs).__name__ == type(ours).__name__
    assert theirs.sequence_number == ours.sequence_number
    assert {f: getattr(theirs, f) for f in _SMPP34_FIELDS} == {
        f: getattr(ours, f) for f in _SMPP34_FIELDS
    }
    assert theirs.sm_length == len(ours.short_message)
    assert {t.tag: t.value for t in theirs.tlvs} == _our_tlvs(ours, known_only=False)


@pytest.mark.parametrize("name", _SHORT_MESSAGES)
def test_smpp34_encodings_decode_to_the_same_fields_in_ours(name: str) -> None:
    ours = SAMPLES[name]
    assert isinstance(ours, SubmitSm | DeliverSm)
    cls = smpp34.SubmitSm if isinstance(ours, SubmitSm) else smpp34.DeliverSm
    tlvs = [smpp34.Tlv(tag, value) for tag, value in _our_tlvs(ours, known_only=False).items()]
    fields = {f: getattr(ours, f) for f in _SMPP34_FIELDS}
    theirs = cls(
        fields.pop("source_addr"),
        fields.pop("destination_addr"),
        fields.pop("short_message"),
        **fields,
        tlvs=tlvs,
        sequence_number=ours.sequence_number,
    )
    wire = theirs.encode()
    assert decode(wire) == ours
    assert wire == encode(ours)  # both put known TLVs in the same order here


@pytest.mark.parametrize("name", [n for n in SAMPLES if n not in _SHORT_MESSAGES])
def test_smpp34_frames_every_other_pdu_the_same(name: str) -> None:
    """smpp34's Python decode() parses only submit_sm/deliver_sm; the rest must frame alike."""
    ours = SAMPLES[name]
    wire = encode(ours)
    theirs = smpp34.decode(wire)
    assert (theirs.command_length, theirs.command_id) == (len(wire), ours.command_id)
    assert (theirs.command_status, theirs.sequence_number) == (
        ours.command_status,
        ours.sequence_number,
    )
    assert theirs.body == wire[16:]


def test_malformed_submit_sm_is_refused_by_smpp34_and_by_us() -> None:
    wire = encode(SAMPLES["submit_sm_gsm"])
    cut = wire[:-3]
    broken = len(cut).to_bytes(4, "big") + cut[4:]
    with pytest.raises(smpp34.SmppError):
        smpp34.decode(broken)
    with pytest.raises(PduError):
        decode(broken)


def test_data_sm_decodes_alike_in_smpp_pdu3() -> None:
    ours = SAMPLES["data_sm"]
    assert isinstance(ours, DataSm)
    theirs = _pdu3_decode(encode(ours))
    assert theirs.params["message_payload"] == ours.tlvs.message_payload


def test_pdus_built_with_smpp_pdu3_api_decode_in_ours() -> None:
    """PDUs built from scratch with their API (enums and all), not from our bytes."""
    from smpp.pdu import operations as op
    from smpp.pdu import pdu_types as t

    submit = op.SubmitSM(
        9,
        source_addr_ton=t.AddrTon.ALPHANUMERIC,
        source_addr="Hongyan",
        dest_addr_ton=t.AddrTon.INTERNATIONAL,
        dest_addr_npi=t.AddrNpi.ISDN,
        destination_addr="8613800138000",
        esm_class=t.EsmClass(
            t.EsmClassMode.DEFAULT,
            t.EsmClassType.DEFAULT,
            [t.EsmClassGsmFeatures.UDHI_INDICATOR_SET],
        ),
        registered_delivery=t.RegisteredDelivery(
            t.RegisteredDeliveryReceipt.SMSC_DELIVERY_RECEIPT_REQUESTED
        ),
        data_coding=t.DataCoding(t.DataCodingScheme.DEFAULT, t.DataCodingDefault.UCS2),
        short_message=b"\x05\x00\x03\x42\x02\x01" + "鸿雁".encode("utf-16-be"),
        sar_msg_ref_num=7,
    )
    ours = decode(pdu3_encoding.PDUEncoder().encode(submit))
    assert isinstance(ours, SubmitSm)
    assert (ours.sequence_number, ours.source_addr_ton, ours.source_addr) == (9, 5, "Hongyan")
    assert (ours.dest_addr_ton, ours.dest_addr_npi, ours.esm_class) == (1, 1, 0x40)
    assert (ours.registered_delivery, ours.data_coding, ours.tlvs.sar_msg_ref_num) == (1, 8, 7)
    assert ours.short_message[6:].decode("utf-16-be") == "鸿雁"
    nack = decode(
        pdu3_encoding.PDUEncoder().encode(op.GenericNack(3, t.CommandStatus.ESME_RTHROTTLED))
    )
    assert (nack.command_id, nack.command_status, nack.sequence_number) == (0x80000000, 0x58, 3)
    receipt = op.DeliverSM(
        4,
        source_addr="8613800138000",
        destination_addr="Hongyan",
        esm_class=t.EsmClass(t.EsmClassMode.DEFAULT, t.EsmClassType.SMSC_DELIVERY_RECEIPT),
        short_message=b"id:1 stat:UNDELIV err:001",
        receipted_message_id="1",
        message_state=t.MessageState.UNDELIVERABLE,
    )
    back = decode(pdu3_encoding.PDUEncoder().encode(receipt))
    assert isinstance(back, DeliverSm)
    assert (back.esm_class, back.tlvs.receipted_message_id, back.tlvs.message_state) == (4, "1", 5)
