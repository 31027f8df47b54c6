"""Compiled matchers of one process, each tagged with the list revision it was built from.

A scan asks the database for the revisions of its lists at most once per
``compliance_refresh_secs`` per list; only when a revision moved is that list read and compiled
again. A change committed by this process marks its list for checking at once, so an operator
who adds a word and tries it straight away is not served the old automaton.

Between two checks a scan asks only ``fresh``: one dict lookup and a comparison with the
monotonic clock for the pair of matchers (global, tenant) it needs. It used to find the scopes
due for a check on every call, which the send path pays once per recipient.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from hongyan.compliance.matcher import Matcher
from hongyan.models.compliance import GLOBAL_SCOPE

CACHE_KEY = "compliance.matchers"
# Tenant automatons kept per process; the least recently used go first (rebuilt when needed).
MAX_SCOPES = 10_000


@dataclass(slots=True)
class _Entry:
    revision: int
    matcher: Matcher
    checked_at: float  # time.monotonic() of the last revision check


class MatcherCache:
    """Scope ("global" or a tenant id) -> the compiled matcher of that list."""

    def __init__(self, refresh_secs: float, max_scopes: int = MAX_SCOPES) -> None:
        self.refresh_secs = refresh_secs
        self.max_scopes = max_scopes
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        # tenant id (None: the global list alone) -> (monotonic time until which every scope
        # it needs is fresh, its matchers in scan order). Dropped whenever a scope changes.
        self._fresh: dict[str | None, tuple[float, list[Matcher]]] = {}

    def fresh(self, tenant_id: str | None, now: float) -> list[Matcher] | None:
        """The matchers of a tenant (global first) if none is due for a check, else None."""
        found = self._fresh.get(tenant_id)
        if found is not None and now < found[0]:
            return found[1]
        return None

    def remember(self, tenant_id: str | None, scopes: list[str]) -> list[Matcher]:
        """The matchers of these scopes, kept for ``fresh`` until the first is due again."""
        matchers = [self.get(scope) for scope in scopes]
        until = min(self._entries[scope].checked_at for scope in scopes) + self.refresh_secs
        if len(self._fresh) >= self.max_scopes:
            self._fresh.clear()  # bounded like the entries; refilled one check at a time
        self._fresh[tenant_id] = (until, matchers)
        return matchers

    def due(self, scopes: list[str], now: float) -> list[str]:
        """The scopes whose revision must be checked against the database now."""
        return [
            s
            for s in scopes
            if (e := self._entries.get(s)) is None or now - e.checked_at >= self.refresh_secs
        ]

    def revision(self, scope: str) -> int | None:
        entry = self._entries.get(scope)
        return entry.revision if entry else None

    def confirm(self, scope: str, now: float) -> None:
        """The database still has the revision we hold: trust it for another interval."""
        entry = self._entries.get(scope)
        if entry is not None:
            entry.checked_at = now

    def put(self, scope: str, revision: int, matcher: Matcher, now: float) -> None:
        """Keep a freshly built matcher, unless a newer one arrived meanwhile."""
        entry = self._entries.get(scope)
        if entry is not None and entry.revision > revision:
            return
        self._entries[scope] = _Entry(revision, matcher, now)
        self._entries.move_to_end(scope)
        self._forget(scope)
        while len(self._entries) > self.max_scopes:
            self._entries.popitem(last=False)

    def get(self, scope: str) -> Matcher:
        entry = self._entries[scope]
        self._entries.move_to_end(scope)
        return entry.matcher

    def expire(self, scope: str) -> None:
        """Check this scope's revision on its next use (a change was committed here)."""
        entry = self._entries.get(scope)
        if entry is not None:
            entry.checked_at = float("-inf")
        self._forget(scope)

    def _forget(self, scope: str) -> None:
        """Drop the fresh pairs that hold this scope's matcher: the global list is in all."""
        if scope == GLOBAL_SCOPE:
            self._fresh.clear()
        else:
            self._fresh.pop(scope, None)


def cache_of(caches: dict[str, Any], refresh_secs: float) -> MatcherCache:
    """The process's matcher cache, created on first use."""
    cache = caches.get(CACHE_KEY)
    if not isinstance(cache, MatcherCache):
        cache = caches[CACHE_KEY] = MatcherCache(refresh_secs)
    return cache


def monotonic() -> float:
    return time.monotonic()
