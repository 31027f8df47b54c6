"""SMPP 3.4 optional parameters (TLVs): the 44 tags of the spec typed, any other tag kept raw.

On the wire a TLV is tag (2 octets), length (2 octets), value (length octets), big endian,
after the mandatory fields of a PDU body. ``Tlvs`` holds one typed attribute per known tag
(``None`` when absent) and ``unknown``: vendor tags (0x1400-0x3FFF), tags of later SMPP
versions, and a second occurrence of a known tag, as raw ``Tlv(tag, value)`` pairs that are
re-encoded byte for byte. Known tags are encoded in spec order, then the unknown ones in the
order they came.

Decoding is strict about the size of fixed-size values (a 2-octet ``message_state`` is a
``TlvError``), lenient about C-Octet strings: ``receipted_message_id`` without its final NUL is
common enough in receipts from real SMSCs that refusing it would lose receipts.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from operator import attrgetter
from typing import Any, Final, NamedTuple

from hongyan.smpp.constants import CommandStatus
from hongyan.smpp.errors import PduEncodeError, TlvError

__all__ = ["EMPTY_TLVS", "NetworkErrorCode", "Tlv", "TlvTag", "Tlvs", "decode_tlvs", "encode_tlvs"]


class TlvTag(IntEnum):
    """Tags of the SMPP 3.4 optional parameters (section 5.3.2)."""

    DEST_ADDR_SUBUNIT = 0x0005
    DEST_NETWORK_TYPE = 0x0006
    DEST_BEARER_TYPE = 0x0007
    DEST_TELEMATICS_ID = 0x0008
    SOURCE_ADDR_SUBUNIT = 0x000D
    SOURCE_NETWORK_TYPE = 0x000E
    SOURCE_BEARER_TYPE = 0x000F
    SOURCE_TELEMATICS_ID = 0x0010
    QOS_TIME_TO_LIVE = 0x0017
    PAYLOAD_TYPE = 0x0019
    ADDITIONAL_STATUS_INFO_TEXT = 0x001D
    RECEIPTED_MESSAGE_ID = 0x001E
    MS_MSG_WAIT_FACILITIES = 0x0030
    PRIVACY_INDICATOR = 0x0201
    SOURCE_SUBADDRESS = 0x0202
    DEST_SUBADDRESS = 0x0203
    USER_MESSAGE_REFERENCE = 0x0204
    USER_RESPONSE_CODE = 0x0205
    SOURCE_PORT = 0x020A
    DESTINATION_PORT = 0x020B
    SAR_MSG_REF_NUM = 0x020C
    LANGUAGE_INDICATOR = 0x020D
    SAR_TOTAL_SEGMENTS = 0x020E
    SAR_SEGMENT_SEQNUM = 0x020F
    SC_INTERFACE_VERSION = 0x0210
    CALLBACK_NUM_PRES_IND = 0x0302
    CALLBACK_NUM_ATAG = 0x0303
    NUMBER_OF_MESSAGES = 0x0304
    CALLBACK_NUM = 0x0381
    DPF_RESULT = 0x0420
    SET_DPF = 0x0421
    MS_AVAILABILITY_STATUS = 0x0422
    NETWORK_ERROR_CODE = 0x0423
    MESSAGE_PAYLOAD = 0x0424
    DELIVERY_FAILURE_REASON = 0x0425
    MORE_MESSAGES_TO_SEND = 0x0426
    MESSAGE_STATE = 0x0427
    USSD_SERVICE_OP = 0x0501
    DISPLAY_TIME = 0x1201
    SMS_SIGNAL = 0x1203
    MS_VALIDITY = 0x1204
    ALERT_ON_MESSAGE_DELIVERY = 0x130C
    ITS_REPLY_TYPE = 0x1380
    ITS_SESSION_INFO = 0x1383


class Tlv(NamedTuple):
    """One TLV as it was on the wire."""

    tag: int
    value: bytes


class NetworkErrorCode(NamedTuple):
    """network_error_code (0x0423): network type (1 = ANSI-136, 2 = IS-95, 3 = GSM) + code."""

    network_type: int
    error_code: int


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class Tlvs:
    """The optional parameters of one PDU; a known tag that is absent is ``None``."""

    dest_addr_subunit: int | None = None
    dest_network_type: int | None = None
    dest_bearer_type: int | None = None
    dest_telematics_id: int | None = None
    source_addr_subunit: int | None = None
    source_network_type: int | None = None
    source_bearer_type: int | None = None
    source_telematics_id: int | None = None
    qos_time_to_live: int | None = None
    payload_type: int | None = None
    additional_status_info_text: str | None = None
    receipted_message_id: str | None = None
    ms_msg_wait_facilities: int | None = None
    privacy_indicator: int | None = None
    source_subaddress: bytes | None = None
    dest_subaddress: bytes | None = None
    user_message_reference: int | None = None
    user_response_code: int | None = None
    source_port: int | None = None
    destination_port: int | None = None
    sar_msg_ref_num: int | None = None
    language_indicator: int | None = None
    sar_total_segments: int | None = None
    sar_segment_seqnum: int | None = None
    sc_interface_version: int | None = None
    callback_num_pres_ind: int | None = None
    callback_num_atag: bytes | None = None
    number_of_messages: int | None = None
    callback_num: bytes | None = None
    dpf_result: int | None = None
    set_dpf: int | None = None
    ms_availability_status: int | None = None
    network_error_code: NetworkErrorCode | None = None
    message_payload: bytes | None = None
    delivery_failure_reason: int | None = None
    more_messages_to_send: int | None = None
    message_state: int | None = None
    ussd_service_op: int | None = None
    display_time: int | None = None
    sms_signal: int | None = None
    ms_validity: int | None = None
    alert_on_message_delivery: bool | None = None  # a TLV with no value: present or not
    its_reply_type: int | None = None
    its_session_info: bytes | None = None
    unknown: tuple[Tlv, ...] = ()

    def __repr__(self) -> str:
        shown = [f"{name}={getattr(self, name)!r}" for _, name, _ in _SPECS]
        shown = [item for item in shown if not item.endswith("=None")]
        if self.unknown:
            shown.append(f"unknown={self.unknown!r}")
        return f"Tlvs({', '.join(shown)})"


EMPTY_TLVS: Final = Tlvs()

# Value kinds. Integer kinds name their size in octets.
_U8, _U16, _U32, _CSTR, _OCTETS, _NEC, _FLAG = range(7)
_WIDE: Final = {
    TlvTag.DEST_TELEMATICS_ID: _U16,
    TlvTag.USER_MESSAGE_REFERENCE: _U16,
    TlvTag.SOURCE_PORT: _U16,
    TlvTag.DESTINATION_PORT: _U16,
    TlvTag.SAR_MSG_REF_NUM: _U16,
    TlvTag.SMS_SIGNAL: _U16,
    TlvTag.QOS_TIME_TO_LIVE: _U32,
    TlvTag.NETWORK_ERROR_CODE: _NEC,
    TlvTag.ALERT_ON_MESSAGE_DELIVERY: _FLAG,
    TlvTag.ITS_SESSION_INFO: _OCTETS,
}
_STRINGS: Final = (TlvTag.ADDITIONAL_STATUS_INFO_TEXT, TlvTag.RECEIPTED_MESSAGE_ID)
_BLOBS: Final = (
    TlvTag.SOURCE_SUBADDRESS,
    TlvTag.DEST_SUBADDRESS,
    TlvTag.CALLBACK_NUM_ATAG,
    TlvTag.CALLBACK_NUM,
    TlvTag.MESSAGE_PAYLOAD,
)


def _kind(tag: TlvTag) -> int:
    if tag in _WIDE:
        return _WIDE[tag]
    if tag in _STRINGS:
        return _CSTR
    if tag in _BLOBS:
        return _OCTETS
    return _U8


# (tag, attribute name, kind), in spec order: the order known TLVs are encoded in.
_SPECS: Final = tuple((int(tag), tag.name.lower(), _kind(tag)) for tag in TlvTag)
_BY_TAG: Final = {tag: (name, kind) for tag, name, kind in _SPECS}
_ALL_VALUES: Final = attrgetter(*(name for _, name, _ in _SPECS))
_HEAD: Final = struct.Struct(">HH")
_U16S: Final = struct.Struct(">H")
_U32S: Final = struct.Struct(">I")
_NECS: Final = struct.Struct(">BH")
_SIZES: Final = {_U8: 1, _U16: 2, _U32: 4, _NEC: 3, _FLAG: 0}


def _decode_value(name: str, kind: int, raw: bytes) -> Any:
    size = _SIZES.get(kind)
    if size is not None and len(raw) != size:
        raise TlvError(
            f"TLV {name} has {len(raw)} octets, expected {size}",
            command_status=CommandStatus.ESME_RINVOPTPARAMVAL,
        )
    if kind == _U8:
        return raw[0]
    if kind == _U16:
        return _U16S.unpack(raw)[0]
    if kind == _U32:
        return _U32S.unpack(raw)[0]
    if kind == _CSTR:
        nul = raw.find(0)
        return (raw if nul < 0 else raw[:nul]).decode("latin-1")
    if kind == _NEC:
        return NetworkErrorCode(*_NECS.unpack(raw))
    if kind == _FLAG:
        return True
    return raw


def decode_tlvs(data: bytes, pos: int, end: int) -> Tlvs:
    """Decode the TLVs in ``data[pos:end]``; raise ``TlvError`` when they do not fit exactly."""
    if pos == end:
        return EMPTY_TLVS
    values: dict[str, Any] = {}
    unknown: list[Tlv] = []
    while pos < end:
        if end - pos < 4:
            raise TlvError(f"{end - pos} stray octets where a TLV header should be")
        tag, length = _HEAD.unpack_from(data, pos)
        pos += 4
        if pos + length > end:
            raise TlvError(f"TLV 0x{tag:04X} claims {length} octets, {end - pos} remain")
        raw = data[pos : pos + length]
        pos += length
        spec = _BY_TAG.get(tag)
        if spec is None or spec[0] in values:
            unknown.append(Tlv(tag, raw))
        else:
            values[spec[0]] = _decode_value(spec[0], spec[1], raw)
    return Tlvs(**values, unknown=tuple(unknown))


def _encode_value(name: str, kind: int, value: Any) -> bytes:
    try:
        if kind == _U8:
            return bytes((value,))
        if kind == _U16:
            return _U16S.pack(value)
        if kind == _U32:
            return _U32S.pack(value)
        if kind == _CSTR:
            raw = bytes(value.encode("latin-1"))
            if 0 in raw:
                raise PduEncodeError(f"TLV {name} holds a NUL")
            return raw + b"\0"
        if kind == _NEC:
            return _NECS.pack(*value)
        if kind == _FLAG:
            return b""
        return bytes(value)
    except (ValueError, TypeError, struct.error, UnicodeEncodeError) as exc:
        if isinstance(exc, PduEncodeError):
            raise
        raise PduEncodeError(f"TLV {name}: cannot encode {value!r}: {exc}") from exc


def _pack(tag: int, name: str, value: bytes) -> bytes:
    if len(value) > 0xFFFF:
        raise PduEncodeError(f"TLV {name} is {len(value)} octets; at most 65535 fit")
    return _HEAD.pack(tag, len(value)) + value


def encode_tlvs(tlvs: Tlvs) -> bytes:
    """Encode the TLVs: known ones in spec order, then the unknown ones as they came."""
    if tlvs is EMPTY_TLVS:
        return b""
    values = _ALL_VALUES(tlvs)
    parts: list[bytes] = []
    if values.count(None) != len(values):  # a C-speed check: most PDUs carry no known TLV
        for (tag, name, kind), value in zip(_SPECS, values, strict=True):
            if value is None or (kind == _FLAG and not value):
                continue
            parts.append(_pack(tag, name, _encode_value(name, kind, value)))
    for tag, value in tlvs.unknown:
        if not 0 <= tag <= 0xFFFF:
            raise PduEncodeError(f"TLV tag {tag} does not fit in 16 bits")
        parts.append(_pack(tag, f"0x{tag:04X}", bytes(value)))
    return b"".join(parts)
