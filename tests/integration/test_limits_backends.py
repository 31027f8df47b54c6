"""The limiter contract, passed by both backends (memory; Redis when HONGYAN_TEST_REDIS_URL is set),
and the Redis backend's atomicity across connection pools and across OS processes.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from hongyan.errors import HongyanError
from hongyan.limits.backend import (
    DAY_CAP,
    MONTH_CAP,
    OK,
    RATE,
    Batch,
    Check,
    Limiter,
    Reservation,
)
from hongyan.limits.memory import MemoryLimiter
from hongyan.limits.redis_backend import RedisLimiter
from tests.conftest import REDIS_URL
from tests.integration import limits_hammer
from tests.integration.limits_hammer import DAY, HOUR, MINUTE, number

ROOT = Path(__file__).resolve().parents[2]
# "now" in ms, given explicitly so windows are exact; near the real time because counters
# expire (memory: relative to the given time; Redis: to the server clock).
T0 = time.time_ns() // 1_000_000


def batch(prefix: str, checks: list[Check], *, now: int | None = T0, **limits: int) -> Batch:
    return limits_hammer.batch(prefix, checks, now=now, **limits)


async def _cleanup(url: str, prefix: str) -> None:
    client = Redis.from_url(url)
    keys = [k async for k in client.scan_iter(match=f"{prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture(params=["memory", "redis"])
async def limiter(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Limiter, str]]:
    """A limiter of each backend and a key prefix of this test's own."""
    prefix = f"hy:test:{secrets.token_hex(4)}:{{ten_x}}:"
    if request.param == "memory":
        yield MemoryLimiter(), prefix
        return
    if not REDIS_URL:
        pytest.skip("HONGYAN_TEST_REDIS_URL not set")
    redis_limiter = RedisLimiter(REDIS_URL)
    yield redis_limiter, prefix
    await redis_limiter.aclose()
    await _cleanup(REDIS_URL, prefix)


# --- the contract -----------------------------------------------------------------------------


async def test_rolling_windows_name_the_first_full_one(limiter: tuple[Limiter, str]) -> None:
    lim, p = limiter
    a = number(p, "a", (MINUTE, 1), (HOUR, 3))
    steps = [  # (ms after T0, expected)
        (0, OK),
        (1_000, 1),  # the minute holds 1
        (MINUTE - 1, 1),
        (MINUTE, OK),  # a minute later the first hit has left (now - 60s, now]
        (2 * MINUTE + 2, OK),
        (3 * MINUTE + 3, 2),  # 3 in the hour
        (HOUR + 1, OK),  # the first hit left the hour
    ]
    for offset, expected in steps:
        assert await lim.hit(batch(p, [a], now=T0 + offset)) == [expected], offset


async def test_items_of_one_batch_count_against_each_other(limiter: tuple[Limiter, str]) -> None:
    lim, p = limiter
    a, b = number(p, "a", (DAY, 2)), number(p, "b", (DAY, 1))
    assert await lim.hit(batch(p, [a, b, a, a, b])) == [OK, OK, OK, 1, 1]
    assert await lim.hit(batch(p, [a, b])) == [1, 1]


async def test_caps_leave_room_for_k_items_in_order(limiter: tuple[Limiter, str]) -> None:
    lim, p = limiter
    free = Check(None)
    assert await lim.hit(batch(p, [free] * 5, day_cap=3)) == [OK, OK, OK, DAY_CAP, DAY_CAP]
    assert await lim.counts([f"{p}d", f"{p}m"]) == [3, 3]
    results = await lim.hit(batch(p, [free] * 3, day_cap=10, month_cap=4))
    assert results == [OK, MONTH_CAP, MONTH_CAP]


async def test_refused_items_take_no_cap_room(limiter: tuple[Limiter, str]) -> None:
    lim, p = limiter
    a, b = number(p, "a", (DAY, 1)), number(p, "b", (DAY, 1))
    assert await lim.hit(batch(p, [a, a, b], day_cap=2)) == [OK, 1, OK]
    assert await lim.counts([f"{p}d"]) == [2]


async def test_request_rate(limiter: tuple[Limiter, str]) -> None:
    lim, p = limiter
    free = Check(None)
    assert await lim.hit(batch(p, [free, free], rate=2)) == [OK, OK]
    assert await lim.hit(batch(p, [free], rate=2, now=T0 + 999)) == [OK]
    assert await lim.hit(batch(p, [free, free], rate=2, now=T0 + 999)) == [RATE, RATE]
    assert await lim.hit(batch(p, [free], rate=2, now=T0 + 1_000)) == [OK]  # the first left
    # A refused request records nothing: the day counter saw the 4 accepted messages only.
    assert await lim.counts([f"{p}d"]) == [4]


