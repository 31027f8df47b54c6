"""Representative PDUs shared by the codec, cross-check and property tests."""

from __future__ import annotations

from hongyan.kit.segments import Encoding, encode_part, split, udh_concat
from hongyan.smpp import (
    BindReceiver,
    BindReceiverResp,
    BindTransceiver,
    BindTransceiverResp,
    BindTransmitter,
    BindTransmitterResp,
    CancelSm,
    CancelSmResp,
    DataSm,
    DataSmResp,
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    NetworkErrorCode,
    Outbind,
    Pdu,
    QuerySm,
    QuerySmResp,
    SubmitSm,
    SubmitSmResp,
    Tlv,
    Tlvs,
    Unbind,
    UnbindResp,
)
from hongyan.smpp.constants import ESM_TYPE_DELIVERY_RECEIPT, ESM_UDHI, CommandStatus

LONG_TEXT = "Hongyan carries letters across the sky. " * 6  # 240 GSM-7 characters: 2 parts
CHINESE = "【鸿雁】您的验证码是 123456，5 分钟内有效。请勿告诉他人。"  # UCS-2, one part
RECEIPT = (
    "id:0A1B2C3D sub:001 dlvrd:001 submit date:2401021530 done date:2401021531"
    " stat:DELIVRD err:000 text:Hongyan carries lett"
)


def _udh_parts(text: str) -> list[bytes]:
    parts = split(text, Encoding.GSM7)
    return [
        udh_concat(0x42, len(parts), i + 1) + encode_part(part, Encoding.GSM7)
        for i, part in enumerate(parts)
    ]


def _mt(**fields: object) -> SubmitSm:
    base: dict[str, object] = {
        "source_addr_ton": 5,
        "source_addr_npi": 0,
        "source_addr": "Hongyan",
        "dest_addr_ton": 1,
        "dest_addr_npi": 1,
        "destination_addr": "8613800138000",
        "registered_delivery": 1,
    }
    return SubmitSm(**(base | fields))  # type: ignore[arg-type]


UDH_PARTS = _udh_parts(LONG_TEXT)

# id -> PDU; every one is valid SMPP 3.4 that both other implementations accept.
SAMPLES: dict[str, Pdu] = {
    "bind_transmitter": BindTransmitter(
        1, system_id="hongyan", password="secret", system_type="SMS"
    ),
    "bind_receiver": BindReceiver(2, system_id="hongyan", password="pw", addr_ton=1, addr_npi=1),
    "bind_transceiver": BindTransceiver(
        3, system_id="tenant_01", password="12345678", address_range="^86"
    ),
    "bind_transmitter_resp": BindTransmitterResp(1, system_id="SMSC"),
    "bind_receiver_resp": BindReceiverResp(
        2, system_id="SMSC", tlvs=Tlvs(sc_interface_version=0x34)
    ),
    "bind_transceiver_resp": BindTransceiverResp(3, system_id="SMSC"),
    "bind_failed_resp": BindTransceiverResp(3, CommandStatus.ESME_RINVPASWD),
    "outbind": Outbind(4, system_id="SMSC", password="pw"),
    "unbind": Unbind(5),
    "unbind_resp": UnbindResp(5),
    "enquire_link": EnquireLink(0x7FFFFFFF),
    "enquire_link_resp": EnquireLinkResp(0x7FFFFFFF),
    "generic_nack": GenericNack(6, CommandStatus.ESME_RINVCMDID),
    "submit_sm_gsm": _mt(sequence_number=7, short_message=b"Your code is 123456"),
    "submit_sm_ucs2": _mt(
        sequence_number=8, data_coding=8, short_message=encode_part(CHINESE, Encoding.UCS2)
    ),
    "submit_sm_udh_1": _mt(sequence_number=9, esm_class=ESM_UDHI, short_message=UDH_PARTS[0]),
    "submit_sm_udh_2": _mt(sequence_number=10, esm_class=ESM_UDHI, short_message=UDH_PARTS[1]),
    "submit_sm_sar": _mt(
        sequence_number=11,
        short_message=encode_part(LONG_TEXT[:153], Encoding.GSM7),
        tlvs=Tlvs(sar_msg_ref_num=0x1234, sar_total_segments=2, sar_segment_seqnum=1),
    ),
    "submit_sm_payload": _mt(
        sequence_number=12,
        tlvs=Tlvs(message_payload=LONG_TEXT.encode(), user_message_reference=42),
    ),
    "submit_sm_validity": _mt(
        sequence_number=13,
        validity_period="000001000000000R",
        schedule_delivery_time="240102153000004+",
        priority_flag=1,
        protocol_id=0,
        service_type="CMT",
    ),
    "submit_sm_ports": _mt(
        sequence_number=14, data_coding=4, tlvs=Tlvs(source_port=9200, destination_port=2948)
    ),
    "submit_sm_resp": SubmitSmResp(7, message_id="0A1B2C3D"),
    "submit_sm_resp_throttled": SubmitSmResp(7, CommandStatus.ESME_RTHROTTLED),
    "deliver_sm_mo": DeliverSm(
        15,
        source_addr_ton=1,
        source_addr_npi=1,
        source_addr="8613800138000",
        destination_addr="106900001234",
        data_coding=8,
        short_message="退订".encode("utf-16-be"),
    ),
    "deliver_sm_receipt": DeliverSm(
        16,
        source_addr="8613800138000",
        destination_addr="Hongyan",
        esm_class=ESM_TYPE_DELIVERY_RECEIPT,
        short_message=RECEIPT.encode(),
        tlvs=Tlvs(
            receipted_message_id="0A1B2C3D",
            message_state=2,
            network_error_code=NetworkErrorCode(3, 0),
        ),
    ),
    "deliver_sm_receipt_vendor_tlv": DeliverSm(
        17,
        source_addr="8613800138000",
        destination_addr="Hongyan",
        esm_class=ESM_TYPE_DELIVERY_RECEIPT,
        short_message=RECEIPT.encode(),
        tlvs=Tlvs(receipted_message_id="0A1B2C3D", unknown=(Tlv(0x1403, b"\x01\x02"),)),
    ),
    "deliver_sm_resp": DeliverSmResp(16),
    "data_sm": DataSm(
        18,
        source_addr="Hongyan",
        dest_addr_ton=1,
        destination_addr="8613800138000",
        registered_delivery=1,
        tlvs=Tlvs(message_payload=b"data_sm body", more_messages_to_send=0),
    ),
    "data_sm_resp": DataSmResp(18, message_id="77"),
    "query_sm": QuerySm(19, message_id="0A1B2C3D", source_addr="Hongyan"),
    "query_sm_resp": QuerySmResp(19, message_id="0A1B2C3D", message_state=2),
    "cancel_sm": CancelSm(
        20, message_id="0A1B2C3D", source_addr="Hongyan", destination_addr="8613800138000"
    ),
    "cancel_sm_resp": CancelSmResp(20),
}
