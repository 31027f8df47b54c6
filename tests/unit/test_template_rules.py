"""Template syntax, automatic review rules, links and rendering: pure functions, no database."""

from __future__ import annotations

from typing import Any

import pytest

from hongyan import errors
from hongyan.compliance.matcher import Hit
from hongyan.kit.links import find_links, host_allowed
from hongyan.models import Sign, Template
from hongyan.reviews.findings import REASONS, Finding, message, outcome
from hongyan.signs.service import check_name, check_sign_for_template
from hongyan.templates.render import render
from hongyan.templates.rules import parse, review

PHRASES = ["拒收请回复R", "回T退订", "Reply STOP to opt out"]


def reviewed(
    content: str,
    *,
    kind: str = "notification",
    rules: dict[str, Any] | None = None,
    allowed: tuple[str, ...] = (),
    hits: tuple[Hit, ...] = (),
) -> list[str]:
    found = review(
        kind=kind,
        content=content,
        rules=rules or {},
        opt_out_phrases=PHRASES,
        allowed_domains=allowed,
        hits=hits,
    )
    return [f.code for f in found]


def template(content: str, kind: str = "notification", **variables: Any) -> Template:
    return Template(
        id="tpl_test", kind=kind, international=False, content=content, variables=variables
    )


def render_error(tpl: Template, params: dict[str, str], **kwargs: Any) -> tuple[str, str | None]:
    with pytest.raises(errors.HongyanError) as raised:
        render(tpl, params, **kwargs)
    return raised.value.code, raised.value.field


# --- syntax -----------------------------------------------------------------------------------


def test_parse_variables_in_order_of_first_use() -> None:
    parsed = parse("${b}好${a}与${b}")
    assert parsed.variables == ["b", "a"] and parsed.names == ("b", "a", "b")
    assert parsed.literals == ("", "好", "与", "")
    assert parse("no variables").variables == []


@pytest.mark.parametrize(
    ("content", "invalid"),
    [
        ("${1abc}", ["1abc"]),
        ("${a-b}", ["a-b"]),
        ("${}", [""]),
        ("${名字}", ["名字"]),
        ("${" + "a" * 33 + "}", ["a" * 33]),
        ("价格${price", ["${"]),
    ],
)
def test_invalid_variable_names(content: str, invalid: list[str]) -> None:
    assert list(parse(content).invalid) == invalid
    assert reviewed(content) == ["VARIABLE_NAME_INVALID"]


def test_valid_variable_names() -> None:
    content = "${_x}${A1}${" + "a" * 32 + "}"
    assert parse(content).invalid == () and reviewed(content) == []


# --- automatic review rules -------------------------------------------------------------------


def test_content_length_limit() -> None:
    assert reviewed("很" * 500) == []
    assert reviewed("很" * 501) == ["CONTENT_TOO_LONG"]


def test_verification_has_exactly_one_variable() -> None:
    assert reviewed("验证码${code}", kind="verification") == []
    assert reviewed("验证码", kind="verification") == ["VERIFICATION_VARIABLE_COUNT"]
    assert reviewed("${a}${b}", kind="verification") == ["VERIFICATION_VARIABLE_COUNT"]
    assert reviewed("${a}${a}", kind="verification") == []  # one variable, used twice
    assert reviewed("${a}${b}") == []  # other kinds may have several


def test_verification_variable_type() -> None:
    ok = reviewed("码${code}", kind="verification", rules={"code": {"type": "digits"}})
    assert ok == []
    bad = reviewed("码${code}", kind="verification", rules={"code": {"type": "amount"}})
    assert bad == ["VERIFICATION_VARIABLE_TYPE"]


def test_rules_must_name_used_variables() -> None:
    assert reviewed("${a}", rules={"b": {"type": "digits"}}) == ["VARIABLE_RULE_UNUSED"]


@pytest.mark.parametrize(
    "content", ["五折,拒收请回复R", "五折 回 T 退订", "Sale! reply stop to OPT OUT"]
)
def test_marketing_opt_out_accepted(content: str) -> None:
    assert reviewed(content, kind="marketing") == []


