"""What the send path reads of a tenant, its signs and its templates, kept briefly per process.

Every send needs the tenant (may it send free text?), the sign and the template, each approved;
reading them costs three queries per request, more than the rest of the checks together. Here
an approved sign or template and the tenant are kept for ``messages_lookup_cache_secs``
(refusals are never kept: a sign approved a moment ago works at once).

- A change committed by this process drops the tenant's entries at once: any flush of a
  ``Tenant``, ``Sign`` or ``Template`` row is noted on its session and acted on after commit
  (session events, so the domains that change them need not know about this cache).
- A change committed by another process (PostgreSQL deployments) is seen within the TTL, as
  prices, limits and word lists are.

The entries are transient copies (column values only, never attached to a session), so no
request can expire, refresh or lazy-load another's.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Iterable
from typing import Any, TypeVar

from sqlalchemy import event, inspect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session as SyncSession
from sqlalchemy.orm import UOWTransaction

from hongyan.accounts import service as accounts
from hongyan.api.context import AppContext
from hongyan.models import Sign, Template, Tenant
from hongyan.signs import service as signs
from hongyan.templates import service as templates

LOOKUPS_KEY = "messages.lookups"
# Entries kept per process before the cache starts over (a few hundred bytes each).
MAX_ENTRIES = 50_000
_CHANGED = "messages.lookups.changed"  # Session.info key: tenant ids whose rows were flushed

RowT = TypeVar("RowT", Tenant, Sign, Template)


class Lookups:
    """Tenant id -> {(what, which): (copy, when read)}."""

    def __init__(self, ttl_secs: float) -> None:
        self.ttl_secs = ttl_secs
        self._by_tenant: dict[str, dict[tuple[str, str], tuple[Any, float]]] = {}
        self._size = 0
        # Moves on every expiry: a row read before a change committed is not kept after it.
        self.epoch = 0
        _LIVE.add(self)

    def get(self, tenant_id: str, what: str, which: str) -> Any | None:
        entry = self._by_tenant.get(tenant_id, {}).get((what, which))
        if entry is None or time.monotonic() - entry[1] >= self.ttl_secs:
            return None
        return entry[0]

    def put(self, tenant_id: str, what: str, which: str, value: Any, *, epoch: int) -> None:
        """Keep ``value``, read when ``epoch`` was current (dropped if a change came since)."""
        if epoch != self.epoch:
            return
        if self._size >= MAX_ENTRIES:
            self.clear()
        entries = self._by_tenant.setdefault(tenant_id, {})
        self._size += (what, which) not in entries
        entries[(what, which)] = (value, time.monotonic())

    def expire(self, tenant_ids: Iterable[str]) -> None:
        self.epoch += 1
        for tenant_id in tenant_ids:
            self._size -= len(self._by_tenant.pop(tenant_id, {}))

    def clear(self) -> None:
        self._by_tenant.clear()
        self._size = 0


_LIVE: weakref.WeakSet[Lookups] = weakref.WeakSet()


def lookups_of(ctx: AppContext) -> Lookups:
    """The context's cache, created on first use."""
    cache = ctx.caches.get(LOOKUPS_KEY)
    if not isinstance(cache, Lookups):
        cache = ctx.caches[LOOKUPS_KEY] = Lookups(ctx.settings.messages_lookup_cache_secs)
    return cache


async def tenant(session: AsyncSession, *, ctx: AppContext, tenant_id: str) -> Tenant:
    """The tenant (TENANT_NOT_FOUND as ``accounts.get_tenant``)."""
    cache = lookups_of(ctx)
    found: Tenant | None = cache.get(tenant_id, "tenant", tenant_id)
    if found is None:
        epoch = cache.epoch
        found = _copy(await accounts.get_tenant(session, tenant_id))
        cache.put(tenant_id, "tenant", tenant_id, found, epoch=epoch)
    return found


async def approved_sign(
    session: AsyncSession, *, ctx: AppContext, tenant_id: str, name: str
) -> Sign:
    """The tenant's approved sign of this name (refusals as ``signs.get_approved``)."""
    cache = lookups_of(ctx)
    found: Sign | None = cache.get(tenant_id, "sign", name)
    if found is None:
        epoch = cache.epoch
        found = _copy(await signs.get_approved(session, tenant_id=tenant_id, name=name))
        cache.put(tenant_id, "sign", name, found, epoch=epoch)
    return found


async def approved_template(
    session: AsyncSession, *, ctx: AppContext, tenant_id: str, template_id: str
) -> Template:
    """The tenant's approved template (refusals as ``templates.get_approved``)."""
    cache = lookups_of(ctx)
    found: Template | None = cache.get(tenant_id, "template", template_id)
    if found is None:
        epoch = cache.epoch
        loaded = await templates.get_approved(session, tenant_id=tenant_id, template_id=template_id)
        found = _copy(loaded)
        cache.put(tenant_id, "template", template_id, found, epoch=epoch)
    return found


def _copy(row: RowT) -> RowT:
    """A transient copy of a loaded row: its column values, no session, no relationships."""
    columns = inspect(type(row)).column_attrs
    return type(row)(**{attr.key: getattr(row, attr.key) for attr in columns})


def _tenant_of(row: object) -> str | None:
    if isinstance(row, Tenant):
        return row.id
    if isinstance(row, Sign | Template):
        return row.tenant_id
    return None


@event.listens_for(SyncSession, "after_flush")
def _note_changes(session: SyncSession, _flush: UOWTransaction) -> None:
    """Note whose tenant, signs or templates this transaction changed."""
    changed = {
        tenant_id
        for row in (*session.new, *session.dirty, *session.deleted)
        if (tenant_id := _tenant_of(row)) is not None
    }
    if changed:
        session.info.setdefault(_CHANGED, set()).update(changed)


@event.listens_for(SyncSession, "after_commit")
def _expire_changed(session: SyncSession) -> None:
    changed = session.info.pop(_CHANGED, None)
    if changed:
        for cache in list(_LIVE):
            cache.expire(changed)


@event.listens_for(SyncSession, "after_rollback")
def _forget_changes(session: SyncSession) -> None:
    session.info.pop(_CHANGED, None)
