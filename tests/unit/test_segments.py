from __future__ import annotations

import dataclasses
from typing import Any

import gsm0338  # noqa: F401  # registers "gsm03.38", the independent cost oracle below
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hongyan.kit.segments import (
    Encoding,
    SegmentInfo,
    analyze,
    encode_part,
    split,
    udh_concat,
)

GSM7 = Encoding.GSM7
UCS2 = Encoding.UCS2
EXT = "^{}\\[~]|€\f"
EMOJI = "😀"  # U+1F600: one character, two UTF-16 code units

CASES = [
    # id, text, analyze kwargs, encoding, units, segments, characters per part
    ("empty", "", {}, GSM7, 0, 0, ()),
    ("one", "a", {}, GSM7, 1, 1, (1,)),
    ("gsm-160", "a" * 160, {}, GSM7, 160, 1, (160,)),
    ("gsm-161", "a" * 161, {}, GSM7, 161, 2, (153, 8)),
    ("gsm-306", "a" * 306, {}, GSM7, 306, 2, (153, 153)),
    ("gsm-307", "a" * 307, {}, GSM7, 307, 3, (153, 153, 1)),
    ("gsm-459", "a" * 459, {}, GSM7, 459, 3, (153, 153, 153)),
    ("crlf", "a\r\nb", {}, GSM7, 4, 1, (4,)),
    ("greek-and-accents", "ΔΦΓΛΩΠΨΣΘΞ éèÇÅß¡¿§", {}, GSM7, 19, 1, (19,)),
    ("euro", "€", {}, GSM7, 2, 1, (1,)),
    ("form-feed", "\f", {}, GSM7, 2, 1, (1,)),
    ("every-extension", EXT, {}, GSM7, 20, 1, (10,)),
    ("ext-fills-160", "a" * 158 + "€", {}, GSM7, 160, 1, (159,)),
    ("ext-tips-to-161", "a" * 159 + "€", {}, GSM7, 161, 2, (153, 7)),
    ("ext-ends-part-at-153", "a" * 151 + "€" + "a" * 10, {}, GSM7, 163, 2, (152, 10)),
    # The escape pair would take septets 153 and 154: it moves whole to part 2.
    ("ext-straddles-153", "a" * 152 + "€" + "a" * 10, {}, GSM7, 164, 2, (152, 11)),
    ("ext-straddles-306", "a" * 152 + "[" + "a" * 152, {}, GSM7, 306, 3, (152, 152, 1)),
    ("all-ext-160", "{" * 80, {}, GSM7, 160, 1, (80,)),
    ("all-ext-162", "|" * 81, {}, GSM7, 162, 2, (76, 5)),
    ("backtick-not-gsm", "`", {}, UCS2, 1, 1, (1,)),
    ("lower-c-cedilla-not-gsm", "ç", {}, UCS2, 1, 1, (1,)),
    ("bare-escape-not-gsm", "\x1b", {}, UCS2, 1, 1, (1,)),
    ("one-chinese-makes-ucs2", "a" * 100 + "中", {}, UCS2, 101, 2, (67, 34)),
    ("latin-plus-chinese", "Hello 世界", {}, UCS2, 8, 1, (8,)),
    ("zh-70", "中" * 70, {}, UCS2, 70, 1, (70,)),
    ("zh-71", "中" * 71, {}, UCS2, 71, 2, (67, 4)),
    ("zh-134", "中" * 134, {}, UCS2, 134, 2, (67, 67)),
    ("zh-135", "中" * 135, {}, UCS2, 135, 3, (67, 67, 1)),
    ("emoji", EMOJI, {}, UCS2, 2, 1, (1,)),
    ("emoji-35", EMOJI * 35, {}, UCS2, 70, 1, (35,)),
    ("emoji-36", EMOJI * 36, {}, UCS2, 72, 2, (33, 3)),
    ("emoji-ends-part-at-67", "a" * 65 + EMOJI + "a" * 5, {}, UCS2, 72, 2, (66, 5)),
    # The surrogate pair would take units 67 and 68: it moves whole to part 2.
    ("emoji-straddles-67", "a" * 66 + EMOJI + "a" * 5, {}, UCS2, 73, 2, (66, 6)),
    ("emoji-single-70", "a" * 68 + EMOJI, {}, UCS2, 70, 1, (69,)),
    ("mainland-sign", "验证码1234", {"sign": "阿里云", "mainland": True}, UCS2, 12, 1, (12,)),
    ("mainland-sign-70", "a" * 66, {"sign": "签名", "mainland": True}, UCS2, 70, 1, (70,)),
    ("mainland-sign-71", "a" * 67, {"sign": "签名", "mainland": True}, UCS2, 71, 2, (67, 4)),
    ("mainland-sign-bracketed", "a", {"sign": "【签名】", "mainland": True}, UCS2, 5, 1, (5,)),
    ("mainland-no-sign", "a" * 160, {"mainland": True}, GSM7, 160, 1, (160,)),
    ("intl-sign-not-counted", "a" * 160, {"sign": "Acme"}, GSM7, 160, 1, (160,)),
]