@pytest.mark.parametrize("content", ["五折!", "五折,回R", "Sale! Reply STOP"])
def test_marketing_opt_out_missing(content: str) -> None:
    assert reviewed(content, kind="marketing") == ["OPT_OUT_MISSING"]
    assert reviewed(content, kind="notification") == []


@pytest.mark.parametrize(
    ("content", "allowed", "codes"),
    [
        ("见 https://a.example.com/x", (), ["LINK_NOT_ALLOWED"]),
        ("见 https://a.example.com/x", ("example.com",), []),
        ("见 https://example.com.evil.cn/x", ("example.com",), ["LINK_NOT_ALLOWED"]),
        ("见 www.shop.example/x", ("shop.example",), []),
        ("详见t.cn/A6xyz", ("example.com",), ["LINK_NOT_ALLOWED"]),
        ("打开 https://${host}/x", ("example.com",), ["LINK_NOT_ALLOWED"]),
        ("Mr.Smith, node.js 3.5折", (), []),
        ("邮件 support@corp.com", (), []),
    ],
)
def test_links(content: str, allowed: tuple[str, ...], codes: list[str]) -> None:
    assert reviewed(content, allowed=allowed) == codes


def test_sensitive_word_hits() -> None:
    block = Hit("赌博", "gambling", "block", 0, 2)
    look = Hit("同城交友", "adult", "review", 3, 7)
    assert reviewed("赌博 同城交友", hits=(block, look)) == [
        "SENSITIVE_WORD",
        "SENSITIVE_WORD_REVIEW",
    ]


def test_outcomes() -> None:
    reject = Finding("OPT_OUT_MISSING", "reject")
    look = Finding("SENSITIVE_WORD_REVIEW", "review")
    assert outcome([], trusted=False) == "pending"
    assert outcome([], trusted=True) == "approved"
    assert outcome([look], trusted=True) == "pending"
    assert outcome([look, reject], trusted=True) == "rejected"


def test_every_reason_has_both_messages() -> None:
    detail = {"length": 501, "limit": 500, "variable": "x", "count": 2, "type": "date"}
    detail |= {"example": "回T退订", "url": "u", "host": "h", "where": "content"}
    detail |= {"word": "w", "category": "c"}
    for code in REASONS:
        for lang in ("en", "zh"):
            assert lang in ("en", "zh")
            text = message(code, detail, lang)
            assert "{" not in text.replace("${x}", ""), (code, lang, text)
    assert message("SENSITIVE_WORD", detail, "zh").startswith("内容")


# --- rendering --------------------------------------------------------------------------------


def test_render_substitutes_and_records_spans() -> None:
    rendered = render(
        template("${name}您好,订单${order}已发货,${name}"), {"name": "王", "order": "9"}
    )
    assert rendered.text == "王您好,订单9已发货,王"
    assert [(s.name, s.start, s.end) for s in rendered.spans] == [
        ("name", 0, 1),
        ("order", 6, 7),
        ("name", 11, 12),
    ]
    assert rendered.variable_at(6, 7) == "order" and rendered.variable_at(2, 4) is None


def test_repeated_renders_are_served_from_the_memo() -> None:
    tpl = template("${name}您好,积分${points}")
    first = render(tpl, {"name": "王", "points": "120"})
    assert render(tpl, {"name": "王", "points": "120"}) is first  # the send path's second call
    assert render(tpl, {"name": "李", "points": "120"}).text == "李您好,积分120"


