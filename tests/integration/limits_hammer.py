"""Helpers of the limiter tests, and a script that test_limits_backends runs in two OS
processes at once to hammer one Redis.

As a script it prints two numbers: how many hits a per-number limit of 25 a day let through,
and how many messages a day cap of 60 let through, in this process. It imports nothing but
the limits backends, so the processes start fast.
"""

from __future__ import annotations

import asyncio
import secrets
import sys

from hongyan.limits.backend import OK, Batch, Check, Window
from hongyan.limits.redis_backend import RedisLimiter

MINUTE, HOUR, DAY = 60_000, 3_600_000, 86_400_000


def batch(
    prefix: str,
    checks: list[Check],
    *,
    now: int | None,
    rate: int | None = None,
    day_cap: int | None = None,
    month_cap: int | None = None,
) -> Batch:
    return Batch(
        token=secrets.token_hex(8),
        checks=tuple(checks),
        rate_key=f"{prefix}r",
        rate_per_sec=rate,
        day_key=f"{prefix}d",
        day_cap=day_cap,
        month_key=f"{prefix}m",
        month_cap=month_cap,
        now_ms=now,
    )


def number(prefix: str, name: str, *windows: tuple[int, int]) -> Check:
    return Check(f"{prefix}f:{name}", tuple(Window(ms, most) for ms, most in windows))


async def main(url: str, prefix: str) -> None:
    limiter = RedisLimiter(url)
    freq, capped = f"{prefix}x:", f"{prefix}y:"
    a = number(freq, "a", (DAY, 25))
    try:
        by_number = await asyncio.gather(
            *(limiter.hit(batch(freq, [a], now=None)) for _ in range(100))
        )
        by_cap = await asyncio.gather(
            *(
                limiter.hit(batch(capped, [Check(None)] * 3, now=None, day_cap=60))
                for _ in range(40)
            )
        )
    finally:
        await limiter.aclose()
    print(sum(r.count(OK) for r in by_number), sum(r.count(OK) for r in by_cap))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
