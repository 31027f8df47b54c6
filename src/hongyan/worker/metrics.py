"""Prometheus metrics of the outbox: status changes, queue depth and age, dispatch batches."""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable
from typing import TYPE_CHECKING

from prometheus_client import Counter, Gauge, Histogram

if TYPE_CHECKING:  # transitions reports every change here: a runtime import would be circular
    from hongyan.messages.transitions import Change
    from hongyan.models import Message

MESSAGES = Counter(
    "hongyan_messages_total",
    "Message status changes, by new status, kind and connector",
    ["status", "kind", "connector"],
)
QUEUE_DEPTH = Gauge("hongyan_queue_depth", "Queued messages that are due now")
QUEUE_OLDEST_DUE = Gauge(
    "hongyan_queue_oldest_due_seconds", "How long the oldest due queued message has waited"
)
IN_FLIGHT = Gauge("hongyan_messages_in_flight", "Messages claimed by a worker (status sending)")
SCHEDULED = Gauge("hongyan_messages_scheduled", "Scheduled messages not yet due")
BATCH_SECONDS = Histogram(
    "hongyan_dispatch_batch_seconds",
    "One dispatch batch: claim, send and record",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
CLAIMS_LOST = Counter(
    "hongyan_dispatch_claims_lost_total",
    "Messages whose claim was taken over before their outcome could be recorded",
)
LEASES_EXPIRED = Counter(
    "hongyan_dispatch_leases_expired_total",
    "Messages taken over after their worker's lease expired, by what became of them",
    ["outcome"],  # resent | failed
)


def count(changes: Iterable[Change]) -> None:
    """Count committed status changes (call after the commit, never before)."""
    # Tallied first: a label lookup per message was a visible share of recording a batch.
    tally = Tally(
        (c.status, c.message.kind, c.connector_id or c.message.connector_id or "") for c in changes
    )
    for labels, n in tally.items():
        MESSAGES.labels(*labels).inc(n)


def count_claimed(messages: Iterable[Message]) -> None:
    """Count messages a claim moved to sending (the claim is one UPDATE, not a Change)."""
    for kind, n in Tally(m.kind for m in messages).items():
        MESSAGES.labels("sending", kind, "").inc(n)
