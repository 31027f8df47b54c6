"""Connector health and circuit breakers, in this process's memory.

Each connector has a breaker:

- **closed**: traffic flows. ``routing_breaker_failures`` retryable failures in a row, or a
  failure rate of ``routing_breaker_failure_percent`` over the last ``routing_breaker_window_secs``
  (once at least ``routing_breaker_min_attempts`` sends were made in it) open it.
- **open**: the router puts the connector last and the failover helper skips it, for
  ``routing_breaker_cooloff_secs``.
- **half_open**: after the cool-off one probe batch may go through; if it succeeds the breaker
  closes, if it fails it opens for another cool-off.

Only retryable failures count against a connector: a permanent refusal (a bad number) says
the connector is working. Success rate and latency are kept in one-second buckets over the
window; a worker job persists them (``routing.tasks``) so the API can show every process's view.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from prometheus_client import Counter, Gauge, Histogram

from hongyan.config import Settings
from hongyan.models.base import utcnow

CACHE_KEY = "routing.health"
BreakerState = Literal["closed", "open", "half_open"]

CONNECTOR_SENDS = Counter(
    "hongyan_connector_sends_total",
    "Messages handed to connectors, by outcome (ok, permanent, retryable)",
    ["connector", "outcome"],
)
CONNECTOR_BATCH_SECONDS = Histogram(
    "hongyan_connector_batch_seconds",
    "Time one connector.send() call took",
    ["connector"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
CONNECTOR_BREAKER = Gauge(
    "hongyan_connector_breaker_state",
    "Circuit breaker of a connector in this process: 0 closed, 1 half-open, 2 open",
    ["connector"],
)
CONNECTOR_FAILOVERS = Counter(
    "hongyan_connector_failovers_total",
    "Messages moved on to their next connector after this one failed retryably or was skipped",
    ["connector"],
)
_STATE_VALUE = {"closed": 0, "half_open": 1, "open": 2}


@dataclass(slots=True)
class _Bucket:
    second: int
    attempts: int = 0
    failures: int = 0
    latency_sum_ms: float = 0.0
    latency_max_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One connector's health as this process sees it now."""

    connector_id: str
    window_secs: int
    attempts: int
    failures: int
    latency_avg_ms: float | None
    latency_max_ms: float | None
    breaker: BreakerState
    consecutive_failures: int
    opened_at: datetime | None

    @property
    def success_rate(self) -> float | None:
        """1 - failures/attempts over the window; None without traffic."""
        return None if not self.attempts else 1 - self.failures / self.attempts


