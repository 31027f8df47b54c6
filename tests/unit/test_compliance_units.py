"""Word files and the matcher cache: the pure parts of the compliance domain."""

from __future__ import annotations

import pytest

from hongyan.compliance import wordfile
from hongyan.compliance.cache import MatcherCache
from hongyan.compliance.matcher import Matcher, Word
from hongyan.compliance.wordfile import Entry, WordFileError


def test_text_format_with_comments_and_actions() -> None:
    content = "\ufeff# title\n\n赌博\n 大麻\treview \n"
    assert wordfile.parse(content, fmt="auto", category="drugs", action="block") == [
        Entry(3, "赌博", "drugs", "block"),
        Entry(4, "大麻", "drugs", "review"),
    ]


def test_csv_format_fills_empty_cells_from_the_defaults() -> None:
    content = '# exported\nWord,Category,Action\n赌博,gambling,\n"a,b",,review\n'
    assert wordfile.detect_format(content) == "csv"
    assert wordfile.parse(content, fmt="auto", category="custom", action="block") == [
        Entry(3, "赌博", "gambling", "block"),
        Entry(4, "a,b", "custom", "review"),
    ]


def test_export_reads_back() -> None:
    rows = [("a,b", "spam", "review"), ('say "hi"', "custom", "block")]
    parsed = wordfile.parse(wordfile.to_csv(rows), fmt="auto", category="x", action="block")
    assert [(e.word, e.category, e.action) for e in parsed] == rows


@pytest.mark.parametrize(
    ("content", "fmt", "line", "reason"),
    [
        ("ok\nbad\tmaybe\n", "text", 2, "action"),
        ("word,category\nok,bad cat\n", "csv", 2, "category"),
        ("word\nok,extra\n", "csv", 2, "more fields"),
        ("name\nok\n", "csv", 1, "'word' column"),
        ("word,action\n,block\n", "csv", 2, "empty"),
        ("x" * 101 + "\n", "text", 1, "longer"),
    ],
)
def test_bad_lines_name_the_line(content: str, fmt: str, line: int, reason: str) -> None:
    with pytest.raises(WordFileError) as caught:
        wordfile.parse(content, fmt=fmt, category="custom", action="block")
    assert caught.value.line == line and reason in caught.value.reason


def test_cache_checks_each_scope_once_per_interval() -> None:
    cache = MatcherCache(refresh_secs=1.0)
    matcher = Matcher.build([Word("赌博", "gambling")])
    assert cache.due(["global", "ten_a"], now=10.0) == ["global", "ten_a"]
    cache.put("global", 3, matcher, now=10.0)
    assert cache.due(["global"], now=10.5) == []
    assert cache.due(["global"], now=11.0) == ["global"]
    cache.confirm("global", now=11.0)
    assert cache.due(["global"], now=11.5) == []
    cache.expire("global")
    assert cache.due(["global"], now=11.5) == ["global"]


def test_cache_keeps_the_newer_matcher_and_bounds_its_size() -> None:
    cache = MatcherCache(refresh_secs=1.0, max_scopes=2)
    new, old = Matcher.build([]), Matcher.build([Word("x", "spam")])
    cache.put("global", 5, new, now=0.0)
    cache.put("global", 4, old, now=0.0)  # a slower rebuild of an older revision arrives late
    assert cache.get("global") is new and cache.revision("global") == 5
    cache.put("ten_a", 1, old, now=0.0)
    cache.get("global")  # global is now the most recently used
    cache.put("ten_b", 1, old, now=0.0)
    assert cache.revision("ten_a") is None and cache.revision("global") == 5


def test_fresh_pairs_last_until_the_first_scope_is_due() -> None:
    cache = MatcherCache(refresh_secs=1.0)
    glob, own = Matcher.build([Word("x", "spam")]), Matcher.build([])
    assert cache.fresh("ten_a", now=10.0) is None  # nothing known yet: the slow path
    cache.put("global", 1, glob, now=10.0)
    cache.put("ten_a", 0, own, now=10.4)
    assert cache.remember("ten_a", ["global", "ten_a"]) == [glob, own]
    assert cache.fresh("ten_a", now=10.9) == [glob, own]
    # Fresh exactly while due() finds nothing: global is due at 11.0, so the pair is too.
    assert cache.due(["global", "ten_a"], now=11.0) == ["global"]
    assert cache.fresh("ten_a", now=11.0) is None
    assert cache.fresh(None, now=10.5) is None  # the global list alone is its own entry


def test_fresh_pairs_are_dropped_when_a_list_changes() -> None:
    cache = MatcherCache(refresh_secs=60.0)
    glob, own, newer = Matcher.build([]), Matcher.build([]), Matcher.build([Word("y", "spam")])
    cache.put("global", 1, glob, now=0.0)
    for tenant in ("ten_a", "ten_b"):
        cache.put(tenant, 0, own, now=0.0)
        cache.remember(tenant, ["global", tenant])
    cache.remember(None, ["global"])
    cache.expire("ten_a")  # a change of one tenant's list: only its pair goes
    assert cache.fresh("ten_a", now=1.0) is None
    assert cache.fresh("ten_b", now=1.0) == [glob, own]
    cache.put("global", 2, newer, now=1.0)  # a rebuilt global list: every pair goes
    assert cache.fresh("ten_b", now=1.0) is None and cache.fresh(None, now=1.0) is None
    cache.remember("ten_b", ["global", "ten_b"])
    cache.expire("global")
    assert cache.fresh("ten_b", now=1.0) is None