def test_a_template_changed_in_place_is_rendered_afresh() -> None:
    tpl = template("${v}", v={"type": "text"})
    assert render(tpl, {"v": "ab"}).text == "ab"
    tpl.variables = {"v": {"type": "digits"}}
    assert render_error(tpl, {"v": "ab"}) == ("PARAM_INVALID", "params.v")
    tpl.variables = {"v": {"type": "letters"}}
    tpl.content = "码${v}"
    assert render(tpl, {"v": "ab"}).text == "码ab"
    tpl.kind = "verification"  # a code has 4-6 characters
    assert render_error(tpl, {"v": "ab"}) == ("PARAM_VERIFICATION_CODE_INVALID", "params.v")
    link = template("${v}")
    assert render(link, {"v": "t.cn/abc"}, allowed_domains=["t.cn"]).text == "t.cn/abc"
    assert render_error(link, {"v": "t.cn/abc"}) == ("PARAM_CONTAINS_URL", "params.v")


def test_refusals_are_raised_every_time() -> None:
    tpl = template("${a}${b}")
    for _ in range(2):
        assert render_error(tpl, {"a": "1"}) == ("PARAM_MISSING", "params.b")
        assert render_error(tpl, {"a": "1", "b": "2", "c": "3"}) == ("PARAM_UNKNOWN", "params.c")
    assert render(tpl, {"a": "1", "b": "2"}).text == "12"


def test_values_are_not_substituted_again() -> None:
    assert render(template("${a}"), {"a": "${a}"}).text == "${a}"


def test_missing_and_unknown() -> None:
    tpl = template("${a}${b}")
    assert render_error(tpl, {"b": "1"}) == ("PARAM_MISSING", "params.a")
    assert render_error(tpl, {"a": "1", "b": "2", "z": "3", "c": "4"}) == (
        "PARAM_UNKNOWN",
        "params.c",
    )


@pytest.mark.parametrize("value", ["1234", "abcd", "A1b2C3"])
def test_verification_code_valid(value: str) -> None:
    assert render(template("码${code}", "verification"), {"code": value}).text == f"码{value}"


@pytest.mark.parametrize("value", ["123", "1234567", "12 4", "12.4", "", "一二三四"])
def test_verification_code_invalid(value: str) -> None:
    tpl = template("码${code}", "verification")
    assert render_error(tpl, {"code": value}) == (
        "PARAM_VERIFICATION_CODE_INVALID",
        "params.code",
    )


@pytest.mark.parametrize(
    ("type_", "good", "bad"),
    [
        ("digits", ["0", "0123456789"], ["12a", "1.5", "-1", "１２"]),
        ("letters", ["abc", "ABC"], ["ab1", "ab c", "王"]),
        ("amount", ["12", "12.50", "1,234.5", "-3", "¥12.00", "$3"], ["12.345", "1,23", "abc"]),
        (
            "date",
            ["2026-11-25", "2026/1/5", "2026年11月25日", "2026-11-25 08:30", "2026.11.25"],
            ["2026-13-01", "2026-02-30", "25/11/2026", "2026-11-25 25:00", "2026-11/25"],
        ),
        ("text", ["任何文字 any text!"], []),
    ],
)
def test_variable_types(type_: str, good: list[str], bad: list[str]) -> None:
    tpl = template("值${v}", v={"type": type_})
    for value in good:
        assert render(tpl, {"v": value}).text == f"值{value}", value
    for value in bad:
        assert render_error(tpl, {"v": value}) == ("PARAM_INVALID", "params.v"), value


def test_lengths_empty_and_control_characters() -> None:
    default = template("${v}")
    assert render(default, {"v": "x" * 35}).text == "x" * 35
    assert render_error(default, {"v": "x" * 36}) == ("PARAM_INVALID", "params.v")
    longer = template("${v}", v={"max_length": 100})
    assert len(render(longer, {"v": "x" * 100}).text) == 100
    assert render_error(template("${v}", v={"max_length": 3}), {"v": "abcd"})[0] == "PARAM_INVALID"
    assert render_error(default, {"v": " "}) == ("PARAM_INVALID", "params.v")
    assert render_error(default, {"v": "a\x07b"}) == ("PARAM_INVALID", "params.v")


def test_error_messages_name_the_variable() -> None:
    with pytest.raises(errors.HongyanError) as raised:
        render(template("${order}", order={"type": "digits"}), {"order": "x"})
    assert "'order'" in raised.value.message() and "digits" in raised.value.message()


