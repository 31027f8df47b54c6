"""Sensitive-word matcher: evasions caught with original spans, ordinary text left alone."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hongyan.compliance import matcher as m
from hongyan.compliance.matcher import (
    Hit,
    Matcher,
    Word,
    fingerprint,
    load_default_words,
    normalize,
    parse_word_list,
)

DEFAULT = Matcher.build(load_default_words())
CJK_WORDS = [w for w in load_default_words() if not any(c.isascii() for c in w.text)]
ZERO_WIDTH = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"]
SEPARATORS = list(" *.-_,/|~　，。、·!?#@+=()【】\t\n")


def spans(text: str, word: str, matcher: Matcher = DEFAULT) -> list[str]:
    """The original slices of the hits of ``word`` in ``text``."""
    return [text[h.start : h.end] for h in matcher.find(text) if h.word == word]


# (text, listed word, the slice of text the hit must report)
EVASIONS = [
    ("赌博", "赌博", "赌博"),
    ("来玩赌 博吧", "赌博", "赌 博"),
    ("赌*博", "赌博", "赌*博"),
    ("赌.博", "赌博", "赌.博"),
    ("赌-博", "赌博", "赌-博"),
    ("赌　博", "赌博", "赌　博"),
    ("赌，博", "赌博", "赌，博"),
    ("赌\n博", "赌博", "赌\n博"),
    ("赌\u200b博", "赌博", "赌\u200b博"),
    ("赌\u00ad博", "赌博", "赌\u00ad博"),
    ("赌\ufeff\u2060博", "赌博", "赌\ufeff\u2060博"),
    ("赌🎲博", "赌博", "赌🎲博"),
    ("网 络 赌\u200b博", "网络赌博", "网 络 赌\u200b博"),
    ("网 络 赌\u200b博", "赌博", "赌\u200b博"),
    ("ｇａｍｂｌｉｎｇ", "gambling", "ｇａｍｂｌｉｎｇ"),
    ("GAMBLING tonight", "gambling", "GAMBLING"),
    ("try Gam Bling now", "gambling", "Gam Bling"),
    ("g.a.m.b.l.i.n.g", "gambling", "g.a.m.b.l.i.n.g"),
    ("ＧａＭ\u200bｂＬｉｎＧ!", "gambling", "ＧａＭ\u200bｂＬｉｎＧ"),
    ("【推广】ＣＡＳＩＮＯ开户", "casino", "ＣＡＳＩＮＯ"),
    ("buy v.i.a.g.r.a now", "viagra", "v.i.a.g.r.a"),
    ("V I A G R A", "viagra", "V I A G R A"),
    ("V-i-A-g-R-a!!!", "viagra", "V-i-A-g-R-a"),
    ("vi\u200bagra", "viagra", "vi\u200bagra"),
    ("ｖｉａｇｒａ", "viagra", "ｖｉａｇｒａ"),
    ("s.e.x", "sex", "s.e.x"),
    ("s e x", "sex", "s e x"),
    ("S*E*X", "sex", "S*E*X"),
    ("ｓｅｘ", "sex", "ｓｅｘ"),
    ("免费sex视频", "sex", "sex"),
    ("this.s.e.x", "sex", "s.e.x"),
    ("se\u0301x", "sex", "se\u0301x"),
    ("sèx", "sex", "sèx"),
    ("slot-machine", "slot machine", "slot-machine"),
    ("ｋ粉", "K粉", "ｋ粉"),
    ("加 Ｖ", "加V", "加 Ｖ"),
]


@pytest.mark.parametrize(("text", "word", "written"), EVASIONS)
def test_evasion_is_caught_with_original_span(text: str, word: str, written: str) -> None:
    assert written in spans(text, word)


CLEAN = [
    "欢迎参观省博物馆",
    "赌",
    "博",
    "Essex express delivery",
    "this exam is on Monday",
    "Sussex and Middlesex",
    "sexy",  # whole-word matching: list "sexy" too if it should be caught
    "a new method",
    "OK粉丝福利",
    "【鸿雁】您的验证码是123456，5分钟内有效，请勿泄露。",
    "【京东】您的订单已发货，快递单号SF1234567890，请注意查收。",
    "【顺丰】快件已签收，如有疑问请致电95338。",
    "Your verification code is 482913. It expires in 5 minutes.",
    "Your order #A-1029 has shipped via express delivery.",
    "Hi Anna, your appointment is confirmed for 3pm. Reply STOP to opt out.",
]


@pytest.mark.parametrize("text", CLEAN)
def test_clean_text_is_not_flagged(text: str) -> None:
    assert DEFAULT.find(text) == []


def test_review_words_are_reported_but_do_not_block() -> None:
    hits = DEFAULT.find("舞台独唱会门票")
    assert [(h.word, h.action) for h in hits] == [("台独", "review")]
    assert not DEFAULT.blocked("舞台独唱会门票")
    assert DEFAULT.blocked("网上赌 场")


def test_every_occurrence_is_reported_in_order() -> None:
    text = "赌博, 又是赌*博 and CASINO"
    assert [(h.word, text[h.start : h.end]) for h in DEFAULT.find(text)] == [
        ("赌博", "赌博"),
        ("赌博", "赌*博"),
        ("casino", "CASINO"),
    ]


def test_hit_fields() -> None:
    matcher = Matcher.build([Word("赌博", "gambling"), Word("百家乐", "gambling", "review")])
    assert matcher.find("x赌 博 百家乐") == [
        Hit("赌博", "gambling", "block", 1, 4),
        Hit("百家乐", "gambling", "review", 5, 8),
    ]


def test_compatibility_expansions_map_back_to_whole_characters() -> None:
    matcher = Matcher.build([Word("fix", "t"), Word("ix", "t"), Word("12号", "t")])
    assert [(h.word, h.start, h.end) for h in matcher.find("ﬁx")] == [("fix", 0, 2)]
    assert [(h.word, h.start, h.end) for h in matcher.find("⑫号")] == [("12号", 0, 2)]


def test_same_normalized_word_in_two_categories_gives_two_hits() -> None:
    matcher = Matcher.build([Word("Casino", "gambling"), Word("casino", "spam", "review")])
    assert {(h.category, h.action) for h in matcher.find("casino")} == {
        ("gambling", "block"),
        ("spam", "review"),
    }


def test_empty_and_unmatchable_words() -> None:
    assert Matcher.build([]).find("赌博") == []
    matcher = Matcher.build([Word("***", "t"), Word("赌博", "t")])
    assert len(matcher) == 1
    assert [h.word for h in matcher.find("赌博")] == ["赌博"]


def test_version_tracks_the_word_set() -> None:
    words = [Word("赌博", "gambling"), Word("sex", "adult")]
    assert Matcher.build(words).version == Matcher.build(reversed(words)).version
    assert Matcher.build(words).version == fingerprint(words)
    assert Matcher.build(words).version != fingerprint([*words, Word("porn", "adult")])
    assert fingerprint(words) != fingerprint([Word("赌博", "gambling", "review"), words[1]])


def test_word_rejects_unknown_action() -> None:
    with pytest.raises(ValueError, match="unknown action"):
        Word("x", "t", "drop")  # type: ignore[arg-type]


def test_parse_word_list() -> None:
    content = "# header\n\n赌博\n百家乐\treview\n  casino  \t block\n"
    assert parse_word_list(content, "gambling") == [
        Word("赌博", "gambling"),
        Word("百家乐", "gambling", "review"),
        Word("casino", "gambling", "block"),
    ]
    with pytest.raises(ValueError, match="line 2"):
        parse_word_list("a\nb\tallow\n", "t")


def test_default_lists() -> None:
    words = load_default_words()
    by_category: dict[str, list[Word]] = {}
    for word in words:
        by_category.setdefault(word.category, []).append(word)
    assert set(by_category) == {"adult", "drugs", "fraud", "gambling", "political", "spam"}
    assert all(10 <= len(ws) <= 30 for ws in by_category.values())
    assert {w.action for w in words} == {"block", "review"}
    for word in words:
        assert normalize(word.text), word
        assert Hit(word.text, word.category, word.action, 0, len(word.text)) in DEFAULT.find(
            word.text
        )


def test_plain_characters_normalize_to_their_lower_case() -> None:
    # The fast path in normalize() relies on this for every character _PLAIN_RE accepts.
    plain = [*range(0x30, 0x3A), *range(0x41, 0x5B), *range(0x61, 0x7B)]
    plain += [*range(0x3400, 0x4DC0), *range(0x4E00, 0xA000), *range(0xAC00, 0xD7A4)]
    for code in plain:
        assert m._PLAIN_RE.fullmatch(chr(code))
        assert m._normalize_char(chr(code)) == chr(code).lower(), hex(code)


# An alphabet that makes collisions likely: listed characters in several widths and cases,
# separators, invisible characters, look-alike neighbours and compatibility forms.
ALPHABET = st.sampled_from(
    list("赌博网络场彩百家乐sexSEXｓｅｘcasinoCASINO物馆ab19")
    + SEPARATORS
    + ZERO_WIDTH
    + ["ﬁ", "①", "\u0301", "🎲", "é", "K", "Ｋ"]
)


@given(st.text(ALPHABET, max_size=40))
def test_fast_normalize_equals_the_table(text: str) -> None:
    assert normalize(text) == text.translate(m._TABLE)


@given(st.text(ALPHABET, max_size=40))
def test_hit_slices_normalize_to_the_word(text: str) -> None:
    for hit in DEFAULT.find(text):
        assert normalize(text[hit.start : hit.end]) == normalize(hit.word)


@st.composite
def hidden_cjk_word(draw: st.DrawFn) -> tuple[str, str, str]:
    """A listed CJK word with invisible characters or one separator between its characters."""
    word = draw(st.sampled_from(CJK_WORDS)).text
    gap = st.one_of(
        st.lists(st.sampled_from(ZERO_WIDTH), max_size=3).map("".join),
        st.sampled_from(SEPARATORS),
    )
    written = word[0] + "".join(draw(gap) + ch for ch in word[1:])
    return draw(st.text(ALPHABET, max_size=10)), word, written


@given(hidden_cjk_word(), st.text(ALPHABET, max_size=10))
def test_invisible_or_separator_never_hides_a_cjk_word(
    case: tuple[str, str, str], suffix: str
) -> None:
    prefix, word, written = case
    text = prefix + written + suffix
    start = len(prefix)
    hits = [h for h in DEFAULT.find(text) if h.word == word]
    assert (start, start + len(written)) in [(h.start, h.end) for h in hits]


@given(
    st.sampled_from(["sex", "viagra", "gambling", "cocaine"]),
    st.sampled_from(SEPARATORS + ZERO_WIDTH),
    st.sampled_from(["", " ", "赌", "。", "\u200b"]),
)
def test_spaced_latin_word_is_caught(word: str, sep: str, edge: str) -> None:
    written = sep.join(word.upper())
    text = edge + written + edge
    assert written in spans(text, word)


@pytest.mark.parametrize("text", [text for text, _, _ in EVASIONS] + ["普通的通知短信", ""])
def test_find_with_the_text_normalized_by_the_caller_finds_the_same(text: str) -> None:
    # scan() normalizes a text once for the global and the tenant matcher.
    assert DEFAULT.find(text, normalized=normalize(text)) == DEFAULT.find(text)
