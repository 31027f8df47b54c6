"""Bind leases of SMPP connectors: two workers (two contexts, one PostgreSQL database) against a
real SMSC (smpp34's server), and the one-process case on SQLite.

Each context is a worker process as far as Hongyan can tell: its own owner name, connector
manager, bind keeper and dispatcher. The kill -9 case with real processes is
tests/e2e/test_bind_takeover.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from hongyan.accounts.service import CLI_ACTOR
from hongyan.api.context import AppContext
from hongyan.config import Settings
from hongyan.db import Database
from hongyan.messages import repository as messages_repo
from hongyan.models import ConnectorBindLease, Message, utcnow
from hongyan.routing import binds
from hongyan.routing import service as routing
from hongyan.routing.binds import Seen
from hongyan.routing.manager import get_manager
from hongyan.routing.schemas import ConnectorUpdate
from hongyan.worker import dispatcher
from tests.conftest import POSTGRES_URL, make_tenant
from tests.factories import make_messages
from tests.fresh_db import fresh_database
from tests.integration.routing_kit import add_tenant_connector
from tests.smpp.peers import PASSWORD, Smsc, eventually

smpp34 = pytest.importorskip("smpp34")
from tests.connectors.test_smpp_connector import SmscPeer  # noqa: E402

needs_pg = pytest.mark.skipif(not POSTGRES_URL, reason="HONGYAN_TEST_POSTGRES_URL not set")

FAST: dict[str, Any] = {
    "routing_refresh_secs": 0.0,
    "connector_bind_lease_secs": 2.0,
    "connector_bind_heartbeat_secs": 0.2,
    "dispatch_retry_base_secs": 30.0,
}


def worker(settings: Settings, db: Database) -> AppContext:
    """A context that behaves as one worker process."""
    return AppContext.build(settings.model_copy(update={"database_url": db.url, **FAST}), db)


@pytest.fixture
async def pg(settings: Settings, tmp_path: Path) -> AsyncIterator[Callable[[], AppContext]]:
    """Workers on a PostgreSQL database of this test's own; all closed afterwards."""
    if not POSTGRES_URL:
        pytest.skip("HONGYAN_TEST_POSTGRES_URL not set")
    made: list[AppContext] = []
    async with fresh_database("postgres", tmp_path) as db:

        def make() -> AppContext:
            made.append(worker(settings, db))
            return made[-1]

        try:
            yield make
        finally:
            for ctx in made:
                await get_manager(ctx).close_all()


async def smpp_connector(
    ctx: AppContext, tenant_id: str, port: int, *, priority: int = 10, **extra: Any
) -> str:
    """An SMPP connector to 127.0.0.1:port and a route to it for the tenant; its id."""
    settings = {"host": "127.0.0.1", "port": port, "system_id": "hongyan", "password": "pw"}
    settings |= {"reconnect_min_secs": 0.05, "connect_timeout_secs": 2} | extra
    return await add_tenant_connector(ctx, tenant_id, "smpp", settings, priority=priority)


async def leases(ctx: AppContext) -> list[ConnectorBindLease]:
    async with ctx.db.session() as session:
        return list((await session.execute(select(ConnectorBindLease))).scalars())


async def rows(ctx: AppContext, ids: list[str]) -> dict[str, Message]:
    async with ctx.db.session() as session:
        return {m.id: m for m in await messages_repo.get_many(session, ids)}


async def until_leases(ctx: AppContext, check: Callable[[list[ConnectorBindLease]], bool]) -> None:
    for _ in range(400):
        if check(await leases(ctx)):
            return
        await asyncio.sleep(0.025)
    raise AssertionError(await leases(ctx))


def keeper(ctx: AppContext) -> binds.BindLeases:
    found = binds.current(ctx)
    assert found is not None
    return found


# --- two workers, one bind ----------------------------------------------------------------------


@needs_pg
async def test_one_worker_binds_and_the_other_hands_its_messages_over(
    pg: Callable[[], AppContext],
) -> None:
    a, b = pg(), pg()
    tenant = (await make_tenant(a)).tenant_id
    assert tenant
    async with SmscPeer() as peer:
        x = await smpp_connector(a, tenant, peer.port)
        assert await dispatcher.dispatch_once(a) == 0  # starts A's keeper: it takes the bind
        await until_leases(a, lambda ls: len(ls) == 1 and ls[0].bound)
        assert await dispatcher.dispatch_once(b) == 0
        assert keeper(a).held == {x: frozenset({0})} and keeper(b).held == {}

        messages = await make_messages(a, tenant, 6, msisdn="+8613800138000")
        ids = [m.id for m in messages]
        assert await dispatcher.dispatch_once(b) == 6  # B routes them to X: not its bind
        handed = await rows(b, ids)
        assert {(m.status, m.pinned_connector_id, m.attempts) for m in handed.values()} == {
            ("queued", x, 0)
        }
        events = await _events(b, ids[0])
        assert "handed over" in (events[-1].detail or "")
        assert await dispatcher.dispatch_once(b) == 0  # pinned to A's connector: not B's

        assert await dispatcher.dispatch_once(a) == 6
        sent = await rows(a, ids)
        assert {(m.status, m.connector_id, m.attempts) for m in sent.values()} == {("sent", x, 1)}
        assert len(peer.submits) == 6 and len(peer.esmes) == 1  # B never bound