@pytest.mark.parametrize(
    "value", ["https://evil.example/x", "去evil.com领取", "www.evil.example", "t.cn/abc"]
)
def test_urls_in_values(value: str) -> None:
    assert render_error(template("${v}"), {"v": value}) == ("PARAM_CONTAINS_URL", "params.v")


def test_urls_in_values_to_allowed_domains() -> None:
    tpl = template("${v}")
    assert render(tpl, {"v": "m.example.com/x"}, allowed_domains=["example.com"]).text
    assert render_error(tpl, {"v": "evil.com"}, allowed_domains=["example.com"])[0] == (
        "PARAM_CONTAINS_URL"
    )


def test_a_value_completing_a_link_is_checked() -> None:
    tpl = template("点击 https://${host}/a 领取")
    # "evil.zzz" alone has no common TLD, but in place it is the host of a link.
    assert render_error(tpl, {"host": "evil.zzz"}) == ("PARAM_CONTAINS_URL", "params.host")
    ok = render(tpl, {"host": "m.example.com"}, allowed_domains=["example.com"])
    assert ok.text == "点击 https://m.example.com/a 领取"
    path = template("https://example.com/o/${id}")
    assert render(path, {"id": "42"}, allowed_domains=["example.com"]).text.endswith("/o/42")
    # Values with no dot and no "://" skip the link search, the text they land in does not.
    assert render_error(tpl, {"host": "evil"}) == ("PARAM_CONTAINS_URL", "params.host")
    bare = template("去 ${site}.com/x 领取")
    assert render_error(bare, {"site": "evil"}) == ("PARAM_CONTAINS_URL", "params.site")
    www = template("去 www.${site}/x 领取")
    assert render_error(www, {"site": "evil"}) == ("PARAM_CONTAINS_URL", "params.site")


# --- links ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "hosts"),
    [
        ("请访问example.com/a?b=1,谢谢", ["example.com"]),
        ("HTTPS://Sub.Example.COM/x.", ["sub.example.com"]),
        ("http://1.2.3.4:8080/x", ["1.2.3.4"]),
        ("两个 a.cn 和 https://b.io", ["a.cn", "b.io"]),
        ("版本v1.2, e.g. i.e. 12.50元", []),
        ("foo@bar.com", []),
    ],
)
def test_find_links(text: str, hosts: list[str]) -> None:
    assert [link.host for link in find_links(text)] == hosts


def test_host_allowed() -> None:
    assert host_allowed("example.com", ["Example.com"])
    assert host_allowed("a.b.example.com", [".example.com"])
    assert not host_allowed("badexample.com", ["example.com"])
    assert not host_allowed("${host}", ["example.com"])
    assert not host_allowed("example.com", [])


# --- sign names and scenes --------------------------------------------------------------------


@pytest.mark.parametrize("name", ["鸿雁", "Hongyan Tech", "鸿雁-科技", "A&B", "鸿雁·科技"])
def test_sign_names_accepted(name: str) -> None:
    assert check_name(f" {name} ") == name


@pytest.mark.parametrize(
    "name",
    ["鸿", "x" * 13, "【鸿雁】", "鸿雁（科技）", "鸿雁《科技》", "鸿雁👍", "鸿雁\u200d", "鸿雁!"],
)
def test_sign_names_refused(name: str) -> None:
    with pytest.raises(errors.HongyanError) as raised:
        check_name(name)
    assert raised.value.code == "SIGN_NAME_INVALID" and raised.value.field == "name"


def test_verification_only_sign_sends_verification_only() -> None:
    otp = Sign(name="鸿雁", purpose="verification")
    general = Sign(name="鸿雁", purpose="general")
    check_sign_for_template(otp, "verification")
    for kind in ("notification", "marketing", "verification"):
        check_sign_for_template(general, kind)
    with pytest.raises(errors.HongyanError) as raised:
        check_sign_for_template(otp, "marketing")
    assert raised.value.code == "SIGN_SCENE_MISMATCH"
