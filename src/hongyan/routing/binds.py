"""Bind leases: which worker process opens which bind of a connector with few binds (SMPP).

A carrier allows a connector a fixed number of binds, so with several worker processes
(PostgreSQL) each bind is owned by exactly one of them through a row of
``connector_bind_lease``. Every worker runs one ``BindLeases`` keeper, a background task
beside its job loop (a long batch never delays a heartbeat). Every
``connector_bind_heartbeat_secs`` it

- renews the leases it holds, reporting whether each bind is bound, and gives back those
  its connectors no longer need (disabled, fewer binds);
- takes every bind nobody holds: never leased, or its lease ran out (its owner died);
- opens the binds it holds and closes the others (through the connector manager);
- frees the messages pinned to connectors nobody has held for a lease time.

If it cannot renew in time it closes its binds before its leases run out, so a worker cut
off from the database never keeps a bind another worker may take over.

Routing asks ``route(connector_id)`` before using a leased connector:

- this worker holds a bind of it: use it;
- another worker holds one and reports it bound (or took it less than a lease time ago and
  may still be binding), or nobody holds one since less than a lease time (a takeover under
  way): ``HANDOFF``: the dispatcher requeues the message pinned to the connector, without
  counting an attempt, and only an owner claims pinned messages;
- another worker has held it for a lease time without binding, or nobody has held it for a
  lease time: the connector is unavailable (retryable), and routing fails over.

In one process (SQLite, ``hongyan run``) there is no keeper: the process owns every bind.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal

import structlog
from prometheus_client import Gauge
from sqlalchemy.ext.asyncio import AsyncSession

from hongyan import errors
from hongyan.api.context import AppContext
from hongyan.connectors.base import RetryableSendError
from hongyan.connectors.leased import LeasedBinds
from hongyan.messages import repository as messages_repo
from hongyan.models import ConnectorBindLease, utcnow
from hongyan.routing import binds_repository as repo
from hongyan.routing.binds_repository import BindKey
from hongyan.routing.manager import ConnectorManager, get_manager

log = structlog.get_logger("hongyan.routing.binds")

CACHE_KEY = "routing.binds"
HANDOFF: Final = "handoff"
USE: Final = "use"
Decision = Literal["handoff", "use"] | RetryableSendError

BINDS_HELD = Gauge(
    "hongyan_connector_binds_held",
    "Binds of a connector this worker process holds the lease of (and so may open)",
    ["connector"],
)


@dataclass(frozen=True, slots=True)
class Seen:
    """A leased connector as this worker saw it at its last heartbeat."""

    mine: frozenset[int]
    others: int  # binds other workers hold (live leases)
    others_bound: int  # of those, bound at their owner's last heartbeat
    others_new: int  # of those, taken less than a lease time ago (maybe still binding)
    free_since: datetime | None  # no live lease since then; None while someone holds one


@dataclass(slots=True)
class _Round:
    """What one heartbeat does with the lease rows it read (no I/O)."""

    owner: str
    now: datetime
    rows: Sequence[ConnectorBindLease]
    wanted: dict[str, int]  # enabled leased connector -> binds
    lease: timedelta

    def keep(self) -> list[BindKey]:
        """Leases of this owner its connectors still want."""
        return [k for k in self._mine() if k[1] < self.wanted.get(k[0], 0)]

    def drop(self) -> list[BindKey]:
        """Leases of this owner nothing wants any more."""
        return [k for k in self._mine() if k[1] >= self.wanted.get(k[0], 0)]

    def free(self) -> list[BindKey]:
        """Wanted binds nobody holds: no row yet, or a lease that ran out."""
        rows = {(r.connector_id, r.bind_index): r for r in self.rows}
        found: list[BindKey] = []
        for connector_id, slots in sorted(self.wanted.items()):
            for index in range(slots):
                row = rows.get((connector_id, index))
                if row is None or (row.owner != self.owner and row.lease_until < self.now):
                    found.append((connector_id, index))
        return found

    def stale(self) -> set[str]:
        """Connectors with lease rows that want no binds (disabled, removed, not leased)."""
        return {r.connector_id for r in self.rows if r.connector_id not in self.wanted}

    def seen(self, held: set[BindKey], first_seen: dict[str, datetime]) -> dict[str, Seen]:
        """Each wanted connector as this owner now holds it and the others do."""
        view: dict[str, Seen] = {}
        for connector_id in self.wanted:
            theirs = [
                r
                for r in self.rows
                if r.connector_id == connector_id
                and r.owner != self.owner
                and r.lease_until >= self.now
                and (connector_id, r.bind_index) not in held
            ]
            mine = frozenset(i for c, i in held if c == connector_id)
            ends = [r.lease_until for r in self.rows if r.connector_id == connector_id]
            free_since = None
            if not theirs and not mine:
                free_since = max(ends) if ends else first_seen.setdefault(connector_id, self.now)
            fresh = sum(r.acquired_at > self.now - self.lease for r in theirs)
            bound = sum(r.bound for r in theirs)
            view[connector_id] = Seen(mine, len(theirs), bound, fresh, free_since)
        return view

    def _mine(self) -> list[BindKey]:
        return [(r.connector_id, r.bind_index) for r in self.rows if r.owner == self.owner]


class BindLeases:
    """This worker's bind leases, their heartbeat and what routing may do with them."""

    def __init__(self, ctx: AppContext, *, owner: str) -> None:
        self.ctx = ctx
        self.owner = owner
        self.held: dict[str, frozenset[int]] = {}
        self.view: dict[str, Seen] = {}
        self._first_seen: dict[str, datetime] = {}
        self._lock = asyncio.Lock()
        self._poke = asyncio.Event()
        self._stop = asyncio.Event()
        self._task: asyncio.Future[None] | None = None
        self._fence: asyncio.TimerHandle | None = None
        self._opening: set[asyncio.Future[None]] = set()  # a task per connector being opened

    @property
    def running(self) -> bool:
        """True while the heartbeat runs."""
        return self._task is not None and not self._task.done()

    @property
    def manager(self) -> ConnectorManager:
        return get_manager(self.ctx)

    # -- what the dispatcher and routing ask ------------------------------------------------

    def holding(self, connector_id: str) -> frozenset[int]:
        """The bind indices of a connector this worker holds now."""
        return self.held.get(connector_id, frozenset())

    def held_connectors(self) -> list[str]:
        """Connectors with a bind held here: their pinned messages are this worker's to send."""
        return sorted(c for c, indices in self.held.items() if indices)

    async def route(self, connector_id: str) -> Decision:
        """Whether a message routed to ``connector_id`` may be sent from this worker."""
        await self.manager.refresh()
        if not self.manager.slots_of(connector_id) or self.holding(connector_id):
            return USE
        seen = self.view.get(connector_id)
        if seen is None:  # created since the last heartbeat: take it now if free
            self._first_seen.setdefault(connector_id, utcnow())
            self.poke()
            return HANDOFF
        if seen.others:
            if seen.others_bound or seen.others_new:
                return HANDOFF
            return _unavailable(f"the worker holding the binds of {connector_id} is not bound")
        lease = timedelta(seconds=self.ctx.settings.connector_bind_lease_secs)
        if seen.free_since is not None and utcnow() - seen.free_since > lease:
            return _unavailable(f"no worker has held the binds of {connector_id} for a lease time")
        self.poke()  # free: this worker may take it at once
        return HANDOFF

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Take what can be taken now, then keep beating in the background."""
        async with self._lock:
            if self.running:
                return
            self._stop.clear()
            await self._beat_logged()
            self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        """Stop beating, close the binds held here and give their leases back."""
        self._stop.set()
        if self._task is not None:
            await self._task
            self._task = None
        if self._fence is not None:
            self._fence.cancel()
        for task in list(self._opening):
            task.cancel()
        await asyncio.gather(*self._opening, return_exceptions=True)
        keys = [(c, i) for c, indices in self.held.items() for i in indices]
        await self._apply(set())
        try:
            async with self.ctx.db.session() as session:
                await repo.release(session, keys, owner=self.owner)
        except Exception:
            log.exception("bind leases not given back; they run out instead", owner=self.owner)

    def poke(self) -> None:
        """Beat again now (a bind came up or went down, a connector needs an owner)."""
        self._poke.set()

    async def _run(self) -> None:
        settings = self.ctx.settings
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(settings.connector_bind_heartbeat_secs):
                    await _first_of(self._stop, self._poke)
            if self._stop.is_set():
                return
            self._poke.clear()
            await self._beat_logged()

    async def _beat_logged(self) -> None:
        try:
            await self.beat()
        except Exception:
            # Keep the binds until the fence timer says the leases may have run out.
            log.exception("bind lease heartbeat failed", owner=self.owner)

    # -- one heartbeat ------------------------------------------------------------------------

    async def beat(self) -> None:
        """Renew, give back, take over; then open and close binds to match."""
        await self.manager.refresh()
        leased = self.manager.leased()
        if not leased and not self.held and not self.view:
            return  # no connector with leased binds: nothing to read
        wanted = {cid: slots for cid, (slots, enabled) in leased.items() if enabled}
        now = utcnow()
        lease = timedelta(seconds=self.ctx.settings.connector_bind_lease_secs)
        until = now + lease
        async with self.ctx.db.session() as session:
            plan = _Round(self.owner, now, await repo.all_leases(session), wanted, lease)
            held = await self._renew_and_take(session, plan, until)
            await repo.release(session, plan.drop(), owner=self.owner)
            await repo.forget_expired(session, plan.stale(), now=now)
            self.view = plan.seen(held, self._first_seen)
            disabled = [cid for cid, (_, enabled) in leased.items() if not enabled]
            await self._unpin(session, [*disabled, *plan.stale(), *self._orphans(now)])
        self._arm_fence(until)
        await self._apply(held)

    async def _renew_and_take(
        self, session: AsyncSession, plan: _Round, until: datetime
    ) -> set[BindKey]:
        held: set[BindKey] = set()
        for key in plan.keep():
            bound = key[1] in self._bound_binds(key[0])
            if await repo.renew(
                session, key, owner=self.owner, now=plan.now, lease_until=until, bound=bound
            ):
                held.add(key)
            else:
                log.warning("bind lease taken over", connector_id=key[0], bind=key[1])
        for key in plan.free():
            if await repo.acquire(session, key, owner=self.owner, now=plan.now, lease_until=until):
                log.info("bind lease taken", connector_id=key[0], bind=key[1], owner=self.owner)
                held.add(key)
        return held

    def _orphans(self, now: datetime) -> list[str]:
        lease = timedelta(seconds=self.ctx.settings.connector_bind_lease_secs)
        return [
            cid
            for cid, seen in self.view.items()
            if seen.free_since is not None and now - seen.free_since > lease
        ]

    async def _unpin(self, session: AsyncSession, connector_ids: Iterable[str]) -> None:
        for connector_id in sorted(set(connector_ids)):
            freed = await messages_repo.unpin(session, connector_id)
            if freed:
                log.warning("pinned messages freed", connector_id=connector_id, count=freed)

    def _bound_binds(self, connector_id: str) -> frozenset[int]:
        connector = self.manager.running().get(connector_id)
        return connector.bound_binds() if isinstance(connector, LeasedBinds) else frozenset()

    # -- opening and closing binds ------------------------------------------------------------

    async def _apply(self, held: set[BindKey]) -> None:
        """Make the running connectors open exactly the binds in ``held``.

        Closing is awaited (a bind given up must stop sending now); opening runs in a task
        per connector, so a slow or silent SMSC never holds up the next heartbeat.
        """
        by_connector: defaultdict[str, set[int]] = defaultdict(set)
        for connector_id, index in held:
            by_connector[connector_id].add(index)
        before, self.held = self.held, {c: frozenset(i) for c, i in by_connector.items()}
        self.manager.bind_holder = self.holding
        for connector_id in sorted(set(before) | set(self.held)):
            indices = self.held.get(connector_id, frozenset())
            BINDS_HELD.labels(connector_id).set(len(indices))
            running = self.manager.running().get(connector_id)
            if not indices:
                await self.manager.stop(connector_id)
            elif running is None or before.get(connector_id) != indices:
                task = asyncio.ensure_future(self._open(connector_id))
                self._opening.add(task)
                task.add_done_callback(self._opening.discard)

    async def _open(self, connector_id: str) -> None:
        try:
            connector = await self.manager.get(connector_id)  # built with holding()'s binds
        except Exception:
            log.exception("leased connector not started", connector_id=connector_id)
            return
        if isinstance(connector, LeasedBinds):
            connector.bind_listener = self.poke
            # What is held now: a heartbeat may have changed it while the connector started.
            await connector.set_binds(self.holding(connector_id))
        self.poke()  # report the new bind states without waiting for the next heartbeat

    def _arm_fence(self, until: datetime) -> None:
        """Close every bind shortly before ``until`` unless a later heartbeat renews them."""
        if self._fence is not None:
            self._fence.cancel()
        margin = self.ctx.settings.connector_bind_heartbeat_secs / 2
        delay = max((until - utcnow()).total_seconds() - margin, 0.0)
        loop = asyncio.get_running_loop()
        self._fence = loop.call_later(delay, lambda: loop.create_task(self._lapse()))

    async def _lapse(self) -> None:
        if self.held:
            log.error("bind leases not renewed in time; closing binds", owner=self.owner)
            await self._apply(set())


def current(ctx: AppContext) -> BindLeases | None:
    """The running keeper of this process; None when this process owns every bind."""
    found = ctx.caches.get(CACHE_KEY)
    return found if isinstance(found, BindLeases) and found.running else None


async def ensure_started(ctx: AppContext, *, owner: str) -> BindLeases | None:
    """Start this process's keeper (PostgreSQL); on SQLite the one process owns every bind."""
    if ctx.db.is_sqlite:
        return None
    found = ctx.caches.get(CACHE_KEY)
    if not isinstance(found, BindLeases):
        found = ctx.caches[CACHE_KEY] = BindLeases(ctx, owner=owner)
        get_manager(ctx).before_close_all.append(found.stop)
    if not found.running:
        await found.start()
    return found


async def _first_of(*events: asyncio.Event) -> None:
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


def _unavailable(why: str) -> RetryableSendError:
    return RetryableSendError(errors.CONNECTOR_UNAVAILABLE.code, why)