@needs_pg
async def test_a_stopped_owner_gives_its_bind_back_and_the_other_takes_it(
    pg: Callable[[], AppContext],
) -> None:
    a, b = pg(), pg()
    tenant = (await make_tenant(a)).tenant_id
    assert tenant
    async with SmscPeer() as peer:
        x = await smpp_connector(a, tenant, peer.port)
        await dispatcher.dispatch_once(a)
        await until_leases(a, lambda ls: len(ls) == 1 and ls[0].bound)
        await dispatcher.dispatch_once(b)
        await get_manager(a).close_all()  # a clean shutdown: unbind, lease given back
        await eventually(lambda: peer.unbound == 1)
        await until_leases(b, lambda ls: len(ls) == 1 and ls[0].bound)
        assert keeper(b).held == {x: frozenset({0})} and len(peer.esmes) == 2

        messages = await make_messages(b, tenant, 3)
        assert await dispatcher.dispatch_once(b) == 3
        assert {m.status for m in (await rows(b, [m.id for m in messages])).values()} == {"sent"}


@needs_pg
async def test_a_silent_owner_loses_its_bind_after_the_lease(
    pg: Callable[[], AppContext],
) -> None:
    a, b = pg(), pg()
    tenant = (await make_tenant(a)).tenant_id
    assert tenant
    async with SmscPeer() as peer:
        x = await smpp_connector(a, tenant, peer.port)
        await dispatcher.dispatch_once(a)
        await until_leases(a, lambda ls: len(ls) == 1 and ls[0].bound)
        await dispatcher.dispatch_once(b)
        # A stops beating without giving anything back, as a frozen process would (its
        # link is closed too, or the SMSC would refuse the second bind in real life).
        found = keeper(a)
        found._stop.set()
        assert found._task is not None
        await found._task
        await get_manager(a).stop(x)
        owner_a = found.owner
        await until_leases(b, lambda ls: len(ls) == 1 and ls[0].owner != owner_a)
        assert (await leases(b))[0].lease_until > utcnow()
        await until_leases(b, lambda ls: ls[0].bound)
        assert keeper(b).held == {x: frozenset({0})}

        # Messages A had handed over while it held the bind are B's now.
        messages = await make_messages(b, tenant, 2, pinned_connector_id=x)
        assert await dispatcher.dispatch_once(b) == 2
        assert {m.status for m in (await rows(b, [m.id for m in messages])).values()} == {"sent"}
        assert len(peer.esmes) == 2


@needs_pg
async def test_binds_are_shared_out_one_lease_each(pg: Callable[[], AppContext]) -> None:
    a, b = pg(), pg()
    tenant = (await make_tenant(a)).tenant_id
    assert tenant
    async with SmscPeer() as peer:
        x = await smpp_connector(a, tenant, peer.port, binds=3)
        await dispatcher.dispatch_once(a)  # alone, A takes every bind
        await until_leases(a, lambda ls: len(ls) == 3 and all(lease.bound for lease in ls))
        assert keeper(a).held == {x: frozenset({0, 1, 2})} and len(peer.esmes) == 3
        await dispatcher.dispatch_once(b)
        assert keeper(b).held == {}
        async with a.db.session() as session:  # shrink to 2: A unbinds the third
            await routing.update_connector(
                session,
                ctx=a,
                actor=CLI_ACTOR,
                ref=x,
                req=ConnectorUpdate(settings={"binds": 2}),
            )
        await until_leases(a, lambda ls: sorted(lease.bind_index for lease in ls) == [0, 1])
        await eventually(lambda: keeper(a).held == {x: frozenset({0, 1})})


