"""Pieces of the SMPP server without a network: matching, decoding, times, passwords, the map."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hongyan import errors
from hongyan.models import Template
from hongyan.smpp.constants import ESM_UDHI, CommandStatus
from hongyan.smpp.pdu import SubmitSm
from hongyan.smpp.tlv import Tlvs
from hongyan.smpp_server.decode import Concat, decode_text, read_fragment
from hongyan.smpp_server.matching import TemplateMatcher, split_sign
from hongyan.smpp_server.passwords import hash_password, new_password, verify_password
from hongyan.smpp_server.status_map import STATUS_OF, HyStatus, command_status
from hongyan.smpp_server.timefmt import parse_smpp_time

ROOT = Path(__file__).resolve().parents[2]


def template(tid: str, content: str, variables: dict[str, object] | None = None) -> Template:
    return Template(id=tid, content=content, variables=variables or {}, kind="notification")


@pytest.mark.parametrize(
    ("text", "sign", "rest"),
    [
        ("【鸿雁】您好", "鸿雁", "您好"),
        ("您好【鸿雁】", "鸿雁", "您好"),
        ("  【鸿雁】您好【别的】", "鸿雁", "您好【别的】"),
        ("您好", None, "您好"),
    ],
)
def test_split_sign(text: str, sign: str | None, rest: str) -> None:
    assert split_sign(text) == (sign, rest)


def test_matcher_prefers_the_most_specific_template() -> None:
    matcher = TemplateMatcher(
        [
            template("tpl_any", "${text}"),
            template(
                "tpl_code", "您的验证码是${code},${mins}分钟内有效。", {"mins": {"type": "digits"}}
            ),
            template("tpl_twice", "${a}和${a}"),
        ],
        free_text_allowed=False,
    )
    found = matcher.match("您的验证码是12ab,5分钟内有效。")
    assert found is not None and found.template_id == "tpl_code"
    assert found.params == {"code": "12ab", "mins": "5"}
    twice = matcher.match("x和x")
    assert twice is not None and twice.template_id == "tpl_twice"
    fallback = matcher.match("您的验证码是1,五分钟内有效。")  # mins is digits only
    assert fallback is not None and fallback.template_id == "tpl_any"
    assert TemplateMatcher([], free_text_allowed=True).match("hi") is None


def test_template_literals_are_not_patterns() -> None:
    matcher = TemplateMatcher([template("tpl_dot", "a.b(${x})")], free_text_allowed=False)
    assert matcher.match("a.b(1)") is not None
    assert matcher.match("axb(1)") is None


def test_udh_and_sar_fragments() -> None:
    udh8 = SubmitSm(esm_class=ESM_UDHI, short_message=bytes([5, 0, 3, 9, 2, 1]) + b"ab")
    assert read_fragment(udh8).concat == Concat(9, 2, 1)
    assert read_fragment(udh8).body == b"ab"
    udh16 = SubmitSm(esm_class=ESM_UDHI, short_message=bytes([6, 8, 4, 1, 2, 3, 3]) + b"c")
    assert read_fragment(udh16).concat == Concat(258, 3, 3)
    ports = SubmitSm(esm_class=ESM_UDHI, short_message=bytes([4, 5, 2, 0x0B, 0x84]) + b"d")
    assert read_fragment(ports).concat is None and read_fragment(ports).body == b"d"
    sar = SubmitSm(
        short_message=b"e", tlvs=Tlvs(sar_msg_ref_num=7, sar_total_segments=2, sar_segment_seqnum=2)
    )
    assert read_fragment(sar).concat == Concat(7, 2, 2)
    payload = SubmitSm(tlvs=Tlvs(message_payload=b"long"))
    assert read_fragment(payload).body == b"long" and read_fragment(payload).concat is None
    for bad in (
        SubmitSm(esm_class=ESM_UDHI, short_message=bytes([9, 0])),
        SubmitSm(esm_class=ESM_UDHI, short_message=bytes([5, 0, 3, 9, 2, 3])),
        SubmitSm(tlvs=Tlvs(sar_msg_ref_num=7)),
    ):
        with pytest.raises(errors.HongyanError) as caught:
            read_fragment(bad)
        assert caught.value.code == "SMPP_PARTS_INVALID"


def test_decode_text_by_data_coding() -> None:
    assert decode_text(b"\x00\x02\x11", 0) == "@$_"  # GSM-7 septets, one per octet
    assert decode_text(b"caf\xe9", 3) == "café"
    assert decode_text("短信😀".encode("utf-16-be"), 8) == "短信😀"
    for body, coding in ((b"\x80", 1), (b"\x00", 4), (b"\xd8\x3d", 8)):
        with pytest.raises(errors.HongyanError) as caught:
            decode_text(body, coding)
        assert caught.value.code == "SMPP_DATA_CODING_UNSUPPORTED"


def test_smpp_times() -> None:
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    assert parse_smpp_time("", now=now) is None
    assert parse_smpp_time("000001020000000R", now=now) == now + timedelta(days=1, hours=2)
    assert parse_smpp_time("261125200000032+", now=now) == datetime(2026, 11, 25, 12, tzinfo=UTC)
    with pytest.raises(ValueError):
        parse_smpp_time("2611252000", now=now)


def test_passwords_are_hashed_and_checked() -> None:
    password = new_password()
    assert len(password) == 8 and password.isalnum()
    stored = hash_password(password)
    assert password not in stored
    assert verify_password(password, stored)
    assert not verify_password(password[:-1] + "#", stored)
    assert not verify_password(password, "garbage")


def test_status_map_uses_known_codes_and_is_documented() -> None:
    assert set(STATUS_OF) <= set(errors.CATALOG)
    assert command_status(errors.NUMBER_INVALID()) == CommandStatus.ESME_RINVDSTADR
    assert command_status("SOMETHING_ELSE") == CommandStatus.ESME_RSUBMITFAIL
    doc = (ROOT / "docs/reference/smpp-status-mapping.md").read_text("utf-8")
    for code, status in STATUS_OF.items():
        row = re.search(rf"^\| `{code}` \| `0x{status:08X}` ", doc, re.MULTILINE)
        assert row is not None, f"{code} -> 0x{status:08X} missing from the mapping page"
    for vendor in HyStatus:
        assert f"`0x{vendor:08X}` | `{vendor.name}`" in doc
