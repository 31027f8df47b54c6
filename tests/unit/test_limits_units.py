"""Pieces of the limits domain that need no database: names, arguments, memory housekeeping."""

from __future__ import annotations

import pytest

from hongyan.limits.backend import OK, Batch, Check, Reservation, Window
from hongyan.limits.memory import SWEEP_EVERY_MS, MemoryLimiter
from hongyan.limits.policy import DEFAULT_RULES, Rule, parse_rules, window_name
from hongyan.limits.redis_backend import hit_arguments


@pytest.mark.parametrize(
    ("secs", "en", "zh"),
    [
        (1, "second", "1 秒"),
        (45, "45 seconds", "45 秒"),
        (60, "minute", "1 分钟"),
        (90, "90 seconds", "90 秒"),
        (600, "10 minutes", "10 分钟"),
        (3600, "hour", "1 小时"),
        (7200, "2 hours", "2 小时"),
        (86400, "day", "1 天"),
        (7 * 86400, "7 days", "7 天"),
    ],
)
def test_window_names(secs: int, en: str, zh: str) -> None:
    assert window_name(secs) == (en, zh)


def test_stored_rules_fall_back_to_the_defaults_per_kind() -> None:
    rules = parse_rules(
        {"marketing": [{"window_secs": 86400, "max": 3}, {"window_secs": 60, "max": 1}]}
    )
    assert rules["verification"] == DEFAULT_RULES["verification"]
    assert rules["marketing"] == (Rule(60, 1), Rule(86400, 3))  # sorted by window
    assert parse_rules({"notification": []})["notification"] == ()
    assert parse_rules(None) == dict(DEFAULT_RULES)


def _batch(checks: list[Check], now: int = 1_000_000) -> Batch:
    return Batch("tok", tuple(checks), "r", None, "d", None, "m", None, now)


def test_hit_arguments_name_each_key_once() -> None:
    a = Check("a", (Window(60_000, 1), Window(3_600_000, 5)))
    keys, args = hit_arguments(_batch([a, Check(None), a]))
    assert keys == ["r", "d", "m", "a"]
    assert args[:5] == [1_000_000, "tok", 0, -1, -1]  # now, token, no rate, no caps
    item = [4, 2, 60_000, 1, 3_600_000, 5]  # KEYS[4], two windows
    assert args[9:] == [3, *item, 0, 0, *item]


def test_reservation_holds_only_accepted_recorded_hits() -> None:
    checks = [Check("a", (Window(1, 1),)), Check(None), Check("b", (Window(1, 1),))]
    reservation = Reservation.of(_batch(checks), [OK, OK, 1])
    assert reservation.logs == (("a", "tok:0"),)
    assert (reservation.counters, reservation.count) == (("d", "m"), 2)
    assert Reservation.of(_batch(checks), [1, -1, -1]) == Reservation((), (), 0)


async def test_memory_forgets_what_expired() -> None:
    limiter = MemoryLimiter()
    a = Check("a", (Window(60_000, 1),))
    assert await limiter.hit(_batch([a], now=0)) == [OK]
    assert await limiter.hit(_batch([a], now=59_999)) == [1]
    # Past the longest window (and a sweep), the key and counters are gone from memory.
    later = 3 * 86_400_000 + SWEEP_EVERY_MS
    assert await limiter.hit(_batch([Check(None)], now=later)) == [OK]
    assert set(limiter._logs) <= {"r"} and set(limiter._counters) == {"d", "m"}
    assert limiter._counters["d"].value == 1
