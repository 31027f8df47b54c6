"""Pieces of the limits domain that need no database: names, arguments, memory housekeeping."""

from __future__ import annotations

import pytest

from hongyan.limits.backend import OK, RATE, Batch, Check, Reservation, Window
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


def _token_batch(token: str, checks: list[Check], now: int, rate: int | None = None) -> Batch:
    return Batch(token, tuple(checks), "r", rate, "d", None, "m", None, now)


async def test_memory_keys_first_hit_by_one_batch_share_one_log() -> None:
    # The S5 shape: a million numbers each hit once a day must not cost a log object each.
    limiter = MemoryLimiter()
    day = (Window(86_400_000, 2),)
    checks = [Check(f"n{i}", day) for i in range(100)]
    assert await limiter.hit(_token_batch("t1", checks, now=0)) == [OK] * 100
    assert len({id(log) for log in limiter._logs.values()}) == 1
    # A second hit on one key gives it a log of its own; the others keep theirs unchanged.
    assert await limiter.hit(_token_batch("t2", [checks[0], checks[0]], now=10)) == [OK, 1]
    assert limiter._logs["n0"].times == (0, 10) and limiter._logs["n1"].times == (0,)
    assert await limiter.hit(_token_batch("t3", [checks[1]], now=20)) == [OK]
    assert await limiter.hit(_token_batch("t4", [checks[0], checks[1], checks[2]], now=30)) == [
        1,
        1,
        OK,
    ]


async def test_memory_release_gives_back_one_batchs_hits_only() -> None:
    limiter = MemoryLimiter()
    day = (Window(86_400_000, 3),)
    a, b = Check("a", day), Check("b", day)
    first = _token_batch("t1", [a, b], now=0)
    second = _token_batch("t2", [a, a, b], now=5)
    assert await limiter.hit(first) == [OK, OK]
    results = await limiter.hit(second)
    assert results == [OK, OK, OK]
    await limiter.release(Reservation.of(second, results))
    assert limiter._logs["a"].times == (0,) and limiter._logs["b"].tokens == ("t1",)
    await limiter.release(Reservation.of(second, results))  # nothing of it is left to give
    assert limiter._logs["a"].times == (0,)
    await limiter.release(Reservation.of(first, [OK, OK]))
    assert "a" not in limiter._logs and "b" not in limiter._logs  # empty logs are dropped
    assert await limiter.hit(_token_batch("t3", [a, a, a, a], now=9)) == [OK, OK, OK, 1]


async def test_memory_request_rate_of_zero_refuses_every_request() -> None:
    limiter = MemoryLimiter()
    assert await limiter.hit(_token_batch("t1", [Check(None)], now=0, rate=0)) == [RATE]
    assert await limiter.hit(_token_batch("t2", [Check(None)], now=0, rate=1)) == [OK]
    assert await limiter.hit(_token_batch("t3", [Check(None)], now=999, rate=1)) == [RATE]
    assert await limiter.hit(_token_batch("t4", [Check(None)], now=1_000, rate=1)) == [OK]


async def test_memory_window_of_zero_refuses_even_a_first_hit() -> None:
    limiter = MemoryLimiter()
    closed = Check("a", (Window(60_000, 0),))
    assert await limiter.hit(_token_batch("t1", [closed], now=0)) == [1]
    assert "a" not in limiter._logs
