"""Sensitive-word matching: Aho-Corasick over normalized text (pure, no database).

Normalization is defined per original character and applied the same way to the words and to
the text, so both sides always agree and every normalized character knows the original character
it came from (hits report spans of the ORIGINAL text, end exclusive):

1. NFKD, drop combining marks, NFKC, casefold: full-width ``ｇ`` -> ``g``, ``①`` -> ``1``,
   ``ﬁ`` -> ``fi``, ``è`` -> ``e``, ``SEX`` -> ``sex``.
2. Invisible characters are dropped: format controls (U+200B..U+200D, U+2060, U+FEFF, soft
   hyphen U+00AD, ...), other control characters, combining marks and the Hangul fillers.
3. Separators are dropped: whitespace, punctuation and symbols, so ``赌 博``, ``赌*博``,
   ``赌.博`` and ``v.i.a.g.r.a`` read as ``赌博`` and ``viagra``.

Separator rule for Latin words. Seeing through separators would make ``this exam`` contain
``sex``. So a word edge that is an ASCII letter or digit must lie on a word boundary of the
original text: the nearest visible character before the match (and after it) must not be an ASCII
letter or digit after normalization, and the match must not start or end inside the expansion of
a single character (``ﬁ``). Latin words thus match whole words only, however they are spelled:
``s.e.x``, ``S E X``, ``ｓｅｘ`` and ``免费sex`` are caught; ``Essex``, ``this exam`` and ``sexy``
are not (list ``sexy`` too if it should be). CJK edges have no such rule: separators anywhere
between CJK characters are seen through, and ``网络赌博`` contains ``赌博``.

Not handled: look-alike letters from other scripts (Cyrillic ``е`` for Latin ``e``) and
traditional/simplified variants; list those spellings explicitly.

Speed: separators are removed by one precompiled regex; when what is left is plain ASCII letters,
digits, CJK ideographs or Hangul (most messages) lowering it is the whole normalization, otherwise
one ``str.translate`` over a table filled lazily per code point does it. The per-character map
back to original positions is only built for the rare message that has a candidate match.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from typing import Literal, cast, get_args

import ahocorasick_rs

Action = Literal["block", "review"]
_ACTIONS = frozenset(get_args(Action))

# Part of the fingerprint: a change here must invalidate automatons built by older code.
NORMALIZATION_VERSION = 1

# Hangul fillers render as nothing but are letters (Lo), a known way to split a word invisibly.
_INVISIBLE_LETTERS = frozenset("\u115f\u1160\u3164\uffa0")
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Mn", "Me"})


def _is_invisible(ch: str) -> bool:
    if ch in _INVISIBLE_LETTERS:
        return True
    # Tab and newline are Cc too, but they are visible separators (they split Latin words).
    return unicodedata.category(ch) in _INVISIBLE_CATEGORIES and not ch.isspace()


def _is_dropped(ch: str) -> bool:
    """True for invisible characters and separators (whitespace, punctuation, symbols)."""
    return _is_invisible(ch) or ch.isspace() or unicodedata.category(ch)[0] in "PSZ"


def _normalize_char(ch: str) -> str:
    if _is_dropped(ch):
        return ""
    base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not _is_dropped(c))
    folded = unicodedata.normalize("NFKC", base.casefold())
    # Compatibility forms can expand to separators (U+2474 -> "(1)"); drop those as well.
    return "".join(c for c in folded if not _is_dropped(c))


class _Table(dict[int, str]):
    """Code point -> normalized text, filled on first sight; ``str.translate`` calls __missing__.

    It grows by at most one small entry per distinct code point ever seen (a few MB worst case).
    """

    def __missing__(self, code: int) -> str:
        out = _normalize_char(chr(code))
        self[code] = out
        return out


_TABLE = _Table()

# The BMP blocks where separators and invisible characters live in practice: Latin, punctuation,
# CJK symbols, half/full-width forms. Astral ranges (emoji) would make the class a slow linear
# scan in `re`; text holding them takes the translate path, which drops them too.
_DROP_SCAN = ((0, 0x3100), (0xFE00, 0x10000))


def _drop_class() -> str:
    ranges: list[tuple[int, int]] = []
    for lo, hi in _DROP_SCAN:
        for code in range(lo, hi):
            if not _is_dropped(chr(code)):
                continue
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1] = (ranges[-1][0], code)
            else:
                ranges.append((code, code))
    return "".join(f"\\U{a:08x}-\\U{b:08x}" for a, b in ranges)


_DROP_RE = re.compile(f"[{_drop_class()}]+")
# Characters that normalize to their own lower case (checked in the tests): most messages are
# only these once separators are gone, and then the per-character table is not needed.
_PLAIN_RE = re.compile("[0-9A-Za-z\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7a3]*")


def normalize(text: str) -> str:
    """Return the normalized form the matcher compares (see the module docstring)."""
    # Same result as text.translate(_TABLE): _DROP_RE only removes characters the table maps to "".
    text = _DROP_RE.sub("", text)
    if _PLAIN_RE.fullmatch(text):
        return text.lower()
    return text.translate(_TABLE)


@dataclass(frozen=True, slots=True)
class Word:
    """One listed sensitive word."""

    text: str
    category: str
    action: Action = "block"

    def __post_init__(self) -> None:
        if self.action not in _ACTIONS:
            raise ValueError(f"unknown action {self.action!r} for {self.text!r}")
        if not self.category:
            raise ValueError(f"empty category for {self.text!r}")


@dataclass(frozen=True, slots=True)
class Hit:
    """One occurrence: ``text[start:end]`` is the word as written in the original text."""

    word: str
    category: str
    action: Action
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class _Pattern:
    words: tuple[Word, ...]
    latin_start: bool  # the first character is an ASCII letter/digit: needs a word boundary
    latin_end: bool


def _is_latin(s: str) -> bool:
    """True when ``s`` is one ASCII letter or digit ("" is not)."""
    return s.isascii() and s.isalnum()


def fingerprint(words: Iterable[Word]) -> str:
    """Return a stable hash of a word set; equal sets give equal fingerprints in any order."""
    lines = sorted({f"{w.category}\t{w.action}\t{w.text}" for w in words})
    # A new Unicode database can change what normalizes to what, hence its version too.
    header = f"v{NORMALIZATION_VERSION} unicode {unicodedata.unidata_version}\n"
    digest = hashlib.sha256(header.encode())
    for line in lines:
        digest.update(line.encode() + b"\n")
    return digest.hexdigest()[:16]


class Matcher:
    """A compiled word set: build once, then ``find`` in any number of messages."""

    def __init__(self, patterns: dict[str, list[Word]], version: str) -> None:
        self.version = version  # compare with fingerprint(current_words) to decide on a rebuild
        self._patterns = [
            _Pattern(tuple(words), _is_latin(key[0]), _is_latin(key[-1]))
            for key, words in patterns.items()
        ]
        self._automaton = ahocorasick_rs.AhoCorasick(list(patterns)) if patterns else None

    @classmethod
    def build(cls, words: Iterable[Word]) -> Matcher:
        """Compile ``words``; words that normalize to nothing (``***``) are skipped."""
        listed = list(dict.fromkeys(words))
        patterns: dict[str, list[Word]] = {}
        for word in listed:
            key = normalize(word.text)
            if key:
                patterns.setdefault(key, []).append(word)
        return cls(patterns, fingerprint(listed))

    def __len__(self) -> int:
        return sum(len(p.words) for p in self._patterns)

    def find(self, text: str, *, normalized: str | None = None) -> list[Hit]:
        """Return every occurrence of every listed word, ordered by position.

        ``normalized`` is ``normalize(text)`` when the caller has it already (one text
        scanned by several matchers); it must be exactly that.
        """
        if self._automaton is None:
            return []
        if normalized is None:
            normalized = normalize(text)
        matches = self._automaton.find_matches_as_indexes(normalized, overlapping=True)
        if not matches:
            return []
        origin = _origins(text)
        hits: list[Hit] = []
        for index, start, end in matches:
            pattern = self._patterns[index]
            if pattern.latin_start and not _starts_word(text, origin, start):
                continue
            if pattern.latin_end and not _ends_word(text, origin, end):
                continue
            span = (origin[start], origin[end - 1] + 1)
            hits.extend(Hit(w.text, w.category, w.action, *span) for w in pattern.words)
        hits.sort(key=lambda h: (h.start, h.end, h.category, h.word))
        return hits

    def blocked(self, text: str) -> bool:
        """True when ``text`` contains a word whose action is ``block``."""
        return any(hit.action == "block" for hit in self.find(text))


def _origins(text: str) -> list[int]:
    """Map each normalized position to the index of the original character it came from."""
    origin: list[int] = []
    for i, ch in enumerate(text):
        width = len(_TABLE[ord(ch)])
        if width == 1:
            origin.append(i)
        elif width:
            origin.extend([i] * width)
    return origin


def _starts_word(text: str, origin: list[int], pos: int) -> bool:
    if pos > 0 and origin[pos - 1] == origin[pos]:
        return False  # starts inside one character's expansion, e.g. "ix" in "ﬁx"
    i = origin[pos] - 1
    while i >= 0 and _is_invisible(text[i]):
        i -= 1
    return i < 0 or not _is_latin(_TABLE[ord(text[i])][-1:])


def _ends_word(text: str, origin: list[int], pos: int) -> bool:
    if pos < len(origin) and origin[pos] == origin[pos - 1]:
        return False
    i = origin[pos - 1] + 1
    while i < len(text) and _is_invisible(text[i]):
        i += 1
    return i >= len(text) or not _is_latin(_TABLE[ord(text[i])][:1])


def parse_word_list(content: str, category: str) -> list[Word]:
    """Parse a word list: one word per line, ``#`` comment lines, optional ``<TAB>review``."""
    words: list[Word] = []
    for lineno, raw in enumerate(content.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        text, _, action = line.partition("\t")
        action = action.strip() or "block"
        if action not in _ACTIONS:
            raise ValueError(f"{category} line {lineno}: unknown action {action!r}")
        words.append(Word(text.strip(), category, cast(Action, action)))
    return words


def load_default_words() -> list[Word]:
    """Read the shipped lists in ``hongyan/data/sensitive_words``; the file name is the category."""
    folder = resources.files("hongyan") / "data" / "sensitive_words"
    words: list[Word] = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.is_file() and entry.name.endswith(".txt"):
            category = entry.name.removesuffix(".txt")
            words.extend(parse_word_list(entry.read_text(encoding="utf-8"), category))
    return words
