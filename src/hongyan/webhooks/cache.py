"""Each process's copy of which endpoints of a tenant want which events.

Enqueueing runs inside every status change of every message, so the endpoints are read once
per tenant per ``webhook_endpoint_cache_secs``, not per event. A change committed by this process
expires its tenant at once; a change made elsewhere is seen within the interval (and a delivery
queued meanwhile for a deleted endpoint is discarded when its turn comes).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from hongyan.webhooks.schemas import ALL_EVENTS

CACHE_KEY = "webhooks.endpoints"
MAX_TENANTS = 10_000  # least recently used tenants are dropped past this (read again if needed)


@dataclass(frozen=True, slots=True)
class Subscription:
    endpoint_id: str
    url: str
    events: frozenset[str]

    def wants(self, event: str) -> bool:
        return ALL_EVENTS in self.events or event in self.events


@dataclass(slots=True)
class _Entry:
    subscriptions: tuple[Subscription, ...]
    loaded_at: float


class EndpointCache:
    """tenant id -> its enabled endpoints, each entry trusted for ``ttl_secs``."""

    def __init__(self, ttl_secs: float, max_tenants: int = MAX_TENANTS) -> None:
        self.ttl_secs = ttl_secs
        self.max_tenants = max_tenants
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def missing(self, tenant_ids: list[str], now: float) -> list[str]:
        """The tenants whose endpoints must be read from the database now."""
        return [
            t
            for t in tenant_ids
            if (e := self._entries.get(t)) is None or now - e.loaded_at >= self.ttl_secs
        ]

    def put(self, tenant_id: str, subscriptions: tuple[Subscription, ...], now: float) -> None:
        self._entries[tenant_id] = _Entry(subscriptions, now)
        self._entries.move_to_end(tenant_id)
        while len(self._entries) > self.max_tenants:
            self._entries.popitem(last=False)

    def get(self, tenant_id: str) -> tuple[Subscription, ...]:
        entry = self._entries.get(tenant_id)
        return entry.subscriptions if entry else ()

    def expire(self, tenant_id: str) -> None:
        self._entries.pop(tenant_id, None)


def cache_of(caches: dict[str, Any], ttl_secs: float) -> EndpointCache:
    """The process's endpoint cache, created on first use."""
    cache = caches.get(CACHE_KEY)
    if not isinstance(cache, EndpointCache):
        cache = caches[CACHE_KEY] = EndpointCache(ttl_secs)
    return cache


def monotonic() -> float:
    return time.monotonic()
