"""Compiled matchers of one process, each tagged with the list revision it was built from.

A scan asks the database for the revisions of its lists at most once per
``compliance_refresh_secs`` per list; only when a revision moved is that list read and compiled
again. A change committed by this process marks its list for checking at once, so an operator
who adds a word and tries it straight away is not served the old automaton.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from hongyan.compliance.matcher import Matcher

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


def cache_of(caches: dict[str, Any], refresh_secs: float) -> MatcherCache:
    """The process's matcher cache, created on first use."""
    cache = caches.get(CACHE_KEY)
    if not isinstance(cache, MatcherCache):
        cache = caches[CACHE_KEY] = MatcherCache(refresh_secs)
    return cache


def monotonic() -> float:
    return time.monotonic()
