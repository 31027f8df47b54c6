"""SMPP 3.4 PDUs as dataclasses, and their encoding and decoding.

Every PDU is a dataclass with the header fields a caller sets (``sequence_number``,
``command_status``), the mandatory body fields of the spec in wire order, and ``tlvs``.
Each class declares its body as a schema (``_body``: name, kind, maximum size, the
command_status that answers a bad value), which one encoder and one decoder walk, so
adding a PDU is adding a class.

Wire facts the code depends on (SMPP 3.4 sections 3 and 4):

- header: command_length (the whole PDU, header included), command_id, command_status,
  sequence_number; four big-endian unsigned 32-bit integers;
- C-Octet String fields end with a NUL; the spec's maximum sizes count that NUL
  (source_addr 21 = 20 characters + NUL); text fields are ASCII, read here as Latin-1 so
  any byte round-trips;
- short_message is preceded by sm_length (one octet, 0-254);
- bind_*_resp and submit_sm_resp carry no body when command_status is not 0 (4.1.2, 4.4.2):
  they are encoded without one, and a response of any kind arriving with an empty body or a
  bad body and an error status decodes to the bare response, since its status is what counts.

``decode()`` raises only ``PduError`` subclasses (see ``errors.py``), whatever the bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from operator import attrgetter
from typing import Any, ClassVar, Final

from hongyan.smpp.constants import INTERFACE_VERSION, MAX_SHORT_MESSAGE, RESPONSE_BIT, CommandId
from hongyan.smpp.constants import CommandStatus as S
from hongyan.smpp.tlv import EMPTY_TLVS, Tlvs

_CSTR, _U8, _SM = range(3)

# One body field: (name, kind, maximum octets with the NUL for C-strings, status if bad).
Field = tuple[str, int, int, int]


def _c(name: str, size: int, status: int = S.ESME_RINVPARLEN) -> Field:
    return (name, _CSTR, size, status)


def _u8(name: str) -> Field:
    return (name, _U8, 1, S.ESME_RINVCMDLEN)


_SHORT_MESSAGE: Final = ("short_message", _SM, MAX_SHORT_MESSAGE, S.ESME_RINVMSGLEN)


@dataclass(slots=True)
class Pdu:
    """Base of every PDU: the header fields a caller controls and the optional parameters."""

    command_id: ClassVar[int]
    _body: ClassVar[tuple[Field, ...]] = ()
    _values: ClassVar[Any] = None  # attrgetter of the body fields, set by _register
    response_class: ClassVar[type[Pdu] | None] = None  # None: this PDU is not answered

    sequence_number: int = 0
    command_status: int = 0
    tlvs: Tlvs = EMPTY_TLVS

    @property
    def is_response(self) -> bool:
        """True for responses (command_id with the high bit set), generic_nack included."""
        return bool(self.command_id & RESPONSE_BIT)


# -- session management ------------------------------------------------------------------


@dataclass(slots=True)
class _Bind(Pdu):
    system_id: str = ""
    password: str = ""
    system_type: str = ""
    interface_version: int = INTERFACE_VERSION
    addr_ton: int = 0
    addr_npi: int = 0
    address_range: str = ""

    _body = (
        _c("system_id", 16, S.ESME_RINVSYSID),
        _c("password", 9, S.ESME_RINVPASWD),
        _c("system_type", 13, S.ESME_RINVSYSTYP),
        _u8("interface_version"),
        _u8("addr_ton"),
        _u8("addr_npi"),
        _c("address_range", 41),
    )


@dataclass(slots=True)
class _BindResp(Pdu):
    system_id: str = ""  # the SMSC's id; sc_interface_version may come as a TLV

    _body = (_c("system_id", 16, S.ESME_RINVSYSID),)


@dataclass(slots=True)
class BindTransmitterResp(_BindResp):
    command_id = CommandId.BIND_TRANSMITTER_RESP


@dataclass(slots=True)
class BindReceiverResp(_BindResp):
    command_id = CommandId.BIND_RECEIVER_RESP


@dataclass(slots=True)
class BindTransceiverResp(_BindResp):
    command_id = CommandId.BIND_TRANSCEIVER_RESP


@dataclass(slots=True)
class BindTransmitter(_Bind):
    command_id = CommandId.BIND_TRANSMITTER
    response_class = BindTransmitterResp


@dataclass(slots=True)
class BindReceiver(_Bind):
    command_id = CommandId.BIND_RECEIVER
    response_class = BindReceiverResp


@dataclass(slots=True)
class BindTransceiver(_Bind):
    command_id = CommandId.BIND_TRANSCEIVER
    response_class = BindTransceiverResp


@dataclass(slots=True)
class Outbind(Pdu):
    """The SMSC asks the ESME to bind (as receiver); it is not answered."""

    command_id = CommandId.OUTBIND
    system_id: str = ""
    password: str = ""

    _body = (_c("system_id", 16, S.ESME_RINVSYSID), _c("password", 9, S.ESME_RINVPASWD))


@dataclass(slots=True)
class UnbindResp(Pdu):
    command_id = CommandId.UNBIND_RESP


@dataclass(slots=True)
class Unbind(Pdu):
    command_id = CommandId.UNBIND
    response_class = UnbindResp


@dataclass(slots=True)
class EnquireLinkResp(Pdu):
    command_id = CommandId.ENQUIRE_LINK_RESP


@dataclass(slots=True)
class EnquireLink(Pdu):
    command_id = CommandId.ENQUIRE_LINK
    response_class = EnquireLinkResp


@dataclass(slots=True)
class GenericNack(Pdu):
    """The answer to a PDU that could not be understood; command_status says why."""

    command_id = CommandId.GENERIC_NACK


# -- messages ----------------------------------------------------------------------------


@dataclass(slots=True)
class _ShortMessage(Pdu):
    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""
    esm_class: int = 0
    protocol_id: int = 0
    priority_flag: int = 0
    schedule_delivery_time: str = ""  # "YYMMDDhhmmsstnnp" or "" (immediately)
    validity_period: str = ""  # absolute or relative SMPP time, or "" (SMSC default)
    registered_delivery: int = 0
    replace_if_present_flag: int = 0
    data_coding: int = 0
    sm_default_msg_id: int = 0
    short_message: bytes = b""

    _body = (
        _c("service_type", 6, S.ESME_RINVSERTYP),
        _u8("source_addr_ton"),
        _u8("source_addr_npi"),
        _c("source_addr", 21, S.ESME_RINVSRCADR),
        _u8("dest_addr_ton"),
        _u8("dest_addr_npi"),
        _c("destination_addr", 21, S.ESME_RINVDSTADR),
        _u8("esm_class"),
        _u8("protocol_id"),
        _u8("priority_flag"),
        _c("schedule_delivery_time", 17, S.ESME_RINVSCHED),
        _c("validity_period", 17, S.ESME_RINVEXPIRY),
        _u8("registered_delivery"),
        _u8("replace_if_present_flag"),
        _u8("data_coding"),
        _u8("sm_default_msg_id"),
        _SHORT_MESSAGE,
    )


@dataclass(slots=True)
class _MessageIdResp(Pdu):
    message_id: str = ""

    _body = (_c("message_id", 65, S.ESME_RINVMSGID),)


@dataclass(slots=True)
class SubmitSmResp(_MessageIdResp):
    command_id = CommandId.SUBMIT_SM_RESP


@dataclass(slots=True)
class SubmitSm(_ShortMessage):
    """A message from the ESME to the SMSC (MT)."""

    command_id = CommandId.SUBMIT_SM
    response_class = SubmitSmResp


@dataclass(slots=True)
class DeliverSmResp(_MessageIdResp):
    """message_id is unused in deliver_sm_resp and sent empty."""

    command_id = CommandId.DELIVER_SM_RESP


@dataclass(slots=True)
class DeliverSm(_ShortMessage):
    """A message from the SMSC to the ESME: MO, or a receipt when esm_class has 0x04."""

    command_id = CommandId.DELIVER_SM
    response_class = DeliverSmResp


@dataclass(slots=True)
class DataSmResp(_MessageIdResp):
    command_id = CommandId.DATA_SM_RESP


@dataclass(slots=True)
class DataSm(Pdu):
    """A message either way with its body in the message_payload TLV."""

    command_id = CommandId.DATA_SM
    response_class = DataSmResp
    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""
    esm_class: int = 0
    registered_delivery: int = 0
    data_coding: int = 0

    _body = (
        _c("service_type", 6, S.ESME_RINVSERTYP),
        _u8("source_addr_ton"),
        _u8("source_addr_npi"),
        _c("source_addr", 65, S.ESME_RINVSRCADR),
        _u8("dest_addr_ton"),
        _u8("dest_addr_npi"),
        _c("destination_addr", 65, S.ESME_RINVDSTADR),
        _u8("esm_class"),
        _u8("registered_delivery"),
        _u8("data_coding"),
    )


@dataclass(slots=True)
class QuerySmResp(Pdu):
    command_id = CommandId.QUERY_SM_RESP
    message_id: str = ""
    final_date: str = ""
    message_state: int = 0
    error_code: int = 0

    _body = (
        _c("message_id", 65, S.ESME_RINVMSGID),
        _c("final_date", 17),
        _u8("message_state"),
        _u8("error_code"),
    )


@dataclass(slots=True)
class QuerySm(Pdu):
    command_id = CommandId.QUERY_SM
    response_class = QuerySmResp
    message_id: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""

    _body = (
        _c("message_id", 65, S.ESME_RINVMSGID),
        _u8("source_addr_ton"),
        _u8("source_addr_npi"),
        _c("source_addr", 21, S.ESME_RINVSRCADR),
    )


@dataclass(slots=True)
class CancelSmResp(Pdu):
    command_id = CommandId.CANCEL_SM_RESP


@dataclass(slots=True)
class CancelSm(Pdu):
    command_id = CommandId.CANCEL_SM
    response_class = CancelSmResp
    service_type: str = ""
    message_id: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""

    _body = (
        _c("service_type", 6, S.ESME_RINVSERTYP),
        _c("message_id", 65, S.ESME_RINVMSGID),
        _u8("source_addr_ton"),
        _u8("source_addr_npi"),
        _c("source_addr", 21, S.ESME_RINVSRCADR),
        _u8("dest_addr_ton"),
        _u8("dest_addr_npi"),
        _c("destination_addr", 21, S.ESME_RINVDSTADR),
    )


PDU_CLASSES: Final[dict[int, type[Pdu]]] = {}
# Responses that carry no body when command_status is not 0 (4.1.2, 4.1.4, 4.1.6, 4.4.2).
_NO_BODY_ON_ERROR: Final = frozenset(
    {BindTransmitterResp, BindReceiverResp, BindTransceiverResp, SubmitSmResp}
)


def _register(*classes: type[Pdu]) -> None:
    for cls in classes:
        names = [field[0] for field in cls._body]
        cls._values = attrgetter(*names) if len(names) > 1 else None
        PDU_CLASSES[cls.command_id] = cls


_register(
    *(BindTransmitter, BindTransmitterResp, BindReceiver, BindReceiverResp),
    *(BindTransceiver, BindTransceiverResp, Outbind, Unbind, UnbindResp),
    *(EnquireLink, EnquireLinkResp, GenericNack, SubmitSm, SubmitSmResp),
    *(DeliverSm, DeliverSmResp, DataSm, DataSmResp, QuerySm, QuerySmResp),
    *(CancelSm, CancelSmResp),
)