@needs_pg
async def test_an_owner_that_cannot_bind_makes_everyone_fail_over(
    pg: Callable[[], AppContext],
) -> None:
    a, b = pg(), pg()
    tenant = (await make_tenant(a)).tenant_id
    assert tenant
    smsc = await Smsc().start()  # wants PASSWORD: ours is wrong, every bind is refused
    assert PASSWORD != "pw"
    try:
        x = await smpp_connector(a, tenant, smsc.port, priority=10)
        backup = await add_tenant_connector(
            a, tenant, "simulator", {"receipt_delay_ms": 600_000}, priority=20
        )
        await dispatcher.dispatch_once(a)
        await until_leases(a, lambda ls: len(ls) == 1)
        await dispatcher.dispatch_once(b)
        assert keeper(a).held == {x: frozenset({0})}
        # Held for a lease time and still not bound: past the benefit of the doubt.
        lease = timedelta(seconds=FAST["connector_bind_lease_secs"])
        await until_leases(a, lambda ls: ls[0].acquired_at < utcnow() - lease)
        await keeper(b).beat()
        assert not (await leases(b))[0].bound

        for ctx in (b, a):  # the non-owner and the owner both use the next route
            messages = await make_messages(ctx, tenant, 2)
            assert await dispatcher.dispatch_once(ctx) == 2
            done = await rows(ctx, [m.id for m in messages])
            assert {(m.status, m.connector_id, m.pinned_connector_id) for m in done.values()} == {
                ("sent", backup, "")
            }
        assert any(getattr(p, "password", None) == "pw" for p in smsc.received)
    finally:
        await smsc.stop()


@needs_pg
async def test_messages_pinned_to_a_disabled_connector_are_freed(
    pg: Callable[[], AppContext],
) -> None:
    a = pg()
    tenant = (await make_tenant(a)).tenant_id
    assert tenant
    async with SmscPeer() as peer:
        x = await smpp_connector(a, tenant, peer.port, priority=10)
        backup = await add_tenant_connector(
            a, tenant, "simulator", {"receipt_delay_ms": 600_000}, priority=20
        )
        await dispatcher.dispatch_once(a)
        await until_leases(a, lambda ls: len(ls) == 1 and ls[0].bound)
        async with a.db.session() as session:
            await routing.update_connector(
                session, ctx=a, actor=CLI_ACTOR, ref=x, req=ConnectorUpdate(enabled=False)
            )
        messages = await make_messages(a, tenant, 2, pinned_connector_id=x)
        ids = [m.id for m in messages]
        await keeper(a).beat()
        assert {m.pinned_connector_id for m in (await rows(a, ids)).values()} == {""}
        assert await dispatcher.dispatch_once(a) == 2
        assert {m.connector_id for m in (await rows(a, ids)).values()} == {backup}
        await eventually(lambda: peer.unbound == 1)


# --- one process ----------------------------------------------------------------------------------


async def test_one_process_on_sqlite_opens_every_bind(settings: Settings, tmp_path: Path) -> None:
    async with fresh_database("sqlite", tmp_path) as db, SmscPeer() as peer:
        ctx = worker(settings, db)
        try:
            tenant = (await make_tenant(ctx)).tenant_id
            assert tenant
            x = await smpp_connector(ctx, tenant, peer.port, binds=2)
            messages = await make_messages(ctx, tenant, 4)
            assert await dispatcher.dispatch_once(ctx) == 4
            assert binds.current(ctx) is None and await leases(ctx) == []
            assert len(peer.esmes) == 2 and len(peer.submits) == 4
            assert {
                m.connector_id for m in (await rows(ctx, [m.id for m in messages])).values()
            } == {x}
        finally:
            await get_manager(ctx).close_all()


# --- decisions ------------------------------------------------------------------------------------


async def test_route_decisions_follow_what_the_last_heartbeat_saw(
    settings: Settings, tmp_path: Path
) -> None:
    async with fresh_database("sqlite", tmp_path) as db:
        ctx = worker(settings, db)
        tenant = (await make_tenant(ctx)).tenant_id
        assert tenant
        x = await smpp_connector(ctx, tenant, 1)
        found = binds.BindLeases(ctx, owner="me")
        await get_manager(ctx).refresh()
        now = utcnow()
        long_ago = now - timedelta(seconds=60)
        cases = [
            (Seen(frozenset(), 1, 1, 0, None), binds.HANDOFF),  # another worker, bound
            (Seen(frozenset(), 1, 0, 1, None), binds.HANDOFF),  # another, binding just now
            (Seen(frozenset(), 1, 0, 0, None), "CONNECTOR_UNAVAILABLE"),  # another, unbound
            (Seen(frozenset(), 0, 0, 0, now), binds.HANDOFF),  # free a moment: a takeover
            (Seen(frozenset(), 0, 0, 0, long_ago), "CONNECTOR_UNAVAILABLE"),  # free for long
        ]
        for seen, expected in cases:
            found.view = {x: seen}
            decision = await found.route(x)
            assert getattr(decision, "code", decision) == expected, seen
        found.held = {x: frozenset({0})}
        assert await found.route(x) == binds.USE
        assert await found.route("con_not_leased") == binds.USE


async def _events(ctx: AppContext, message_id: str) -> list[Any]:
    async with ctx.db.session() as session:
        return await messages_repo.events_of(session, message_id)
