"""A tenant's limits as the checks use them, cached per process with the revision they came from.

Each check asks the database at most once per ``limits_refresh_secs`` per tenant for the
tenant's revision (one small query, answered with the tenant's time zone); only when the
revision moved are the policy and the whitelist read again. A change committed by this process
marks its tenant for checking at once, so an operator who changes a limit and tries it straight
away is not served the old one.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal, get_args

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session as SyncSession

from hongyan import errors
from hongyan.api.context import AppContext
from hongyan.limits import repository as repo
from hongyan.limits.backend import Window
from hongyan.models import LimitPolicy

Kind = Literal["verification", "notification", "marketing"]
KINDS: tuple[Kind, ...] = get_args(Kind)

CACHE_KEY = "limits.policies"
# Tenants whose policy a process keeps; the least recently used go first (read again if needed).
MAX_TENANTS = 10_000
_PENDING = "limits.changed"


@dataclass(frozen=True, slots=True)
class Rule:
    """At most ``max`` messages in any ``window_secs`` seconds (a rolling window)."""

    window_secs: int
    max: int


# Aliyun's defaults: a verification code to one number with one sign at most once a minute,
# 5 times an hour and 10 times a day; notification and marketing at most 50 a day per template.
DEFAULT_RULES: Mapping[Kind, tuple[Rule, ...]] = {
    "verification": (Rule(60, 1), Rule(3600, 5), Rule(86400, 10)),
    "notification": (Rule(86400, 50),),
    "marketing": (Rule(86400, 50),),
}


@dataclass(frozen=True, slots=True)
class Policy:
    """Everything the checks of one tenant need, immutable so it can be shared by requests."""

    tenant_id: str
    timezone: str
    rules: Mapping[Kind, tuple[Rule, ...]]  # every kind, rules in ascending window order
    windows: Mapping[Kind, tuple[Window, ...]]  # the same rules in milliseconds
    customized: frozenset[Kind]  # kinds whose rules the operator set
    rate_per_sec: int | None
    daily_cap: int | None
    monthly_cap: int | None
    whitelist: frozenset[str]
    revision: int
    updated_at: datetime | None


def parse_rules(stored: Mapping[str, Any] | None) -> dict[Kind, tuple[Rule, ...]]:
    """The rules of every kind: stored ones where set, else the defaults."""
    stored = stored or {}
    rules: dict[Kind, tuple[Rule, ...]] = {}
    for kind in KINDS:
        custom = stored.get(kind)
        if custom is None:
            rules[kind] = DEFAULT_RULES[kind]
        else:
            parsed = (Rule(int(r["window_secs"]), int(r["max"])) for r in custom)
            rules[kind] = tuple(sorted(parsed, key=lambda r: r.window_secs))
    return rules


def build_policy(
    tenant_id: str,
    timezone: str,
    row: LimitPolicy | None,
    whitelist: frozenset[str],
) -> Policy:
    """A Policy from the stored row (None: the defaults) and the whitelisted numbers."""
    stored: Mapping[str, Any] = row.rules if row is not None else {}
    rules = parse_rules(stored)
    return Policy(
        tenant_id=tenant_id,
        timezone=timezone,
        rules=rules,
        windows={
            k: tuple(Window(r.window_secs * 1000, r.max) for r in v) for k, v in rules.items()
        },
        customized=frozenset(k for k in KINDS if stored.get(k) is not None),
        rate_per_sec=row.rate_per_sec if row is not None else None,
        daily_cap=row.daily_cap if row is not None else None,
        monthly_cap=row.monthly_cap if row is not None else None,
        whitelist=whitelist,
        revision=row.revision if row is not None else 0,
        updated_at=row.updated_at if row is not None else None,
    )


@dataclass(slots=True)
class _Entry:
    policy: Policy
    checked_at: float  # time.monotonic() of the last revision check


class PolicyCache:
    """Tenant id -> its Policy, each remembered with the time its revision was last checked."""

    def __init__(self, refresh_secs: float, max_tenants: int = MAX_TENANTS) -> None:
        self.refresh_secs = refresh_secs
        self.max_tenants = max_tenants
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def fresh(self, tenant_id: str, now: float) -> Policy | None:
        """The cached policy if it was checked recently enough, else None."""
        entry = self._entries.get(tenant_id)
        if entry is None or now - entry.checked_at >= self.refresh_secs:
            return None
        self._entries.move_to_end(tenant_id)
        return entry.policy

    def held(self, tenant_id: str) -> Policy | None:
        entry = self._entries.get(tenant_id)
        return entry.policy if entry else None

    def put(self, policy: Policy, now: float) -> None:
        """Keep a freshly read policy, unless a newer one arrived meanwhile."""
        entry = self._entries.get(policy.tenant_id)
        if entry is not None and entry.policy.revision > policy.revision:
            return
        self._entries[policy.tenant_id] = _Entry(policy, now)
        self._entries.move_to_end(policy.tenant_id)
        while len(self._entries) > self.max_tenants:
            self._entries.popitem(last=False)

    def expire(self, tenant_id: str) -> None:
        """Check this tenant's revision on its next use (a change was committed here)."""
        entry = self._entries.get(tenant_id)
        if entry is not None:
            entry.checked_at = float("-inf")


