"""The benchmarks' lean SMSC (bench/smsc_sim.py) reads and writes PDUs as SMPP 3.4 says.

S3 and S4 over SMPP count on it: a submit_sm it misreads, or a receipt Hongyan cannot match,
would make their figures wrong without failing. Checked against smpp34's codec (an outside
one) and Hongyan's receipt parser (what the connector applies).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from hongyan.smpp import DeliverSm, SubmitSm, decode, encode, receipt_from_pdu

# bench/ is not a package: its scripts import one another from their own directory.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import smsc_sim

smpp34 = pytest.importorskip("smpp34")


def test_submit_sm_fields_as_smpp34_encodes_them() -> None:
    text = "【鸿雁演示】您的订单已发货".encode("utf-16-be")
    wire = smpp34.SubmitSm(
        "Hongyan", "8613912345678", text, source_addr_ton=5, dest_addr_ton=1,
        dest_addr_npi=1, registered_delivery=1, data_coding=8, validity_period="",
        sequence_number=7,
    ).encode()  # fmt: skip
    fields = smsc_sim.parse_submit(wire[16:])
    assert fields["source_addr"] == "Hongyan" and fields["source_addr_ton"] == 5
    assert (fields["destination_addr"], fields["dest_addr_ton"], fields["dest_addr_npi"]) == (
        "8613912345678",
        1,
        1,
    )
    assert (fields["registered_delivery"], fields["data_coding"]) == (1, 8)
    assert bytes.fromhex(fields["short_message"]) == text and fields["tlvs"] == ""
    assert smsc_sim._destination(wire[16:]) == ("8613912345678", "Hongyan", 5)


def test_receipt_is_one_hongyan_matches_by_id() -> None:
    body = smsc_sim.deliver_sm_body("1f4", "8613912345678", "Hongyan", 5)
    wire = smsc_sim.pdu(smsc_sim.DELIVER_SM, 3, body)
    pdu = decode(wire)
    assert isinstance(pdu, DeliverSm) and pdu.esm_class == 0x04
    assert pdu.source_addr == "8613912345678" and pdu.destination_addr == "Hongyan"
    receipt = receipt_from_pdu(pdu)
    assert receipt is not None
    assert (receipt.message_id, receipt.status, receipt.stat) == ("1f4", "delivered", "DELIVRD")
    assert pdu.tlvs.receipted_message_id == "1f4"


def test_submit_sm_resp_carries_the_id_hongyan_reads() -> None:
    wire = encode(SubmitSm(9, source_addr="Hongyan", destination_addr="8613912345678"))
    smsc = smsc_sim.LeanSmsc(smsc_sim.Counters(), receipt_delay=None)
    session = smsc_sim.LeanSession(smsc)
    answer = session.answer(smsc_sim.SUBMIT_SM, 0, 9, wire[16:])
    resp = decode(answer)
    assert resp.sequence_number == 9 and resp.command_status == 0
    assert getattr(resp, "message_id", None) == "1"