@pytest.mark.parametrize(
    ("text", "kwargs", "encoding", "units", "segments", "part_lengths"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_analyze(
    text: str,
    kwargs: dict[str, Any],
    encoding: Encoding,
    units: int,
    segments: int,
    part_lengths: tuple[int, ...],
) -> None:
    info = analyze(text, **kwargs)

    assert (info.encoding, info.units, info.segments) == (encoding, units, segments)
    assert tuple(len(p) for p in info.parts) == part_lengths
    assert "".join(info.parts) == info.text
    assert info.characters == len(info.text)
    assert split(info.text, encoding) == info.parts


@pytest.mark.parametrize(
    ("text", "per_segment"),
    [("", 160), ("a" * 160, 160), ("a" * 161, 153), ("中", 70), ("中" * 71, 67)],
)
def test_per_segment_is_the_limit_applied(text: str, per_segment: int) -> None:
    assert analyze(text).per_segment == per_segment


def test_mainland_prefixes_the_sign() -> None:
    assert analyze("您的验证码", sign="阿里云", mainland=True).text == "【阿里云】您的验证码"
    assert analyze("code", sign="Acme").text == "code"


def test_surrogate_code_points_are_joined_not_split() -> None:
    # Broken UTF-16 can leave a str with U+D83D U+DE00 as two code points.
    info = analyze("a" * 66 + "\ud83d\ude00" + "a" * 5)

    assert info.parts == ("a" * 66, EMOJI + "a" * 5)
    assert info.units == 73


def test_lone_surrogate_is_one_ucs2_unit() -> None:
    info = analyze("a\ud800")

    assert (info.encoding, info.units) == (UCS2, 2)
    assert encode_part(info.parts[0], UCS2) == b"\x00a\xd8\x00"


@pytest.mark.parametrize(
    ("text", "encoding", "sixteen_bit", "part_lengths"),
    [
        ("a" * 161, GSM7, False, (153, 8)),
        ("a" * 161, GSM7, True, (152, 9)),
        ("a" * 160, GSM7, True, (160,)),
        ("a" * 151 + "€" + "a" * 10, GSM7, True, (151, 11)),
        ("中" * 71, UCS2, True, (66, 5)),
        ("abc", UCS2, False, (3,)),
    ],
)
def test_split(
    text: str, encoding: Encoding, sixteen_bit: bool, part_lengths: tuple[int, ...]
) -> None:
    parts = split(text, encoding, sixteen_bit=sixteen_bit)

    assert tuple(len(p) for p in parts) == part_lengths
    assert "".join(parts) == text


def test_split_refuses_non_gsm_text_as_gsm7() -> None:
    with pytest.raises(ValueError, match="GSM-7"):
        split("中", GSM7)


@pytest.mark.parametrize(
    ("part", "encoding", "expected"),
    [
        ("@£$", GSM7, b"\x00\x01\x02"),
        ("Hi!", GSM7, b"Hi!"),
        ("€", GSM7, b"\x1be"),
        ("\f[]", GSM7, b"\x1b\x0a\x1b\x3c\x1b\x3e"),
        ("ΔΩ", GSM7, b"\x10\x15"),
        ("中a", UCS2, b"\x4e\x2d\x00a"),
        (EMOJI, UCS2, b"\xd8\x3d\xde\x00"),
    ],
)
def test_encode_part(part: str, encoding: Encoding, expected: bytes) -> None:
    assert encode_part(part, encoding) == expected


@pytest.mark.parametrize("part", ["中", "`", "\x1b"])
def test_encode_part_refuses_non_gsm_as_gsm7(part: str) -> None:
    with pytest.raises(ValueError, match="GSM-7"):
        encode_part(part, GSM7)


@pytest.mark.parametrize(
    ("args", "sixteen_bit", "expected"),
    [
        ((0x42, 3, 1), False, b"\x05\x00\x03\x42\x03\x01"),
        ((0, 1, 1), False, b"\x05\x00\x03\x00\x01\x01"),
        ((255, 255, 255), False, b"\x05\x00\x03\xff\xff\xff"),
        ((0x1234, 2, 2), True, b"\x06\x08\x04\x12\x34\x02\x02"),
        ((0xFFFF, 9, 1), True, b"\x06\x08\x04\xff\xff\x09\x01"),
    ],
)
def test_udh_concat(args: tuple[int, int, int], sixteen_bit: bool, expected: bytes) -> None:
    assert udh_concat(*args, sixteen_bit=sixteen_bit) == expected


@pytest.mark.parametrize(
    ("args", "sixteen_bit", "field"),
    [
        ((256, 2, 1), False, "ref"),
        ((-1, 2, 1), False, "ref"),
        ((65536, 2, 1), True, "ref"),
        ((1, 0, 1), False, "total"),
        ((1, 256, 1), False, "total"),
        ((1, 2, 0), False, "seq"),
        ((1, 2, 3), True, "seq"),
    ],
)
def test_udh_concat_rejects_out_of_range(
    args: tuple[int, int, int], sixteen_bit: bool, field: str
) -> None:
    with pytest.raises(ValueError, match=field):
        udh_concat(*args, sixteen_bit=sixteen_bit)


def test_results_are_frozen_and_encoding_is_a_str() -> None:
    info = analyze("hi")

    with pytest.raises(dataclasses.FrozenInstanceError):
        info.units = 3  # type: ignore[misc]
    assert isinstance(GSM7, str)
    assert str(GSM7) == "gsm7"
    assert Encoding("ucs2") is UCS2


# Alphabets that reach the boundaries often: the whole GSM-7 set, and a mix of one- and
# two-unit characters from both encodings.
def _gsm0338_encodes(char: str) -> bool:
    try:
        char.encode("gsm03.38")
    except UnicodeEncodeError:
        return False
    return True


# U+001B is encodable by gsm0338 but is the escape septet itself, so the module sends it as UCS-2.
GSM_TEXT = st.text(
    alphabet=st.sampled_from(
        [c for c in map(chr, range(0x2100)) if c != "\x1b" and _gsm0338_encodes(c)]
    ),
    max_size=500,
)
MIXED_TEXT = st.text(alphabet=st.sampled_from(list("a€[中" + EMOJI)), max_size=500)
ANY_TEXT = st.text(max_size=400)


def _cost(part: str, encoding: Encoding) -> int:
    """Cost measured by the codecs, independently of the module under test."""
    if encoding is GSM7:
        return len(part.encode("gsm03.38"))
    return len(part.encode("utf-16-be")) // 2


def _check(info: SegmentInfo) -> None:
    assert "".join(info.parts) == info.text
    assert info.segments == len(info.parts)
    assert all(info.parts)
    assert info.units == sum(_cost(p, info.encoding) for p in info.parts)
    assert all(_cost(p, info.encoding) <= info.per_segment for p in info.parts)
    # Greedy: no part could have taken the first character of the next one.
    for part, after in zip(info.parts, info.parts[1:], strict=False):
        assert _cost(part + after[0], info.encoding) > info.per_segment
    if info.encoding is GSM7:
        for part in info.parts:
            assert encode_part(part, GSM7) == part.encode("gsm03.38")


@given(GSM_TEXT)
def test_property_gsm_text(text: str) -> None:
    info = analyze(text)

    assert info.encoding is GSM7
    _check(info)


@given(MIXED_TEXT)
def test_property_mixed_text(text: str) -> None:
    _check(analyze(text))


@given(ANY_TEXT, st.booleans())
def test_property_any_text(text: str, mainland: bool) -> None:
    _check(analyze(text, sign="签名", mainland=mainland))
