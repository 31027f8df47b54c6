"""The in-memory limiter: exact within one process, which is what the embedded default runs.

A batch is checked and recorded under a lock with no ``await`` inside, so neither other tasks
of the event loop nor other threads can interleave with it. Logs and counters carry an expiry
like their Redis twins and are swept once a minute, so memory follows the traffic of the last
day rather than growing forever.

Memory: a campaign leaves one log per number and template for a day, so a log must be small.
A log is an immutable ``_Log`` of plain tuples (its hits' times, and the token of the batch
that recorded each), and every key that a batch gives its first hit shares ONE such log
object, whose values are the batch's own: a number hit once a day costs its key and a dict
slot (~180 bytes), not ~550 bytes of objects per hit. A log that gets a second hit gets a
log of its own.

Release gives back "the hit recorded for member token:index": the first hit of that key with
that batch token. Every hit of one batch has the batch's time, so which of a batch's hits on
one key goes back cannot change any count.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

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


class _Log(NamedTuple):
    """Hits of one key: times (ms) and the batch tokens that recorded them, pairwise."""

    expires_ms: int
    times: tuple[int, ...]
    tokens: tuple[str, ...]


def _trimmed(log: _Log, bound_ms: int) -> _Log | None:
    """The log without hits at or before ``bound_ms`` (None when none is left)."""
    times = log.times
    if min(times) > bound_ms:
        return log
    kept = [i for i, at in enumerate(times) if at > bound_ms]
    if not kept:
        return None
    return _Log(log.expires_ms, tuple(times[i] for i in kept), tuple(log.tokens[i] for i in kept))


def _first_full(log: _Log | None, windows: Sequence[Window], now: int) -> int:
    """The 1-based number of the first window already holding its maximum, or 0."""
    times = log.times if log is not None else ()
    for number, window in enumerate(windows, 1):
        bound = now - window.ms
        if sum(1 for at in times if at > bound) >= window.max:
            return number
    return 0


def _without(log: _Log, token: str) -> _Log | None:
    """The log less the first hit recorded by the batch ``token`` (None when empty)."""
    try:
        index = log.tokens.index(token)
    except ValueError:
        return log
    if len(log.times) == 1:
        return None
    times, tokens = log.times, log.tokens
    return _Log(
        log.expires_ms, times[:index] + times[index + 1 :], tokens[:index] + tokens[index + 1 :]
    )


@dataclass(slots=True)
class _Counter:
    value: int
    expires_ms: int


class _Recorder:
    """One batch's hits: the log shared by keys it hits first, per window length."""

    __slots__ = ("_firsts", "now", "token")

    def __init__(self, now: int, token: str) -> None:
        self.now = now
        self.token = token
        self._firsts: dict[int, _Log] = {}

    def added(self, log: _Log | None, ttl_ms: int) -> _Log:
        """``log`` with this batch's hit added (a shared log when it is the key's first)."""
        if log is None:
            first = self._firsts.get(ttl_ms)
            if first is None:
                first = self._firsts[ttl_ms] = _Log(self.now + ttl_ms, (self.now,), (self.token,))
            return first
        expires = max(log.expires_ms, self.now + ttl_ms)
        return _Log(expires, (*log.times, self.now), (*log.tokens, self.token))


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
        recorder = _Recorder(now, batch.token)
        if not self._let_through(batch, now, recorder):
            return [RATE] * len(batch.checks)
        day_used = self._value(batch.day_key, now)
        month_used = self._value(batch.month_key, now)
        accepted = 0
        results: list[int] = []
        longest_of: tuple[tuple[Window, ...], int] = ((), 0)  # the last windows seen
        for key, windows in batch.checks:
            result, log, longest = OK, None, 0
            if key is not None and windows:
                if windows is not longest_of[0]:  # items of one kind share their windows
                    longest_of = (windows, max(w.ms for w in windows))
                longest = longest_of[1]
                log = self._current(key, now - longest)
                result = _first_full(log, windows, now)
            if result == OK:
                if batch.day_cap is not None and day_used + accepted >= batch.day_cap:
                    result = DAY_CAP
                elif batch.month_cap is not None and month_used + accepted >= batch.month_cap:
                    result = MONTH_CAP
            if result == OK:
                accepted += 1
                if key is not None and windows:
                    self._logs[key] = recorder.added(log, longest)
            results.append(result)
        if accepted:
            self._add(batch.day_key, accepted, now, DAY_TTL_MS)
            self._add(batch.month_key, accepted, now, MONTH_TTL_MS)
        return results

    def _let_through(self, batch: Batch, now: int, recorder: _Recorder) -> bool:
        """Count the request against the tenant's rate, unless that refuses it (False)."""
        if batch.rate_per_sec is None:
            return True
        rate = self._current(batch.rate_key, now - RATE_WINDOW_MS)
        if (len(rate.times) if rate is not None else 0) >= batch.rate_per_sec:
            return False
        self._logs[batch.rate_key] = recorder.added(rate, RATE_TTL_MS)
        return True

    def _current(self, key: str, bound_ms: int) -> _Log | None:
        """The key's log without the hits at or before ``bound_ms`` (kept so), or None."""
        log = self._logs.get(key)
        if log is None:
            return None
        trimmed = _trimmed(log, bound_ms)
        if trimmed is None:
            del self._logs[key]
        elif trimmed is not log:
            self._logs[key] = trimmed
        return trimmed

    async def release(self, reservation: Reservation) -> None:
        """Give back the hits of a reservation."""
        with self._lock:
            for key, member in reservation.logs:
                log = self._logs.get(key)
                if log is None:
                    continue
                left = _without(log, member.rpartition(":")[0])
                if left is None:
                    del self._logs[key]
                else:
                    self._logs[key] = left
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