@dataclass(slots=True)
class Breaker:
    """The breaker and recent outcomes of one connector."""

    connector_id: str
    settings: Settings
    state: BreakerState = "closed"
    consecutive_failures: int = 0
    open_until: float = 0.0
    opened_at: datetime | None = None
    probing: bool = False
    buckets: deque[_Bucket] = field(default_factory=deque)

    def is_open(self, now: float) -> bool:
        """True while traffic should avoid the connector (open, or half-open with a probe out)."""
        if self.state == "open":
            return now < self.open_until
        # A probe that never reported back (its sender was cancelled) stops blocking after a
        # cool-off, so the breaker cannot stay half-open forever.
        return self.state == "half_open" and self.probing and now < self.open_until

    def allow(self, now: float) -> bool:
        """Whether a batch may be sent now; past the cool-off the first caller becomes the probe."""
        if self.state == "closed":
            return True
        if self.is_open(now):
            return False
        self._set_state("half_open")
        self.probing = True
        self.open_until = now + self.settings.routing_breaker_cooloff_secs
        return True

    def record(self, *, ok: int, failed: int, latency_ms: float, now: float) -> None:
        """Count a send's outcomes (messages that went through, that failed retryably)."""
        bucket = self._bucket(now)
        bucket.attempts += ok + failed
        bucket.failures += failed
        bucket.latency_sum_ms += latency_ms * (ok + failed)
        bucket.latency_max_ms = max(bucket.latency_max_ms, latency_ms)
        if ok:
            self.consecutive_failures = 0
            if self.state != "closed":
                self._set_state("closed")
                self.probing = False
                self.opened_at = None
        else:
            self.consecutive_failures += failed
        # A failed probe reopens at once; otherwise the thresholds decide.
        if failed and (self.state == "half_open" or self._tripped(now)):
            self._open(now)

    def _tripped(self, now: float) -> bool:
        s = self.settings
        if self.consecutive_failures >= s.routing_breaker_failures:
            return True
        attempts, failures = self._totals(now)
        return (
            attempts >= s.routing_breaker_min_attempts
            and failures * 100 >= s.routing_breaker_failure_percent * attempts
        )

    def _open(self, now: float) -> None:
        if self.state != "open":
            self.opened_at = utcnow()
        self._set_state("open")
        self.probing = False
        self.open_until = now + self.settings.routing_breaker_cooloff_secs

    def _set_state(self, state: BreakerState) -> None:
        self.state = state
        CONNECTOR_BREAKER.labels(self.connector_id).set(_STATE_VALUE[state])

    def _bucket(self, now: float) -> _Bucket:
        second = int(now)
        if not self.buckets or self.buckets[-1].second != second:
            self.buckets.append(_Bucket(second))
        self._trim(now)
        return self.buckets[-1]

    def _trim(self, now: float) -> None:
        oldest = int(now) - self.settings.routing_breaker_window_secs
        while self.buckets and self.buckets[0].second <= oldest:
            self.buckets.popleft()

    def _totals(self, now: float) -> tuple[int, int]:
        self._trim(now)
        return sum(b.attempts for b in self.buckets), sum(b.failures for b in self.buckets)

    def snapshot(self, now: float) -> Snapshot:
        """The breaker's state and the window's figures now."""
        attempts, failures = self._totals(now)
        latency_sum = sum(b.latency_sum_ms for b in self.buckets)
        state = self.state
        if state == "open" and now >= self.open_until:
            state = "half_open"  # cooled off: the next batch is the probe
        return Snapshot(
            connector_id=self.connector_id,
            window_secs=self.settings.routing_breaker_window_secs,
            attempts=attempts,
            failures=failures,
            latency_avg_ms=latency_sum / attempts if attempts else None,
            latency_max_ms=max((b.latency_max_ms for b in self.buckets), default=None),
            breaker=state,
            consecutive_failures=self.consecutive_failures,
            opened_at=self.opened_at,
        )


class Health:
    """The breakers of one process, created on first mention of a connector."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.clock = clock
        self._breakers: dict[str, Breaker] = {}

    def breaker(self, connector_id: str) -> Breaker:
        """The breaker of a connector, created on first mention."""
        found = self._breakers.get(connector_id)
        if found is None:
            found = self._breakers[connector_id] = Breaker(connector_id, self.settings)
        return found

    def record(self, connector_id: str, ok: bool, latency_ms: float, *, count: int = 1) -> None:
        """Record ``count`` sends that went through (ok) or failed retryably."""
        self.record_many(
            connector_id, ok=count if ok else 0, failed=0 if ok else count, latency_ms=latency_ms
        )

    def record_many(self, connector_id: str, *, ok: int, failed: int, latency_ms: float) -> None:
        """Record one batch's outcomes at once."""
        if ok or failed:
            self.breaker(connector_id).record(
                ok=ok, failed=failed, latency_ms=latency_ms, now=self.clock()
            )

    def is_open(self, connector_id: str) -> bool:
        """Whether traffic should avoid this connector now."""
        found = self._breakers.get(connector_id)
        return found is not None and found.is_open(self.clock())

    def allow(self, connector_id: str) -> bool:
        """Whether a batch may go to this connector now (taking the probe when half-open)."""
        found = self._breakers.get(connector_id)
        return found is None or found.allow(self.clock())

    def snapshots(self) -> list[Snapshot]:
        """Every known connector's figures now (for the persist job)."""
        now = self.clock()
        return [b.snapshot(now) for b in self._breakers.values()]

    def snapshot(self, connector_id: str) -> Snapshot | None:
        """One connector's figures now; None when this process never used it."""
        found = self._breakers.get(connector_id)
        return found.snapshot(self.clock()) if found else None

    def forget(self, connector_id: str) -> None:
        """Drop a connector's state (it was removed, or its settings changed)."""
        self._breakers.pop(connector_id, None)


def get_health(caches: dict[str, Any], settings: Settings) -> Health:
    """The process's health registry, created on first use."""
    found = caches.get(CACHE_KEY)
    if not isinstance(found, Health):
        found = caches[CACHE_KEY] = Health(settings)
    return found
