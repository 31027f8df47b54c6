"""The live connectors of one process, built from the connector rows and rebuilt when they change.

The manager asks the database for the routing revision at most once per
``routing_refresh_secs``; when it moved, it reloads the connector rows (a handful) and closes
the instances whose row changed (``version``), was disabled or removed. Instances are built
on first use, from the decrypted settings, and started with the sinks the caller supplied
(``set_sinks``: where receipts and inbound messages go, i.e. the dlr and inbound domains).

Connectors with leased binds (SMPP) open only the binds ``bind_holder`` says this process
holds, when one is set (``routing.binds``, on PostgreSQL); without one, all of them.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from hongyan import errors
from hongyan.api.context import AppContext
from hongyan.connectors import registry
from hongyan.connectors.base import Connector, Sinks
from hongyan.connectors.leased import LeasedBinds, bind_slots
from hongyan.routing import repository as repo
from hongyan.routing import secrets

log = structlog.get_logger("hongyan.routing")

CACHE_KEY = "connectors"


@dataclass(frozen=True, slots=True)
class _Spec:
    kind: str
    version: int
    enabled: bool
    settings: dict[str, Any]  # as stored (secrets sealed)


@dataclass(frozen=True, slots=True)
class _Live:
    connector: Connector
    version: int
    generation: int  # of the sinks it was started with


class ConnectorManager:
    """Connector id -> a started connector instance, for this process."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self._sinks: Sinks | None = None
        self._generation = 0
        self._specs: dict[str, _Spec] = {}
        self._live: dict[str, _Live] = {}
        self._revision = -1
        self._checked_at = float("-inf")
        self._refresh_lock = asyncio.Lock()
        self._build_locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        # connector id -> the bind indices this process may open; None: all (one process).
        self.bind_holder: Callable[[str], frozenset[int]] | None = None
        # Run first by close_all (the bind lease keeper stops, and gives its leases back).
        self.before_close_all: list[Callable[[], Awaitable[None]]] = []

    @property
    def sinks(self) -> Sinks | None:
        """The sinks connectors are started with; None until set_sinks."""
        return self._sinks

    def set_sinks(self, sinks: Sinks | None) -> None:
        """Where connectors hand receipts and inbound messages; running ones restart with them."""
        self._sinks = sinks
        self._generation += 1

    def expire(self) -> None:
        """Check the revision on next use (a change was committed by this process)."""
        self._checked_at = float("-inf")

    async def get(self, connector_id: str, *, session: AsyncSession | None = None) -> Connector:
        """The started connector; CONNECTOR_NOT_FOUND or CONNECTOR_DISABLED otherwise.

        ``session``, when given, is used for the revision check instead of a new one.
        """
        await self._refresh_if_due(session)
        live = self._current(connector_id)
        if live is not None:
            return live
        async with self._build_locks[connector_id]:
            return self._current(connector_id) or await self._build(connector_id)

    def _spec(self, connector_id: str) -> _Spec:
        spec = self._specs.get(connector_id)
        if spec is None:
            raise errors.CONNECTOR_NOT_FOUND(id=connector_id)
        if not spec.enabled:
            raise errors.CONNECTOR_DISABLED(id=connector_id)
        return spec

    def _current(self, connector_id: str) -> Connector | None:
        spec = self._spec(connector_id)
        live = self._live.get(connector_id)
        if live and live.version == spec.version and live.generation == self._generation:
            return live.connector
        return None

    async def _build(self, connector_id: str) -> Connector:
        spec = self._spec(connector_id)
        if self._sinks is None:  # a wiring mistake, but one the API can answer with a 503
            raise errors.NOT_READY(reason="connectors have nowhere to hand receipts (set_sinks)")
        await self._close(connector_id)
        plain = secrets.unseal(spec.kind, spec.settings, self.ctx.box)
        connector = registry.build(spec.kind, connector_id, plain)
        if self.bind_holder is not None and isinstance(connector, LeasedBinds):
            connector.allow_binds(self.bind_holder(connector_id))
        await connector.start(self._sinks)
        self._live[connector_id] = _Live(connector, spec.version, self._generation)
        log.info("connector started", connector_id=connector_id, kind=spec.kind)
        return connector

    async def refresh(self, session: AsyncSession | None = None) -> None:
        """Reload the connector rows if the routing revision moved (asked at most once per
        ``routing_refresh_secs``), closing instances whose row changed."""
        await self._refresh_if_due(session)

    def leased(self) -> dict[str, tuple[int, bool]]:
        """Connectors with leased binds: id -> (binds, enabled), as last loaded."""
        found: dict[str, tuple[int, bool]] = {}
        for connector_id, spec in self._specs.items():
            slots = bind_slots(spec.kind, spec.settings)
            if slots:
                found[connector_id] = (slots, spec.enabled)
        return found

    def slots_of(self, connector_id: str) -> int:
        """How many leased binds a connector has (0: none, or an unknown connector)."""
        spec = self._specs.get(connector_id)
        return bind_slots(spec.kind, spec.settings) if spec is not None else 0

    async def stop(self, connector_id: str) -> None:
        """Close a running instance (a later get() starts it again)."""
        await self._close(connector_id)

    async def _refresh_if_due(self, session: AsyncSession | None) -> None:
        refresh = self.ctx.settings.routing_refresh_secs
        if time.monotonic() - self._checked_at < refresh:
            return
        async with self._refresh_lock:
            if time.monotonic() - self._checked_at < refresh:
                return  # another caller refreshed while this one waited
            if session is not None:
                await self._load(session)
            else:
                async with self.ctx.db.session() as own:
                    await self._load(own)
            self._checked_at = time.monotonic()
        await self._close_stale()

    async def _load(self, session: AsyncSession) -> None:
        # The revision is read BEFORE the rows: a change committed in between makes the
        # revision look old, costing one extra reload, never a stale connector kept.
        revision = await repo.get_revision(session)
        if revision == self._revision:
            return
        rows = await repo.all_connectors(session)
        self._specs = {r.id: _Spec(r.kind, r.version, r.enabled, dict(r.settings)) for r in rows}
        self._revision = revision

    async def _close_stale(self) -> None:
        for connector_id, live in list(self._live.items()):
            spec = self._specs.get(connector_id)
            if spec is None or not spec.enabled or spec.version != live.version:
                await self._close(connector_id)

    async def _close(self, connector_id: str) -> None:
        live = self._live.pop(connector_id, None)
        if live is None:
            return
        try:
            await live.connector.close()
        except Exception:
            log.exception("connector close failed", connector_id=connector_id)

    def running(self) -> dict[str, Connector]:
        """The instances started in this process now (for readiness and tests)."""
        return {cid: live.connector for cid, live in self._live.items()}

    async def close_all(self) -> None:
        """Close every running connector (at shutdown); later calls to get() start them again."""
        for hook in list(self.before_close_all):
            try:
                await hook()
            except Exception:
                log.exception("close hook failed")
        for connector_id in list(self._live):
            await self._close(connector_id)


def get_manager(ctx: AppContext) -> ConnectorManager:
    """The process's connector manager, created on first use (call set_sinks before get)."""
    found = ctx.caches.get(CACHE_KEY)
    if not isinstance(found, ConnectorManager):
        found = ctx.caches[CACHE_KEY] = ConnectorManager(ctx)
    return found
