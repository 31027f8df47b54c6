"""The routing table compiled from the route rows, and the per-process cache that holds it.

Compiled once per change of connectors or routes (see ``RoutingRevision``), then asked once per
message: which connectors may carry it, in which order. Routes restricted to tenants are
indexed by tenant, so thousands of tenant routes do not slow down everybody else's messages.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from hongyan import errors
from hongyan.connectors.base import OutboundSms

CACHE_KEY = "routing.table"


@dataclass(frozen=True, slots=True)
class CompiledRoute:
    """A route's filters as sets; None matches anything."""

    id: str
    name: str
    priority: int
    weight: int
    connector_id: str
    countries: frozenset[str] | None = None
    prefixes: tuple[str, ...] | None = None
    carriers: frozenset[str] | None = None  # lower case
    kinds: frozenset[str] | None = None
    tenant_ids: frozenset[str] | None = None

    def matches(self, msg: OutboundSms, carrier: str | None) -> bool:
        """Whether every filter of the route lets this message through."""
        if self.kinds is not None and msg.kind not in self.kinds:
            return False
        if self.countries is not None and (msg.region or "").upper() not in self.countries:
            return False
        if self.prefixes is not None and not msg.msisdn.startswith(self.prefixes):
            return False
        if self.carriers is not None and (carrier or "").lower() not in self.carriers:
            return False
        return self.tenant_ids is None or msg.tenant_id in self.tenant_ids


def _set(
    values: Iterable[str] | None, *, fold: Callable[[str], str] = str
) -> frozenset[str] | None:
    return None if values is None else frozenset(fold(v) for v in values)


def compile_route(
    *,
    id: str,
    name: str,
    priority: int,
    weight: int,
    connector_id: str,
    countries: Sequence[str] | None = None,
    prefixes: Sequence[str] | None = None,
    carriers: Sequence[str] | None = None,
    kinds: Sequence[str] | None = None,
    tenant_ids: Sequence[str] | None = None,
) -> CompiledRoute:
    """A route ready for matching (filters as sets, carriers folded to lower case)."""
    return CompiledRoute(
        id=id,
        name=name,
        priority=priority,
        weight=weight,
        connector_id=connector_id,
        countries=_set(countries, fold=str.upper),
        prefixes=None if prefixes is None else tuple(prefixes),
        carriers=_set(carriers, fold=str.lower),
        kinds=_set(kinds),
        tenant_ids=_set(tenant_ids),
    )


@dataclass(slots=True)
class RoutingTable:
    """Enabled routes to enabled connectors, by tenant, each list sorted by priority."""

    routes: list[CompiledRoute]
    simulators: list[str]  # enabled simulator connectors: where test-mode messages go
    kinds: dict[str, str] = field(default_factory=dict)  # connector id -> kind
    _general: list[CompiledRoute] = field(init=False)
    _by_tenant: dict[str, list[CompiledRoute]] = field(init=False)

    def __post_init__(self) -> None:
        ordered = sorted(self.routes, key=lambda r: (r.priority, r.name))
        self._general = [r for r in ordered if r.tenant_ids is None]
        self._by_tenant = {}
        for route in ordered:
            for tenant_id in route.tenant_ids or ():
                self._by_tenant.setdefault(tenant_id, []).append(route)

    def matching(self, msg: OutboundSms, carrier: str | None) -> list[CompiledRoute]:
        """The routes that match, by priority (ties: the tenant's own routes first)."""
        own = self._by_tenant.get(msg.tenant_id, [])
        merged = sorted([*own, *self._general], key=lambda r: r.priority)  # stable
        return [r for r in merged if r.matches(msg, carrier)]

    def order(
        self,
        msg: OutboundSms,
        carrier: str | None,
        *,
        rng: random.Random | None = None,
        is_open: Callable[[str], bool] = lambda _: False,
        factor: Callable[[str], float] = lambda _: 1.0,
    ) -> list[str]:
        """Connector ids to try, in order; NO_ROUTE when nothing matches.

        Priorities in order; within one priority a weighted random order, so traffic splits
        by weight (times ``factor``: a degraded connector keeps a share of its weight);
        connectors whose circuit breaker is open go last. Test-mode messages only ever reach
        simulator connectors.
        """
        routes = self.matching(msg, carrier)
        if msg.test_mode:
            routes = [r for r in routes if self.kinds.get(r.connector_id) == "simulator"]
        ids = _weighted_by_priority(routes, rng or _RNG, factor)
        if msg.test_mode:
            ids += [s for s in self.simulators if s not in ids]
        if not ids:
            raise errors.NO_ROUTE(region=msg.region or "unknown", kind=msg.kind)
        return [c for c in ids if not is_open(c)] + [c for c in ids if is_open(c)]


_RNG = random.Random()  # traffic splitting, not security


def _weighted_by_priority(
    routes: list[CompiledRoute],
    rng: random.Random,
    factor: Callable[[str], float] = lambda _: 1.0,
) -> list[str]:
    """Connector ids by priority, weighted-shuffled within a priority, each id once."""
    ordered: list[str] = []
    seen: set[str] = set()
    start = 0
    while start < len(routes):
        end = start
        while end < len(routes) and routes[end].priority == routes[start].priority:
            end += 1
        # Efraimidis-Spirakis: sorting by u^(1/w) descending is a weighted draw without
        # replacement, in one pass and without building cumulative sums.
        group = sorted(
            routes[start:end],
            key=lambda r: (
                math.log(rng.random() or 1e-300)
                / (max(r.weight, 1) * max(factor(r.connector_id), 1e-9))
            ),
            reverse=True,
        )
        for route in group:
            if route.connector_id not in seen:
                seen.add(route.connector_id)
                ordered.append(route.connector_id)
        start = end
    return ordered


@dataclass(slots=True)
class TableCache:
    """The process's compiled table and the revision it was built from."""

    refresh_secs: float
    table: RoutingTable | None = None
    revision: int = -1
    checked_at: float = float("-inf")  # time.monotonic() of the last revision check

    def due(self, now: float) -> bool:
        """Whether the revision must be checked against the database now."""
        return self.table is None or now - self.checked_at >= self.refresh_secs

    def put(self, revision: int, table: RoutingTable, now: float) -> None:
        """Keep a freshly compiled table and the revision it was built from."""
        self.revision, self.table, self.checked_at = revision, table, now

    def confirm(self, now: float) -> None:
        """The database still has our revision: trust it for another interval."""
        self.checked_at = now

    def expire(self) -> None:
        """Check the revision on next use (a change was committed by this process)."""
        self.checked_at = float("-inf")
