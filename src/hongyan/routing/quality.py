"""Health-based preference: a connector whose receipts go bad gets less traffic until they recover.

After GOV.UK Notify's practice. Over the last ``routing_quality_window_secs`` the final receipts
of each connector's messages are counted from the message rows (one aggregate query, so every
process judges alike): a connector with at least ``routing_quality_min_receipts`` of them is

- **degraded** when under ``routing_quality_min_delivery_percent`` were delivered, or receipts
  came back later than ``routing_quality_max_receipt_latency_secs`` on average;
- **healthy** otherwise. With fewer receipts it is not judged and keeps its state.

Within its priority a degraded connector keeps ``routing_quality_degraded_weight_percent`` of its
route weight (never nothing: it still comes after its peers rather than out of the list). The
worker job ``routing_quality`` judges, stores the state in ``connector_health`` (the
``repository.QUALITY_NODE`` row) and logs each switch once (the process whose update changed the
row logs it). Every process reads the stored states at most once per ``REFRESH_SECS``.

Each process also counts the final receipts it applied, in memory, for the health view.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import structlog
from prometheus_client import Gauge
from sqlalchemy.ext.asyncio import AsyncSession

from hongyan.api.context import AppContext
from hongyan.config import Settings
from hongyan.models import ConnectorHealth, utcnow
from hongyan.routing import repository as repo
from hongyan.routing.schemas import QualityOut

log = structlog.get_logger(__name__)

CACHE_KEY = "routing.quality"
EVALUATE_SECS = 60.0  # how often the worker job judges (the window is minutes long)
REFRESH_SECS = 15.0  # how often a process reads the stored states for its routing
MIN_FACTOR = 1e-6  # a degraded connector's weight never reaches zero
QualityState = Literal["healthy", "degraded"]

CONNECTOR_DEGRADED = Gauge(
    "hongyan_connector_degraded",
    "1 while a connector's delivery rate or receipt latency keeps it degraded, else 0",
    ["connector"],
)


@dataclass(slots=True)
class _Minute:
    minute: int
    final: int = 0
    delivered: int = 0
    latency_sum_secs: float = 0.0


@dataclass(slots=True)
class Quality:
    """This process's stored-state copy (for routing) and its own receipt counts."""

    settings: Settings
    clock: Callable[[], float] = time.monotonic
    states: dict[str, str] = field(default_factory=dict)
    loaded_at: float = float("-inf")
    _minutes: dict[str, deque[_Minute]] = field(default_factory=dict)

    def factor(self, connector_id: str) -> float:
        """The share of its weight a connector keeps now (1.0 unless degraded)."""
        if self.states.get(connector_id) != "degraded":
            return 1.0
        return max(self.settings.routing_quality_degraded_weight_percent / 100, MIN_FACTOR)

    def load(self, states: dict[str, str]) -> None:
        """Take the stored states (and show them on the gauge)."""
        for cid in set(self.states) - set(states):
            CONNECTOR_DEGRADED.labels(cid).set(0)
        self.states, self.loaded_at = states, self.clock()
        for cid, state in states.items():
            CONNECTOR_DEGRADED.labels(cid).set(1 if state == "degraded" else 0)

    def record(self, connector_id: str, *, delivered: bool, latency_secs: float | None) -> None:
        """Count one final receipt this process applied."""
        minute = int(self.clock() // 60)
        buckets = self._minutes.setdefault(connector_id, deque())
        if not buckets or buckets[-1].minute != minute:
            buckets.append(_Minute(minute))
        oldest = minute - self.settings.routing_quality_window_secs // 60
        while buckets and buckets[0].minute < oldest:
            buckets.popleft()
        bucket = buckets[-1]
        bucket.final += 1
        bucket.delivered += delivered
        bucket.latency_sum_secs += max(latency_secs or 0.0, 0.0)

    def local(self, connector_id: str) -> tuple[int, int]:
        """(final receipts, delivered) this process applied in about the window."""
        buckets = self._minutes.get(connector_id, deque())
        return sum(b.final for b in buckets), sum(b.delivered for b in buckets)


def get_quality(caches: dict[str, Any], settings: Settings) -> Quality:
    """The process's quality registry, created on first use."""
    found = caches.get(CACHE_KEY)
    if not isinstance(found, Quality):
        found = caches[CACHE_KEY] = Quality(settings)
    return found


def record_receipts(
    ctx: AppContext, outcomes: Iterable[tuple[str | None, str, datetime | None]], *, now: datetime
) -> None:
    """Count messages that just got their final status: (connector_id, status, sent_at) each."""
    quality = get_quality(ctx.caches, ctx.settings)
    for connector_id, status, sent_at in outcomes:
        if connector_id and status in ("delivered", "undelivered", "expired"):
            latency = (now - sent_at).total_seconds() if sent_at else None
            quality.record(connector_id, delivered=status == "delivered", latency_secs=latency)


def judge(
    settings: Settings, *, final: int, delivered: int, latency_secs: float | None
) -> tuple[QualityState | None, str]:
    """The state these window figures call for (None: too few to judge) and why."""
    if final < settings.routing_quality_min_receipts:
        return None, f"{final} final receipts, fewer than {settings.routing_quality_min_receipts}"
    percent = delivered * 100 / final
    limit = settings.routing_quality_min_delivery_percent
    if percent < limit:
        return "degraded", f"delivery rate {percent:.1f}% below {limit:g}%"
    max_latency = settings.routing_quality_max_receipt_latency_secs
    if latency_secs is not None and latency_secs > max_latency:
        return "degraded", f"receipt latency {latency_secs:.0f}s above {max_latency:g}s"
    return "healthy", f"delivery rate {percent:.1f}%, receipt latency {latency_secs or 0:.0f}s"


async def evaluate(ctx: AppContext) -> int:
    """Judge every connector over the window, store the figures and switches; how many switched."""
    s, now = ctx.settings, utcnow()
    switched = 0
    async with ctx.db.session() as session:
        since = now - timedelta(seconds=s.routing_quality_window_secs)
        figures = {cid: rest for cid, *rest in await repo.receipt_quality(session, since=since)}
        stored = {r.connector_id: r.breaker for r in await repo.quality_rows(session)}
        rows = []
        for cid in sorted(set(figures) | set(stored)):
            final, delivered, latency = figures.get(cid, (0, 0, None))
            rows.append(_figures_row(cid, s, int(final or 0), int(delivered or 0), latency, now))
        await repo.put_quality_figures(session, rows)
        states: dict[str, str] = {cid: stored.get(cid, "healthy") for cid in figures} | stored
        for row in rows:
            cid = row["connector_id"]
            state, reason = _judge_row(s, row)
            if state is None or state == states[cid]:
                continue
            states[cid] = state
            if await repo.switch_quality(session, cid, state=state, at=now):
                switched += 1
                _log_switch(cid, state, reason, row)
    get_quality(ctx.caches, s).load(states)
    return switched


def _figures_row(
    cid: str, s: Settings, final: int, delivered: int, latency: Any, now: datetime
) -> dict[str, Any]:
    return {
        "connector_id": cid,
        "window_secs": s.routing_quality_window_secs,
        "attempts": final,
        "failures": final - delivered,
        "latency_avg_ms": None if latency is None else float(latency) * 1000,
        "updated_at": now,
    }


def _judge_row(s: Settings, row: dict[str, Any]) -> tuple[QualityState | None, str]:
    latency_ms = row["latency_avg_ms"]
    return judge(
        s,
        final=row["attempts"],
        delivered=row["attempts"] - row["failures"],
        latency_secs=None if latency_ms is None else latency_ms / 1000,
    )


def _log_switch(cid: str, state: str, reason: str, row: dict[str, Any]) -> None:
    final, failed = row["attempts"], row["failures"]
    latency_ms = row["latency_avg_ms"]
    log.warning(
        "connector degraded" if state == "degraded" else "connector recovered",
        connector=cid,
        reason=reason,
        final_receipts=final,
        delivery_percent=round((final - failed) * 100 / final, 1) if final else None,
        receipt_latency_avg_secs=None if latency_ms is None else round(latency_ms / 1000, 1),
        window_secs=row["window_secs"],
    )


async def factors(ctx: AppContext, session: AsyncSession) -> Callable[[str], float]:
    """Each connector's weight factor; the stored states are read once per REFRESH_SECS."""
    quality = get_quality(ctx.caches, ctx.settings)
    if quality.clock() - quality.loaded_at >= REFRESH_SECS:
        quality.load({r.connector_id: r.breaker for r in await repo.quality_rows(session)})
    return quality.factor


def quality_out(settings: Settings, row: ConnectorHealth | None) -> QualityOut:
    """The API view of a stored quality row (healthy and unjudged when there is none)."""
    if row is None:
        return QualityOut(state="healthy", reason="no final receipts yet", changed_at=None)
    latency = None if row.latency_avg_ms is None else row.latency_avg_ms / 1000
    delivered = row.attempts - row.failures
    _, reason = judge(settings, final=row.attempts, delivered=delivered, latency_secs=latency)
    return QualityOut(
        state="degraded" if row.breaker == "degraded" else "healthy",
        reason=reason,
        changed_at=row.opened_at,
        window_secs=row.window_secs,
        final_receipts=row.attempts,
        delivered=delivered,
        delivery_percent=delivered * 100 / row.attempts if row.attempts else None,
        receipt_latency_avg_secs=latency,
        weight_percent=(
            settings.routing_quality_degraded_weight_percent if row.breaker == "degraded" else 100.0
        ),
        updated_at=row.updated_at,
    )