async def test_release_gives_back_exactly_the_accepted_hits(limiter: tuple[Limiter, str]) -> None:
    lim, p = limiter
    a, b = number(p, "a", (DAY, 1)), number(p, "b", (DAY, 5))
    first = batch(p, [a, b], day_cap=100)
    first_results = await lim.hit(first)
    second = batch(p, [a, b, b], day_cap=100)
    results = await lim.hit(second)
    assert results == [1, OK, OK]
    reservation = Reservation.of(second, results)
    assert reservation.count == 2 and len(reservation.logs) == 2
    await lim.release(reservation)
    assert await lim.counts([f"{p}d"]) == [2]  # the first batch's hits stay
    await lim.release(Reservation.of(first, first_results))
    assert await lim.counts([f"{p}d", f"{p}m"]) == [0, 0]
    assert await lim.hit(batch(p, [a])) == [OK]


async def test_backend_clock_when_no_time_is_given(limiter: tuple[Limiter, str]) -> None:
    lim, p = limiter
    a = number(p, "a", (HOUR, 1))
    assert await lim.hit(batch(p, [a], now=None)) == [OK]
    assert await lim.hit(batch(p, [a], now=None)) == [1]


async def test_empty_windows_and_exempt_items_only_count_toward_caps(
    limiter: tuple[Limiter, str],
) -> None:
    lim, p = limiter
    assert await lim.hit(batch(p, [Check(None), Check(f"{p}f:x")], day_cap=1)) == [OK, DAY_CAP]


# --- Redis: atomic across pools and processes -------------------------------------------------


@pytest.fixture
async def redis_prefix(redis_url: str) -> AsyncIterator[str]:
    prefix = f"hy:test:{secrets.token_hex(4)}:{{ten_x}}:"
    yield prefix
    await _cleanup(redis_url, prefix)


async def test_two_pools_never_jointly_exceed_a_limit(redis_url: str, redis_prefix: str) -> None:
    one, two = RedisLimiter(redis_url), RedisLimiter(redis_url)
    p = redis_prefix
    a = number(p, "a", (MINUTE, 7), (DAY, 9))
    try:
        hits = [
            (one if i % 2 else two).hit(batch(p, [a, Check(None)], now=None, day_cap=40))
            for i in range(120)
        ]
        results = await asyncio.gather(*hits)
    finally:
        await one.aclose()
        await two.aclose()
    assert sum(r[0] == OK for r in results) == 7
    accepted = sum(r.count(OK) for r in results)
    assert accepted == 40  # the day cap, shared by both pools, exactly
    assert sum(r.count(DAY_CAP) for r in results) == 240 - 40 - sum(r[0] == 1 for r in results)


async def test_two_processes_never_jointly_exceed_a_limit(
    redis_url: str, redis_prefix: str
) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + str(ROOT)}
    command = [sys.executable, "-m", "tests.integration.limits_hammer", redis_url, redis_prefix]
    procs = [
        await asyncio.create_subprocess_exec(
            *command, cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE
        )
        for _ in range(2)
    ]
    outputs = [(await proc.communicate())[0].decode() for proc in procs]
    assert all(proc.returncode == 0 for proc in procs), outputs
    per_process = [tuple(map(int, out.split())) for out in outputs]
    # Each line: frequency-limited successes, day-capped successes.
    assert sum(f for f, _ in per_process) == 25
    assert sum(c for _, c in per_process) == 60


async def test_keys_expire_with_their_longest_window(redis_url: str, redis_prefix: str) -> None:
    lim, p = RedisLimiter(redis_url), redis_prefix
    client = Redis.from_url(redis_url)
    try:
        a = number(p, "a", (MINUTE, 1), (HOUR, 5))
        await lim.hit(batch(p, [a], now=None, rate=10))
        assert 0 < await client.pttl(f"{p}f:a") <= HOUR
        assert 0 < await client.pttl(f"{p}r") <= 60_000
        assert 86_400_000 < await client.pttl(f"{p}d") <= 2 * DAY
        assert 30 * DAY < await client.pttl(f"{p}m") <= 35 * DAY
    finally:
        await lim.aclose()
        await client.aclose()


async def test_one_round_trip_per_batch(redis_url: str, redis_prefix: str) -> None:
    client = Redis.from_url(redis_url)
    before = (await client.info("commandstats")).get("cmdstat_evalsha", {}).get("calls", 0)
    lim = RedisLimiter(redis_url)
    p = redis_prefix
    checks = [number(p, f"n{i}", (MINUTE, 1), (DAY, 10)) for i in range(1000)]
    try:
        assert await lim.hit(batch(p, checks)) == [OK] * 1000
        after = (await client.info("commandstats")).get("cmdstat_evalsha", {}).get("calls", 0)
        # Other clients may run scripts meanwhile, so at least one and far fewer than 1,000.
        assert 1 <= after - before < 50
    finally:
        await lim.aclose()
        await client.aclose()


async def test_unreachable_redis_refuses_with_not_ready() -> None:
    lim = RedisLimiter("redis://127.0.0.1:1/0")
    try:
        with pytest.raises(HongyanError) as caught:
            await lim.hit(batch("hy:test:x:", [Check(None)]))
        assert caught.value.code == "NOT_READY"
        assert "127.0.0.1" not in caught.value.message()
    finally:
        await lim.aclose()
