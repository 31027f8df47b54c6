"""Faults between the SMPP connector and a real SMSC (smpp34's server), through the dispatcher.

The SMSC drops the link mid-window, sends garbage, or refuses to bind; each case checks
what DESIGN.md promises: no message lost, none sent twice beyond the stated policy
(verification and notification at least once after an unknown outcome, marketing at most
once), the connector binds again, and a connector that cannot bind lets routing fail over.
Throttling and silence are covered at the connector's level (tests/connectors).
"""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from hongyan.accounts.service import CLI_ACTOR
from hongyan.api.context import AppContext
from hongyan.config import Settings
from hongyan.messages import repository as messages_repo
from hongyan.models import Message, utcnow
from hongyan.routing import service as routing
from hongyan.routing.health import get_health
from hongyan.routing.manager import get_manager
from hongyan.routing.schemas import ConnectorUpdate
from hongyan.worker import dispatcher
from tests.conftest import BACKENDS, make_tenant
from tests.factories import make_messages
from tests.fresh_db import fresh_database
from tests.integration.routing_kit import add_tenant_connector
from tests.smpp.peers import Proxy, Smsc, eventually

smpp34 = pytest.importorskip("smpp34")
from tests.connectors.test_smpp_connector import SmscPeer  # noqa: E402

LATER = timedelta(minutes=5)  # claim requeued messages now instead of waiting out the backoff


