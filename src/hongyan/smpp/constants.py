"""SMPP 3.4 numbers with names: command ids, command_status values, TLV tags, field bits.

Everything here is a fact of the SMPP 3.4 specification (section 5); names follow it so that
a log line or a test reads like the spec.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final

HEADER_LEN: Final = 16  # command_length, command_id, command_status, sequence_number (4 each)
INTERFACE_VERSION: Final = 0x34  # SMPP 3.4, sent in binds and in sc_interface_version
MAX_SEQUENCE: Final = 0x7FFFFFFF  # sequence numbers run 1..0x7FFFFFFF, then wrap to 1
RESPONSE_BIT: Final = 0x80000000  # a response's command_id is its request's with this bit set
MAX_SHORT_MESSAGE: Final = 254  # octets in short_message; longer bodies go in message_payload


class CommandId(IntEnum):
    """command_id of every SMPP 3.4 PDU (those Hongyan does not decode are listed too)."""

    GENERIC_NACK = 0x80000000
    BIND_RECEIVER = 0x00000001
    BIND_RECEIVER_RESP = 0x80000001
    BIND_TRANSMITTER = 0x00000002
    BIND_TRANSMITTER_RESP = 0x80000002
    QUERY_SM = 0x00000003
    QUERY_SM_RESP = 0x80000003
    SUBMIT_SM = 0x00000004
    SUBMIT_SM_RESP = 0x80000004
    DELIVER_SM = 0x00000005
    DELIVER_SM_RESP = 0x80000005
    UNBIND = 0x00000006
    UNBIND_RESP = 0x80000006
    REPLACE_SM = 0x00000007
    REPLACE_SM_RESP = 0x80000007
    CANCEL_SM = 0x00000008
    CANCEL_SM_RESP = 0x80000008
    BIND_TRANSCEIVER = 0x00000009
    BIND_TRANSCEIVER_RESP = 0x80000009
    OUTBIND = 0x0000000B
    ENQUIRE_LINK = 0x00000015
    ENQUIRE_LINK_RESP = 0x80000015
    SUBMIT_MULTI = 0x00000021
    SUBMIT_MULTI_RESP = 0x80000021
    ALERT_NOTIFICATION = 0x00000102
    DATA_SM = 0x00000103
    DATA_SM_RESP = 0x80000103


class CommandStatus(IntEnum):
    """command_status values (SMPP 3.4 table 5-2). Peers may send others (0x400-0x4FF: vendor)."""

    ESME_ROK = 0x00  # no error
    ESME_RINVMSGLEN = 0x01  # message length is invalid
    ESME_RINVCMDLEN = 0x02  # command length is invalid
    ESME_RINVCMDID = 0x03  # invalid command id
    ESME_RINVBNDSTS = 0x04  # incorrect bind status for the command
    ESME_RALYBND = 0x05  # already bound
    ESME_RINVPRTFLG = 0x06  # invalid priority flag
    ESME_RINVREGDLVFLG = 0x07  # invalid registered delivery flag
    ESME_RSYSERR = 0x08  # system error
    ESME_RINVSRCADR = 0x0A  # invalid source address
    ESME_RINVDSTADR = 0x0B  # invalid destination address
    ESME_RINVMSGID = 0x0C  # message id is invalid
    ESME_RBINDFAIL = 0x0D  # bind failed
    ESME_RINVPASWD = 0x0E  # invalid password
    ESME_RINVSYSID = 0x0F  # invalid system id
    ESME_RCANCELFAIL = 0x11  # cancel_sm failed
    ESME_RREPLACEFAIL = 0x13  # replace_sm failed
    ESME_RMSGQFUL = 0x14  # message queue full
    ESME_RINVSERTYP = 0x15  # invalid service type
    ESME_RINVNUMDESTS = 0x33  # invalid number of destinations
    ESME_RINVDLNAME = 0x34  # invalid distribution list name
    ESME_RINVDESTFLAG = 0x40  # invalid destination flag (submit_multi)
    ESME_RINVSUBREP = 0x42  # invalid submit with replace request
    ESME_RINVESMCLASS = 0x43  # invalid esm_class
    ESME_RCNTSUBDL = 0x44  # cannot submit to distribution list
    ESME_RSUBMITFAIL = 0x45  # submit_sm or submit_multi failed
    ESME_RINVSRCTON = 0x48  # invalid source address TON
    ESME_RINVSRCNPI = 0x49  # invalid source address NPI
    ESME_RINVDSTTON = 0x50  # invalid destination address TON
    ESME_RINVDSTNPI = 0x51  # invalid destination address NPI
    ESME_RINVSYSTYP = 0x53  # invalid system_type
    ESME_RINVREPFLAG = 0x54  # invalid replace_if_present flag
    ESME_RINVNUMMSGS = 0x55  # invalid number of messages
    ESME_RTHROTTLED = 0x58  # throttling error: the ESME exceeded its message limits
    ESME_RINVSCHED = 0x61  # invalid scheduled delivery time
    ESME_RINVEXPIRY = 0x62  # invalid validity period
    ESME_RINVDFTMSGID = 0x63  # predefined message invalid or not found
    ESME_RX_T_APPN = 0x64  # ESME receiver temporary app error
    ESME_RX_P_APPN = 0x65  # ESME receiver permanent app error
    ESME_RX_R_APPN = 0x66  # ESME receiver reject message error
    ESME_RQUERYFAIL = 0x67  # query_sm failed
    ESME_RINVOPTPARSTREAM = 0xC0  # error in the optional part of the PDU body
    ESME_ROPTPARNOTALLWD = 0xC1  # optional parameter not allowed
    ESME_RINVPARLEN = 0xC2  # invalid parameter length
    ESME_RMISSINGOPTPARAM = 0xC3  # expected optional parameter missing
    ESME_RINVOPTPARAMVAL = 0xC4  # invalid optional parameter value
    ESME_RDELIVERYFAILURE = 0xFE  # delivery failure (data_sm_resp)
    ESME_RUNKNOWNERR = 0xFF  # unknown error


def status_name(status: int) -> str:
    """The spec name of a command_status, or its hex value when it has none (vendor codes)."""
    try:
        return CommandStatus(status).name
    except ValueError:
        return f"0x{status:08X}"


def command_name(command_id: int) -> str:
    """The spec name of a command_id in lower case (``submit_sm``), or its hex value."""
    try:
        return CommandId(command_id).name.lower()
    except ValueError:
        return f"0x{command_id:08X}"


class MessageState(IntEnum):
    """message_state (query_sm_resp field and TLV 0x0427), SMPP 3.4 section 5.2.28."""

    ENROUTE = 1
    DELIVERED = 2
    EXPIRED = 3
    DELETED = 4
    UNDELIVERABLE = 5
    ACCEPTED = 6
    UNKNOWN = 7
    REJECTED = 8


class Ton(IntEnum):
    """Type of number (addr_ton, source_addr_ton, dest_addr_ton)."""

    UNKNOWN = 0
    INTERNATIONAL = 1
    NATIONAL = 2
    NETWORK_SPECIFIC = 3
    SUBSCRIBER_NUMBER = 4
    ALPHANUMERIC = 5
    ABBREVIATED = 6


class Npi(IntEnum):
    """Numbering plan indicator (addr_npi, source_addr_npi, dest_addr_npi)."""

    UNKNOWN = 0
    ISDN = 1  # E.163/E.164
    DATA = 3  # X.121
    TELEX = 4  # F.69
    LAND_MOBILE = 6  # E.212
    NATIONAL = 8
    PRIVATE = 9
    ERMES = 10
    INTERNET = 14  # IP
    WAP_CLIENT_ID = 18


class DataCoding(IntEnum):
    """The data_coding values a gateway meets; others pass through as plain ints."""

    SMSC_DEFAULT = 0x00  # GSM-7 on almost every SMSC
    IA5 = 0x01  # ASCII
    OCTET_UNSPECIFIED = 0x02
    LATIN1 = 0x03
    OCTET_UNSPECIFIED_2 = 0x04
    JIS = 0x05
    CYRILLIC = 0x06
    LATIN_HEBREW = 0x07
    UCS2 = 0x08  # UTF-16-BE on the wire
    PICTOGRAM = 0x09
    ISO_2022_JP = 0x0A
    EXTENDED_KANJI = 0x0D
    KS_C_5601 = 0x0E


# esm_class bits (SMPP 3.4 section 5.2.12).
ESM_MODE_MASK: Final = 0x03  # bits 1-0: default / datagram / forward (transaction) mode
ESM_TYPE_MASK: Final = 0x3C  # bits 5-2: message type
ESM_TYPE_DELIVERY_RECEIPT: Final = 0x04  # SMSC delivery receipt (in deliver_sm / data_sm)
ESM_TYPE_DELIVERY_ACK: Final = 0x08  # SME delivery acknowledgement
ESM_TYPE_USER_ACK: Final = 0x10  # SME manual/user acknowledgement
ESM_TYPE_INTERMEDIATE: Final = 0x20  # intermediate delivery notification
ESM_UDHI: Final = 0x40  # short_message starts with a User Data Header (concatenation, ports)
ESM_REPLY_PATH: Final = 0x80

# registered_delivery bits 1-0 (section 5.2.17).
REGISTERED_DELIVERY_NONE: Final = 0x00
REGISTERED_DELIVERY_RECEIPT: Final = 0x01  # receipt on final outcome, success or failure
REGISTERED_DELIVERY_ON_FAILURE: Final = 0x02  # receipt on failure only
