"""Phone numbers: parsing, batch check, CSV cleaning and the ``numbers clean`` command."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import phonenumbers
import pytest
from phonenumbers import PhoneNumberType, carrier
from typer.testing import CliRunner

from hongyan import errors
from hongyan.cli.numbers import app
from hongyan.numbers.check import MAX_BATCH, check_numbers
from hongyan.numbers.clean import clean_csv
from hongyan.numbers.parse import (
    TYPE_NAMES,
    NumberParser,
    _cn_mobile,
    _fast_cn_mobile,
    parse_number,
)

CN_MOBILE = "+8613800138000"

# (input, region, e164, number_type, sendable, reason)
PARSE_CASES = [
    ("13800138000", "CN", CN_MOBILE, "mobile", True, None),
    ("+86 138 0013 8000", "CN", CN_MOBILE, "mobile", True, None),
    ("008613800138000", "CN", CN_MOBILE, "mobile", True, None),
    ("8613800138000", "CN", CN_MOBILE, "mobile", True, None),
    ("86 138-0013-8000", "CN", CN_MOBILE, "mobile", True, None),
    ("138-0013-8000", "CN", CN_MOBILE, "mobile", True, None),
    ("(138) 0013 8000", "CN", CN_MOBILE, "mobile", True, None),
    ("  13800138000\t", "CN", CN_MOBILE, "mobile", True, None),
    ("１３８００１３８０００", "CN", CN_MOBILE, "mobile", True, None),
    ("＋８６　１３８－００１３－８０００", "CN", CN_MOBILE, "mobile", True, None),
    ("13800138000", "cn", CN_MOBILE, "mobile", True, None),
    ("+8613800138000", "US", CN_MOBILE, "mobile", True, None),
    ("010-12345678", "CN", "+861012345678", "fixed_line", False, "NUMBER_NOT_MOBILE"),
    ("800 820 8820", "CN", "+868008208820", "toll_free", False, "NUMBER_NOT_MOBILE"),
    ("(201) 555-0123", "US", "+12015550123", "fixed_line_or_mobile", True, None),
    ("+1 650 253 0000", "CN", "+16502530000", "fixed_line_or_mobile", True, None),
    ("+44 7640 123456", "GB", "+447640123456", "pager", False, "NUMBER_NOT_MOBILE"),
    ("1380013800", "CN", None, "unknown", False, "NUMBER_INVALID"),
    ("123", "CN", None, "unknown", False, "NUMBER_INVALID"),
    ("+999 1234567", "CN", None, "unknown", False, "NUMBER_INVALID"),
    ("not a number", "CN", None, "unknown", False, "NUMBER_UNPARSEABLE"),
    ("", "CN", None, "unknown", False, "NUMBER_UNPARSEABLE"),
    ("1" * 200, "CN", None, "unknown", False, "NUMBER_UNPARSEABLE"),
]


@pytest.mark.parametrize(("raw", "region", "e164", "kind", "sendable", "reason"), PARSE_CASES)
def test_parse(
    raw: str, region: str, e164: str | None, kind: str, sendable: bool, reason: str | None
) -> None:
    info = parse_number(raw, region=region)
    assert (info.input, info.e164, info.number_type) == (raw, e164, kind)
    assert (info.sendable, info.reason) == (sendable, reason)
    assert info.valid == (e164 is not None)


@pytest.mark.parametrize(("raw", "region"), [(case[0], case[1]) for case in PARSE_CASES])
def test_valid_agrees_with_phonenumbers(raw: str, region: str) -> None:
    # parse_number derives validity from number_type() alone; this pins that shortcut.
    try:
        expected = phonenumbers.is_valid_number(phonenumbers.parse(raw, region.upper()))
    except phonenumbers.NumberParseException:
        expected = False
    assert parse_number(raw, region=region).valid == expected


def test_fast_cn_mobile_path_matches_phonenumbers_parse() -> None:
    rng = random.Random(7)
    mobiles = 0
    for prefix in range(130, 200):
        for _ in range(40):
            text = f"{prefix}{rng.randrange(10**8):08d}"
            fast = _fast_cn_mobile(text)
            assert fast is not None
            if phonenumbers.number_type(fast) == PhoneNumberType.MOBILE:
                mobiles += 1
                assert fast == phonenumbers.parse(text, "CN"), text
    assert mobiles > 1000  # the comparison really ran over many numbers
    assert _fast_cn_mobile("١٣٨٠٠١٣٨٠٠٠") is None  # Arabic-Indic digits take the full parse


def _reference(text: str) -> tuple[str | None, str, str | None]:
    """(E.164, type, carrier) of a number as phonenumbers alone describes it."""
    try:
        num = phonenumbers.parse(text, "CN")
    except phonenumbers.NumberParseException:
        return None, "unparseable", None
    kind = phonenumbers.number_type(num)
    if kind == PhoneNumberType.UNKNOWN:
        return None, "unknown", None
    e164 = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
    with_carrier = (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE)
    name = carrier.name_for_valid_number(num, "en") if kind in with_carrier else ""
    return e164, TYPE_NAMES[kind], name or None


FORMS = (
    "{a} {b} {c}",
    "{a}-{b}-{c}",
    "+86 {a} {b} {c}",
    "+86-{a}-{b}-{c}",
    "+86{a}{b}{c}",
    "+86 {a}{b}{c}",
    " {a}{b} {c} ",
    "--{a}{b}{c}",
)


def test_separated_mainland_mobiles_read_as_phonenumbers_reads_them() -> None:
    # The fast path also takes spaces, dashes and +86 (a fifth of real lists); it must agree
    # with phonenumbers on every number, mobile or not, in every form.
    rng = random.Random(11)
    fast = 0
    for prefix in range(130, 200):
        for _ in range(6):
            digits = f"{prefix}{rng.randrange(10**8):08d}"
            for form in FORMS:
                text = form.format(a=digits[:3], b=digits[3:7], c=digits[7:])
                info = parse_number(text, region="CN")
                assert (info.e164, info.number_type, info.carrier) == _reference(text), text
                assert info.region == ("CN" if info.valid else None) and info.input == text
                fast += _cn_mobile(text.strip(), "CN") is not None
    assert fast > 2000  # most of them took the fast path
    assert _cn_mobile("+86 (139) 1234 5678", "CN") is None  # other separators: full parse
    assert _cn_mobile("139 1234 5678", "US") is None


def test_parse_region_and_country_code() -> None:
    cn = parse_number("13800138000", region="CN")
    us = parse_number("(201) 555-0123", region="US")
    assert (cn.region, cn.country_code, us.region, us.country_code) == ("CN", 86, "US", 1)


@pytest.mark.parametrize(
    ("raw", "lang", "name"),
    [
        ("13800138000", "zh", "中国移动"),
        ("13800138000", "en", "China Mobile"),
        ("18600186000", "zh", "中国联通"),
        ("18600186000", "en", "China Unicom"),
        ("010-12345678", "zh", None),
    ],
)
def test_carrier_names_by_language(raw: str, lang: errors.Lang, name: str | None) -> None:
    assert parse_number(raw, region="CN", lang=lang).carrier == name


def test_unknown_region_is_a_catalog_error() -> None:
    with pytest.raises(errors.HongyanError) as caught:
        parse_number("13800138000", region="XX")
    assert caught.value.code == "NUMBER_REGION_UNKNOWN"
    assert caught.value.status == 422


def test_parser_caches_per_input_region_and_lang() -> None:
    parser = NumberParser(cache_size=8)
    first = parser.parse("13800138000", region="CN", lang="zh")
    assert parser.parse("13800138000", region="CN", lang="zh") is first
    assert parser.parse("13800138000", region="CN", lang="en").carrier == "China Mobile"
    assert parser.cache_hits() == (1, 2)


def test_parser_cache_is_bounded() -> None:
    parser = NumberParser(cache_size=2)
    for raw in ("13800138000", "13900139000", "18600186000", "13800138000"):
        parser.parse(raw, region="CN")
    assert parser.cache_hits() == (0, 4)


def test_check_numbers_duplicates_and_summary() -> None:
    raws = [
        "13800138000",
        "+86 138 0013 8000",  # same number, other form
        "010-12345678",
        "010 1234 5678",  # repeated landline: still counted as a landline
        "garbage",
        "1380013800",
        "18600186000",
        "１３８００１３８０００",
    ]
    result = check_numbers(NumberParser(), raws, region="CN", lang="en")
    assert [e.duplicate_of for e in result.entries] == [None, 0, None, 2, None, None, None, 0]
    assert [e.outcome for e in result.entries][:4] == [
        "valid",
        "duplicate",
        "NUMBER_NOT_MOBILE",
        "NUMBER_NOT_MOBILE",
    ]
    assert result.summary == {
        "valid": 2,
        "duplicate": 2,
        "NUMBER_UNPARSEABLE": 1,
        "NUMBER_INVALID": 1,
        "NUMBER_NOT_MOBILE": 2,
        "total": 8,
    }


def test_check_numbers_refuses_more_than_the_limit() -> None:
    with pytest.raises(errors.HongyanError) as caught:
        check_numbers(NumberParser(), ["13800138000"] * (MAX_BATCH + 1), region="CN")
    assert caught.value.code == "NUMBERS_TOO_MANY"
    assert "10001" in caught.value.message()


def test_check_numbers_accepts_the_limit() -> None:
    result = check_numbers(NumberParser(), ["13800138000"] * MAX_BATCH, region="CN")
    assert result.summary["duplicate"] == MAX_BATCH - 1


def _write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


def _read_csv(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


SAMPLE = [
    ["name", "phone", "note"],
    ["Li", "138 0013 8000", "a"],
    ["Wang", "+86 186-0018-6000", "b"],
    ["Li again", "8613800138000", "c"],
    ["Office", "010-12345678", "d"],
    ["Typo", "1380013800", "e"],
    ["Junk", "n/a", "f"],
    [],
    ["Short", "１３９００１３９０００"],
    ["Wide", "13700137000", "g", "extra"],
]


def test_clean_csv_writes_output_and_rejects(tmp_path: Path) -> None:
    src = _write_csv(tmp_path / "in.csv", SAMPLE)
    out, rej = tmp_path / "out.csv", tmp_path / "rej.csv"
    seen: list[int] = []
    summary = clean_csv(src, out, rej, column="phone", region="CN", lang="zh", progress=seen.append)
    assert _read_csv(out) == [
        ["name", "phone", "note", "region", "carrier", "number_type"],
        ["Li", "+8613800138000", "a", "CN", "中国移动", "mobile"],
        ["Wang", "+8618600186000", "b", "CN", "中国联通", "mobile"],
        ["Short", "+8613900139000", "", "CN", "中国移动", "mobile"],
    ]
    assert _read_csv(rej) == [
        ["reason", "name", "phone", "note"],
        ["DUPLICATE", "Li again", "8613800138000", "c"],
        ["NUMBER_NOT_MOBILE", "Office", "010-12345678", "d"],
        ["NUMBER_INVALID", "Typo", "1380013800", "e"],
        ["NUMBER_UNPARSEABLE", "Junk", "n/a", "f"],
        ["CSV_ROW_TOO_WIDE", "Wide", "13700137000", "g", "extra"],
    ]
    assert summary.as_dict() == {
        "rows": 8,  # the blank line is not a row
        "written": 3,
        "rejected": 5,
        "reasons": {
            "DUPLICATE": 1,
            "NUMBER_NOT_MOBILE": 1,
            "NUMBER_INVALID": 1,
            "NUMBER_UNPARSEABLE": 1,
            "CSV_ROW_TOO_WIDE": 1,
        },
    }
    assert seen[-1] == src.stat().st_size


def test_clean_csv_keeps_existing_columns_and_reads_a_bom(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text("\ufeffPhone ,region\n13800138000,east\n", encoding="utf-8")
    out, rej = tmp_path / "out.csv", tmp_path / "rej.csv"
    clean_csv(src, out, rej, column="phone", region="CN", progress=None)
    assert _read_csv(out) == [
        ["Phone ", "region", "carrier", "number_type"],
        ["+8613800138000", "east", "China Mobile", "mobile"],
    ]


def test_clean_csv_reads_gbk_from_excel(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_bytes("姓名,手机\n张三,13800138000\n".encode("gbk"))
    out, rej = tmp_path / "out.csv", tmp_path / "rej.csv"
    clean_csv(src, out, rej, column="手机", region="CN", lang="zh")
    assert _read_csv(out)[1] == ["张三", "+8613800138000", "CN", "中国移动", "mobile"]


def test_clean_csv_refuses_undecodable_bytes(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_bytes(b"phone\n" + b"13800138000\n" * 7000 + b"\xff\xff\n")
    with pytest.raises(errors.HongyanError) as caught:
        clean_csv(src, tmp_path / "o.csv", tmp_path / "r.csv", column="phone", region="CN")
    assert (caught.value.code, caught.value.field) == ("FIELD_INVALID", "input")


@pytest.mark.parametrize("header", [["name", "mobile"], []])
def test_clean_csv_missing_column(tmp_path: Path, header: list[str]) -> None:
    src = _write_csv(tmp_path / "in.csv", [header] if header else [])
    with pytest.raises(errors.HongyanError) as caught:
        clean_csv(src, tmp_path / "o.csv", tmp_path / "r.csv", column="phone", region="CN")
    assert caught.value.code == "CSV_COLUMN_MISSING"
    assert "phone" in caught.value.message()


def test_clean_csv_refuses_to_overwrite_its_input(tmp_path: Path) -> None:
    src = _write_csv(tmp_path / "in.csv", SAMPLE[:2])
    with pytest.raises(errors.HongyanError) as caught:
        clean_csv(src, src, tmp_path / "r.csv", column="phone", region="CN")
    assert (caught.value.code, caught.value.field) == ("FIELD_INVALID", "output")
    assert _read_csv(src) == SAMPLE[:2]


def test_cli_clean_prints_a_table(tmp_path: Path) -> None:
    src = _write_csv(tmp_path / "in.csv", SAMPLE)
    out = tmp_path / "out.csv"
    result = CliRunner().invoke(app, ["clean", str(src), "--column", "phone", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "NUMBER_NOT_MOBILE" in result.stdout
    assert "written" in result.stdout
    assert len(_read_csv(out)) == 4
    assert len(_read_csv(tmp_path / "out.rejects.csv")) == 6


def test_cli_clean_json(tmp_path: Path) -> None:
    src = _write_csv(tmp_path / "in.csv", SAMPLE)
    out, rej = tmp_path / "out.csv", tmp_path / "bad.csv"
    args = ["clean", str(src), "-o", str(out), "--rejects", str(rej), "--lang", "zh", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["written"] == 3
    assert _read_csv(out)[1][4] == "中国移动"
    assert rej.exists()


def test_cli_clean_missing_column_exits_with_the_code(tmp_path: Path) -> None:
    src = _write_csv(tmp_path / "in.csv", SAMPLE)
    args = ["clean", str(src), "--column", "mobile", "-o", str(tmp_path / "o.csv")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert "CSV_COLUMN_MISSING" in result.stderr
    assert "name, phone, note" in result.stderr
