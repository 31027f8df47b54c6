"""The in-memory limiter: exact within one process, which is what the embedded default runs.

A batch is checked and recorded under a lock with no ``await`` inside, so neither other tasks
of the event loop nor other threads can interleave with it. Logs and counters carry an expiry
like their Redis twins and are swept once a minute, so memory follows the traffic of the last
day rather than growing forever.
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_left, insort
from collections.abc import Sequence
from dataclasses import dataclass, field

from hongyan.limits.backend import (
    DAY_CAP,
    DAY_TTL_MS,
    MONTH_CAP,
    MONTH_TTL_MS,
    OK,
    RATE,
    RATE_TTL_MS,
    RATE_WINDOW_MS,
    Batch,
    Reservation,
    Window,
)

SWEEP_EVERY_MS = 60_000


@dataclass(slots=True)
class _Log:
    """Hits of one key as (time ms, member), oldest first."""

    entries: list[tuple[int, str]] = field(default_factory=list)
    expires_ms: int = 0

    def trim(self, oldest_kept_ms: int) -> None:
        """Forget hits earlier than ``oldest_kept_ms``."""
        del self.entries[: bisect_left(self.entries, (oldest_kept_ms,))]

    def count_after(self, bound_ms: int) -> int:
        """Hits later than ``bound_ms``."""
        return len(self.entries) - bisect_left(self.entries, (bound_ms + 1,))

    def first_full(self, now: int, windows: Sequence[Window]) -> int:
        """The 1-based number of the first window already holding its maximum, or 0."""
        for number, window in enumerate(windows, 1):
            if self.count_after(now - window.ms) >= window.max:
                return number
        return 0

    def add(self, now: int, member: str, ttl_ms: int) -> None:
        insort(self.entries, (now, member))
        self.expires_ms = max(self.expires_ms, now + ttl_ms)


@dataclass(slots=True)
class _Counter:
    value: int
    expires_ms: int


class MemoryLimiter:
    """Logs and counters in this process's memory."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._logs: dict[str, _Log] = {}
        self._counters: dict[str, _Counter] = {}
        self._next_sweep_ms = 0

    async def hit(self, batch: Batch) -> list[int]:
        """Check and record a batch atomically (see ``Limiter.hit``)."""
        now = batch.now_ms if batch.now_ms is not None else _now_ms()
        with self._lock:
            self._sweep(now)
            return self._hit(batch, now)

    def _hit(self, batch: Batch, now: int) -> list[int]:
        if batch.rate_per_sec is not None:
            rate = self._log(batch.rate_key)
            rate.trim(now - RATE_WINDOW_MS + 1)
            if len(rate.entries) >= batch.rate_per_sec:
                return [RATE] * len(batch.checks)
            rate.add(now, batch.token, RATE_TTL_MS)
        day_used = self._value(batch.day_key, now)
        month_used = self._value(batch.month_key, now)
        accepted = 0
        results: list[int] = []
        for index, check in enumerate(batch.checks):
            result, log, longest = OK, None, 0
            if check.key is not None and check.windows:
                longest = max(w.ms for w in check.windows)
                log = self._log(check.key)
                log.trim(now - longest + 1)
                result = log.first_full(now, check.windows)
            if result == OK:
                if batch.day_cap is not None and day_used + accepted >= batch.day_cap:
                    result = DAY_CAP
                elif batch.month_cap is not None and month_used + accepted >= batch.month_cap:
                    result = MONTH_CAP
            if result == OK:
                accepted += 1
                if log is not None:
                    log.add(now, batch.member(index), longest)
            results.append(result)
        if accepted:
            self._add(batch.day_key, accepted, now, DAY_TTL_MS)
            self._add(batch.month_key, accepted, now, MONTH_TTL_MS)
        return results

    async def release(self, reservation: Reservation) -> None:
        """Give back the hits of a reservation."""
        with self._lock:
            for key, member in reservation.logs:
                log = self._logs.get(key)
                if log is None:
                    continue
                for position, (_, recorded) in enumerate(log.entries):
                    if recorded == member:
                        del log.entries[position]
                        break
            for key in reservation.counters:
                counter = self._counters.get(key)
                if counter is not None:
                    counter.value = max(0, counter.value - reservation.count)

    async def counts(self, keys: Sequence[str]) -> list[int]:
        """Current counter values."""
        now = _now_ms()
        with self._lock:
            return [self._value(key, now) for key in keys]

    async def aclose(self) -> None:
        """Nothing to release."""

    def _log(self, key: str) -> _Log:
        log = self._logs.get(key)
        if log is None:
            log = self._logs[key] = _Log()
        return log

    def _value(self, key: str, now: int) -> int:
        counter = self._counters.get(key)
        return counter.value if counter is not None and counter.expires_ms > now else 0

    def _add(self, key: str, amount: int, now: int, ttl_ms: int) -> None:
        counter = self._counters.get(key)
        if counter is None or counter.expires_ms <= now:
            counter = self._counters[key] = _Counter(0, 0)
        counter.value += amount
        counter.expires_ms = now + ttl_ms

    def _sweep(self, now: int) -> None:
        """Drop expired logs and counters, at most once a minute."""
        if now < self._next_sweep_ms:
            return
        self._next_sweep_ms = now + SWEEP_EVERY_MS
        self._logs = {k: v for k, v in self._logs.items() if v.expires_ms > now}
        self._counters = {k: v for k, v in self._counters.items() if v.expires_ms > now}


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
