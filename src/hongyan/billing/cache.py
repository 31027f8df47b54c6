"""What one process keeps of billing so that pricing a message costs no query.

- The price table, tagged with the revision it was read at. A process asks for the revision at
  most once per ``billing_refresh_secs`` and reloads the (small) table only when it moved. It
  lives in ``AppContext.caches``: one per database.
- Each tenant's terms (currency and charge policy), kept for ``TERMS_TTL_SECS``. They are read
  by ``charge_policy``, which gets no context, so this cache is module-wide; tenant ids are
  unique across databases, so sharing it is safe.

A change committed by this process expires its entry at once (see ``service``); other processes
see it within the intervals above.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from hongyan.models.billing import ANY

PRICES_KEY = "billing.prices"
# A tenant's currency or charge policy changed elsewhere reaches this process within this time.
TERMS_TTL_SECS = 1.0
# Tenants whose terms are kept per process; the least recently used go first.
TERMS_MAX = 100_000


@dataclass(frozen=True, slots=True)
class UnitPrice:
    unit_price: int
    currency: str


@dataclass(frozen=True, slots=True)
class PriceTable:
    """Every price of one revision, keyed by (country, kind)."""

    revision: int
    prices: dict[tuple[str, str], UnitPrice]

    @classmethod
    def build(cls, revision: int, rows: list[tuple[str, str, int, str]]) -> PriceTable:
        return cls(revision, {(c, k): UnitPrice(p, cur) for c, k, p, cur in rows})

    def lookup(self, country: str | None, kind: str) -> UnitPrice | None:
        """The most specific price: country and kind, country, kind, then the default."""
        candidates = [(ANY, kind), (ANY, ANY)]
        if country:
            candidates[:0] = [(country, kind), (country, ANY)]
        for key in candidates:
            found = self.prices.get(key)
            if found is not None:
                return found
        return None


class PriceCache:
    """The process's price table and when its revision was last checked."""

    def __init__(self, refresh_secs: float) -> None:
        self.refresh_secs = refresh_secs
        self.table: PriceTable | None = None
        self.checked_at = float("-inf")

    def due(self, now: float) -> bool:
        return self.table is None or now - self.checked_at >= self.refresh_secs

    def put(self, table: PriceTable, now: float) -> None:
        self.table = table
        self.checked_at = now

    def expire(self) -> None:
        """Check the revision on the next use (a change was committed here)."""
        self.checked_at = float("-inf")


def price_cache_of(caches: dict[str, Any], refresh_secs: float) -> PriceCache:
    """The context's price cache, created on first use."""
    cache = caches.get(PRICES_KEY)
    if not isinstance(cache, PriceCache):
        cache = caches[PRICES_KEY] = PriceCache(refresh_secs)
    return cache


@dataclass(frozen=True, slots=True)
class Terms:
    """What pricing and settling need to know of a tenant's account."""

    currency: str
    charge_policy: str


class TermsCache:
    """Tenant id -> its terms, each kept for ``ttl`` seconds."""

    def __init__(self, ttl: float, max_entries: int = TERMS_MAX) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[Terms, float]] = OrderedDict()

    def get(self, tenant_id: str, now: float) -> Terms | None:
        entry = self._entries.get(tenant_id)
        if entry is None or now - entry[1] >= self.ttl:
            return None
        self._entries.move_to_end(tenant_id)
        return entry[0]

    def put(self, tenant_id: str, terms: Terms, now: float) -> None:
        self._entries[tenant_id] = (terms, now)
        self._entries.move_to_end(tenant_id)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def expire(self, tenant_id: str) -> None:
        self._entries.pop(tenant_id, None)


TERMS = TermsCache(TERMS_TTL_SECS)


def monotonic() -> float:
    return time.monotonic()
