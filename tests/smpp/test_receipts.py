"""Receipt texts, message_state <-> stat, and receipts read from deliver_sm / data_sm."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from hongyan.smpp import (
    DataSm,
    DeliverSm,
    DeliveryReceipt,
    MessageState,
    NetworkErrorCode,
    Tlvs,
    convert_message_id,
    format_receipt,
    is_receipt,
    parse_receipt,
    receipt_from_pdu,
    receipt_status,
    stat_of_state,
    state_of_stat,
)
from tests.smpp.samples import RECEIPT

CASES = [
    (
        "canonical",
        RECEIPT,
        DeliveryReceipt(
            message_id="0A1B2C3D",
            sub=1,
            dlvrd=1,
            submit_date=datetime(2024, 1, 2, 15, 30, tzinfo=UTC),
            done_date=datetime(2024, 1, 2, 15, 31, tzinfo=UTC),
            stat="DELIVRD",
            err="000",
            text="Hongyan carries lett",
        ),
    ),
    (
        "upper_case_keys_seconds_and_underscores",
        "ID:12345 SUB:001 DLVRD:000 SUBMIT_DATE:240102153005 DONE_DATE:240102153107 "
        "STAT:UNDELIV ERR:034 TEXT:",
        DeliveryReceipt(
            message_id="12345",
            sub=1,
            dlvrd=0,
            submit_date=datetime(2024, 1, 2, 15, 30, 5, tzinfo=UTC),
            done_date=datetime(2024, 1, 2, 15, 31, 7, tzinfo=UTC),
            stat="UNDELIV",
            err="034",
            text="",
        ),
    ),
    (
        "missing_fields_and_lower_stat",
        "id:abc stat:expired",
        DeliveryReceipt(message_id="abc", stat="EXPIRED"),
    ),
    (
        "extra_spaces_and_text_with_colons",
        "id: 77  sub:1 dlvrd:1  done date:2401021531 stat:DELIVRD err:0 text:code: 1234 stat:x",
        DeliveryReceipt(
            message_id="77",
            sub=1,
            dlvrd=1,
            done_date=datetime(2024, 1, 2, 15, 31, tzinfo=UTC),
            stat="DELIVRD",
            err="0",
            text="code: 1234 stat:x",
        ),
    ),
    (
        "bad_date_is_none",
        "id:1 submit date:2413991299 done date:abc stat:DELIVRD",
        DeliveryReceipt(message_id="1", stat="DELIVRD"),
    ),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_parse_receipt(text: str, expected: DeliveryReceipt) -> None:
    assert parse_receipt(text) == expected


def test_not_a_receipt() -> None:
    assert parse_receipt("hello, are you there?") is None
    assert parse_receipt("") is None


def test_time_zone_of_the_smsc() -> None:
    china = timezone(timedelta(hours=8))
    parsed = parse_receipt("id:1 done date:2401021531 stat:DELIVRD", tz=china)
    assert parsed is not None and parsed.done_date == datetime(2024, 1, 2, 15, 31, tzinfo=china)


def test_format_then_parse_round_trips() -> None:
    parsed = parse_receipt(RECEIPT)
    assert parsed is not None
    assert format_receipt(parsed) == RECEIPT
    assert parse_receipt(format_receipt(parsed)) == parsed
    assert format_receipt(DeliveryReceipt(message_id="9")) == (
        "id:9 sub:000 dlvrd:000 submit date:0000000000 done date:0000000000 stat:UNKNOWN "
        "err:000 text:"
    )


STATES = [
    (MessageState.ENROUTE, "ENROUTE", "accepted"),
    (MessageState.DELIVERED, "DELIVRD", "delivered"),
    (MessageState.EXPIRED, "EXPIRED", "expired"),
    (MessageState.DELETED, "DELETED", "undelivered"),
    (MessageState.UNDELIVERABLE, "UNDELIV", "undelivered"),
    (MessageState.ACCEPTED, "ACCEPTD", "accepted"),
    (MessageState.UNKNOWN, "UNKNOWN", "unknown"),
    (MessageState.REJECTED, "REJECTD", "rejected"),
]


@pytest.mark.parametrize(("state", "stat", "status"), STATES)
def test_state_stat_and_status(state: MessageState, stat: str, status: str) -> None:
    assert stat_of_state(state) == stat
    assert state_of_stat(stat) is state
    assert state_of_stat(stat.lower()) is state
    assert receipt_status(state) == status
    assert DeliveryReceipt(stat=stat).status == status


def test_lenient_stat_words_and_unknown_values() -> None:
    assert state_of_stat("DELIVERED") is MessageState.DELIVERED
    assert state_of_stat("undelivered") is MessageState.UNDELIVERABLE
    assert state_of_stat("WHATEVER") is MessageState.UNKNOWN
    assert stat_of_state(99) == "UNKNOWN"
    assert receipt_status(0) == "unknown"
    assert DeliveryReceipt().state is MessageState.UNKNOWN


def _receipt_pdu(text: bytes, **tlvs: object) -> DeliverSm:
    return DeliverSm(1, esm_class=0x04, short_message=text, tlvs=Tlvs(**tlvs))  # type: ignore[arg-type]


def test_receipt_from_text_and_tlvs() -> None:
    pdu = _receipt_pdu(
        b"id:123 stat:UNDELIV err:001",
        receipted_message_id="7b",
        message_state=2,
        network_error_code=NetworkErrorCode(3, 1),
    )
    by_tlv = receipt_from_pdu(pdu)
    assert by_tlv is not None
    assert (by_tlv.message_id, by_tlv.stat, by_tlv.err) == ("7b", "DELIVRD", "001")
    assert by_tlv.network_error == NetworkErrorCode(3, 1)
    by_text = receipt_from_pdu(pdu, prefer="text")
    assert by_text is not None and (by_text.message_id, by_text.stat) == ("123", "UNDELIV")


def test_receipt_from_tlvs_only_and_payload_and_ucs2() -> None:
    only_tlvs = receipt_from_pdu(_receipt_pdu(b"", receipted_message_id="abc", message_state=5))
    assert only_tlvs is not None and (only_tlvs.message_id, only_tlvs.status) == (
        "abc",
        "undelivered",
    )
    payload = receipt_from_pdu(_receipt_pdu(b"", message_payload=b"id:9 stat:DELIVRD"))
    assert payload is not None and payload.message_id == "9"
    ucs2 = DeliverSm(
        esm_class=0x04, data_coding=8, short_message="id:5 stat:DELIVRD".encode("utf-16-be")
    )
    assert (r := receipt_from_pdu(ucs2)) is not None and r.message_id == "5"
    data_sm = DataSm(esm_class=0x04, tlvs=Tlvs(message_payload=b"id:6 stat:EXPIRED"))
    assert (r := receipt_from_pdu(data_sm)) is not None and r.status == "expired"


def test_mo_messages_are_not_receipts() -> None:
    mo = DeliverSm(esm_class=0x00, short_message=b"id:1 stat:DELIVRD")
    assert not is_receipt(mo) and receipt_from_pdu(mo) is None
    assert is_receipt(DeliverSm(esm_class=0x20))  # intermediate notification
    assert receipt_from_pdu(_receipt_pdu(b"no receipt here")) is None


def test_convert_message_id() -> None:
    assert convert_message_id("ff", source="hex", target="dec") == "255"
    assert convert_message_id("255", source="dec", target="hex") == "ff"
    assert convert_message_id("xyz", source="hex", target="dec") == "xyz"
    assert convert_message_id("12", source="dec", target="dec") == "12"