@pytest.fixture(scope="module", params=BACKENDS)
async def fctx(
    request: pytest.FixtureRequest, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[AppContext]:
    async with fresh_database(request.param, tmp_path_factory.mktemp("smpp-faults")) as db:
        # Breakers that stay closed: these tests count sends, not the cool-off after faults.
        update = {"routing_refresh_secs": 0.0, "routing_breaker_failures": 1000}
        update |= {"routing_breaker_min_attempts": 1000, "database_url": db.url}
        ctx = AppContext.build(settings.model_copy(update=update), db)
        try:
            yield ctx
        finally:
            await get_manager(ctx).close_all()


@pytest.fixture(autouse=True)
async def _nothing_left(fctx: AppContext) -> AsyncIterator[None]:
    """After each test: nothing due, and its connectors disabled (their peers are gone)."""
    yield
    async with fctx.db.session() as session:
        await session.execute(
            update(Message)
            .where(Message.status.in_(("queued", "scheduled", "sending")))
            .values(status="canceled")
        )
        for row in await routing.list_connectors(session, limit=100, before_id=None):
            if row.enabled:
                off = ConnectorUpdate(enabled=False)
                await routing.update_connector(
                    session, ctx=fctx, actor=CLI_ACTOR, ref=row.id, req=off
                )
    await get_manager(fctx).close_all()


def smpp(port: int, **extra: Any) -> dict[str, Any]:
    base = {"host": "127.0.0.1", "port": port, "system_id": "hongyan", "password": "pw"}
    return base | {"reconnect_min_secs": 0.05, "connect_timeout_secs": 2} | extra


async def kinds_to_numbers(ctx: AppContext, tenant: str, per_kind: int) -> dict[str, Message]:
    """Messages of every kind to distinct numbers; number (as the SMSC sees it) -> message."""
    found: dict[str, Message] = {}
    for n, kind in enumerate(("verification", "notification", "marketing") * per_kind):
        msisdn = f"+861390001{secrets.randbelow(900) + 100:03d}{n:02d}"
        [m] = await make_messages(ctx, tenant, 1, kind=kind, msisdn=msisdn)
        found[msisdn.removeprefix("+")] = m
    return found


async def statuses(ctx: AppContext, messages: list[Message]) -> dict[str, Message]:
    async with ctx.db.session() as session:
        return {m.id: m for m in await messages_repo.get_many(session, [m.id for m in messages])}


async def tenant_of(ctx: AppContext) -> str:
    found = (await make_tenant(ctx)).tenant_id
    assert found
    return found


class InjectingProxy(Proxy):
    """A relay that can also write bytes of its own to the ESME, as a broken SMSC would."""

    def inject(self, data: bytes) -> None:
        self._writers[0].write(data)  # each connection adds [towards the ESME, upstream]


async def test_link_dropped_mid_window_resends_only_at_least_once_kinds(fctx: AppContext) -> None:
    tenant = await tenant_of(fctx)
    async with SmscPeer(lambda e, n: None) as peer:  # holds every submit unanswered
        proxy = await InjectingProxy(peer.port).start()
        await add_tenant_connector(fctx, tenant, "smpp", smpp(proxy.port), priority=10)
        by_number = await kinds_to_numbers(fctx, tenant, 2)
        sending = asyncio.ensure_future(dispatcher.dispatch_once(fctx))
        await eventually(lambda: len(peer.submits) == 6)
        proxy.cut()  # the window (6 submits) is in flight: their outcome is unknown
        assert await asyncio.wait_for(sending, 10) == 6
        after = await statuses(fctx, list(by_number.values()))
        assert Counter((m.kind, m.status) for m in after.values()) == {
            ("verification", "queued"): 2,
            ("notification", "queued"): 2,
            ("marketing", "failed"): 2,
        }
        assert {m.error_code for m in after.values() if m.kind == "marketing"} == {
            "SUBMIT_OUTCOME_UNKNOWN"
        }

        peer.policy = lambda e, n: f"ok{n}"  # the SMSC answers again
        await eventually(lambda: len(peer.esmes) == 2)  # the connector bound again
        assert await dispatcher.dispatch_once(fctx, now=utcnow() + LATER) == 4
        final = await statuses(fctx, list(by_number.values()))
        counts = Counter(e.destination_addr for e in peer.submits)
        for number, m in by_number.items():
            expected = 1 if m.kind == "marketing" else 2  # resent once, never more
            assert counts[number] == expected, (m.kind, counts[number])
            assert final[m.id].status == ("failed" if m.kind == "marketing" else "sent")
        await proxy.stop()


async def test_garbage_from_the_smsc_is_nacked_and_broken_framing_rebinds(
    fctx: AppContext,
) -> None:
    tenant = await tenant_of(fctx)
    async with SmscPeer() as peer:
        proxy = await InjectingProxy(peer.port).start()
        x = await add_tenant_connector(fctx, tenant, "smpp", smpp(proxy.port), priority=10)
        first = await make_messages(fctx, tenant, 2)
        assert await dispatcher.dispatch_once(fctx) == 2
        live = get_manager(fctx).running()[x]
        # A PDU that frames but means nothing (command_id 0x999): answered, link kept.
        proxy.inject(bytes.fromhex("00000010" + "00000999" + "00000000" + "0000004d"))
        second = await make_messages(fctx, tenant, 2)
        assert await dispatcher.dispatch_once(fctx) == 2
        assert getattr(live, "binds", None) == 1
        # A command_length no PDU has: framing is lost, the link is dropped and re-bound.
        proxy.inject(bytes.fromhex("00000005" + "00000004" + "00000000" + "00000001"))
        await eventually(lambda: getattr(live, "binds", 0) == 2 and len(peer.esmes) == 2)
        third = await make_messages(fctx, tenant, 2)
        assert await dispatcher.dispatch_once(fctx) == 2
        everything = first + second + third
        assert {m.status for m in (await statuses(fctx, everything)).values()} == {"sent"}
        assert len(peer.submits) == 6  # each once
        await proxy.stop()


async def test_a_connector_that_cannot_bind_is_unhealthy_and_routing_fails_over(
    fctx: AppContext,
) -> None:
    tenant = await tenant_of(fctx)
    smsc = await Smsc().start()  # refuses our password: no bind, ever
    try:
        x = await add_tenant_connector(fctx, tenant, "smpp", smpp(smsc.port), priority=10)
        backup = await add_tenant_connector(
            fctx, tenant, "simulator", {"receipt_delay_ms": 600_000}, priority=20
        )
        messages = await make_messages(fctx, tenant, 3)
        assert await dispatcher.dispatch_once(fctx) == 3
        done = await statuses(fctx, messages)
        assert {(m.status, m.connector_id) for m in done.values()} == {("sent", backup)}
        health = get_health(fctx.caches, fctx.settings).snapshot(x)
        assert health is not None and health.failures >= 3
        assert any(type(p).__name__ == "BindTransceiver" for p in smsc.received)
    finally:
        await smsc.stop()