def cache_of(ctx: AppContext) -> PolicyCache:
    """The process's policy cache, created on first use."""
    cache = ctx.caches.get(CACHE_KEY)
    if not isinstance(cache, PolicyCache):
        cache = ctx.caches[CACHE_KEY] = PolicyCache(ctx.settings.limits_refresh_secs)
    return cache


async def policy_of(session: AsyncSession, *, ctx: AppContext, tenant_id: str) -> Policy:
    """The tenant's policy: cached, re-read only when its revision moved."""
    cache = cache_of(ctx)
    now = time.monotonic()
    policy = cache.fresh(tenant_id, now)
    if policy is not None:
        return policy
    timezone, revision = await _state(session, tenant_id)
    held = cache.held(tenant_id)
    if held is not None and held.revision == revision:
        policy = held if held.timezone == timezone else replace(held, timezone=timezone)
    else:
        policy = await _read(session, tenant_id, timezone, revision)
    cache.put(policy, now)
    return policy


async def load_policy(session: AsyncSession, tenant_id: str) -> Policy:
    """The tenant's policy as this transaction sees it, bypassing the cache."""
    timezone, revision = await _state(session, tenant_id)
    return await _read(session, tenant_id, timezone, revision)


async def _state(session: AsyncSession, tenant_id: str) -> tuple[str, int]:
    state = await repo.policy_state(session, tenant_id)
    if state is None:
        raise errors.TENANT_NOT_FOUND(field="tenant_id", id=tenant_id)
    return state


async def _read(session: AsyncSession, tenant_id: str, timezone: str, revision: int) -> Policy:
    # Read after the revision: a change committed in between makes the revision look old,
    # costing one extra read next time, never a stale policy kept.
    row = await repo.get_policy(session, tenant_id)
    whitelist = frozenset(await repo.whitelist_numbers(session, tenant_id))
    return replace(build_policy(tenant_id, timezone, row, whitelist), revision=revision)


async def changed(session: AsyncSession, *, ctx: AppContext, tenant_id: str) -> None:
    """After this transaction commits, this process re-reads the tenant's policy at once."""
    sync: SyncSession = session.sync_session
    pending: set[str] = sync.info.setdefault(_PENDING, set())
    if not pending:
        cache = cache_of(ctx)

        def expire(_: SyncSession) -> None:
            for tenant in sync.info.pop(_PENDING, set()):
                cache.expire(tenant)

        event.listen(sync, "after_commit", expire, once=True)
    pending.add(tenant_id)


# --- window names, for the error that says which window was hit ------------------------------

_UNITS = ((86400, "day", "天"), (3600, "hour", "小时"), (60, "minute", "分钟"), (1, "second", "秒"))


def window_name(window_secs: int) -> tuple[str, str]:
    """English and Chinese names of a window: ("minute", "1 分钟"), ("10 minutes", "10 分钟")."""
    for size, en, zh in _UNITS:
        if window_secs % size == 0:
            count = window_secs // size
            return (en if count == 1 else f"{count} {en}s"), f"{count} {zh}"
    raise AssertionError("unreachable: every whole number of seconds has a unit")
