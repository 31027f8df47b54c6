"""The dispatcher on both backends: claims, priorities, scheduling, expiry, retries, failover,
leases and their takeover, and (PostgreSQL) two dispatchers claiming side by side.

The dispatcher claims every due message of the table, so this module runs on a database of
its own; each test has its own tenant, with simulator connectors and routes only for it, and
whatever a test leaves due is canceled after it.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from hongyan.accounts.service import CLI_ACTOR
from hongyan.api.context import AppContext
from hongyan.config import Settings
from hongyan.connectors import registry
from hongyan.connectors.base import OutboundSms, SendError, SendResult
from hongyan.connectors.simulator import SimulatorConnector
from hongyan.db import Database
from hongyan.messages import repository as messages_repo
from hongyan.models import Message, MessageEvent, MessagePart, utcnow
from hongyan.routing import service as routing
from hongyan.routing.manager import get_manager
from hongyan.routing.schemas import ConnectorCreate, RouteCreate
from hongyan.worker import dispatcher, leases, scheduler, tasks, wakeup
from hongyan.worker import repository as worker_repo
from hongyan.worker.jobs import Job
from hongyan.worker.run import Worker
from tests.conftest import BACKENDS, POSTGRES_URL, make_tenant
from tests.factories import make_messages
from tests.fresh_db import fresh_database

TEST_SETTINGS: dict[str, Any] = {
    "routing_refresh_secs": 0.0,  # see route changes of the other context at once
    "dispatch_retry_base_secs": 10.0,
    "dispatch_retry_max_secs": 600.0,
    "dispatch_max_attempts": 3,
}


def _context(settings: Settings, db: Database, **overrides: Any) -> AppContext:
    return AppContext.build(
        settings.model_copy(update={"database_url": db.url, **TEST_SETTINGS, **overrides}), db
    )


@pytest.fixture(scope="module", params=BACKENDS)
async def dctx(
    request: pytest.FixtureRequest, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[AppContext]:
    """A context on a database of this module's own."""
    async with fresh_database(request.param, tmp_path_factory.mktemp("dispatch")) as db:
        ctx = _context(settings, db)
        try:
            yield ctx
        finally:
            await get_manager(ctx).close_all()


@pytest.fixture(autouse=True)
async def _nothing_left_due(dctx: AppContext) -> AsyncIterator[None]:
    yield
    async with dctx.db.session() as session:
        await session.execute(
            update(Message)
            .where(Message.status.in_(("queued", "scheduled", "sending")))
            .values(status="canceled")
        )


def number(suffix: str | None = None) -> str:
    """A mainland mobile number; the simulator's default rules look at the last 4 digits."""
    tail = suffix or str(secrets.randbelow(9000) + 1000)  # never 0001..0006
    return f"+86138{secrets.randbelow(10**4):04d}{tail}"


async def simulator(
    ctx: AppContext, tenant_id: str, *, priority: int = 100, **settings: Any
) -> str:
    """A simulator connector and a route to it for this tenant only; its id."""
    # Receipts far off, so "sent" stays "sent" while a test looks at it.
    settings.setdefault("receipt_delay_ms", 600_000)
    async with ctx.db.session() as session:
        connector = await routing.create_connector(
            session,
            ctx=ctx,
            actor=CLI_ACTOR,
            req=ConnectorCreate(
                name=f"sim-{secrets.token_hex(4)}", kind="simulator", settings=settings
            ),
        )
        await routing.create_route(
            session,
            ctx=ctx,
            actor=CLI_ACTOR,
            req=RouteCreate(
                name=f"rte-{secrets.token_hex(4)}",
                connector_id=connector.id,
                priority=priority,
                tenant_ids=[tenant_id],
            ),
        )
    return connector.id


async def tenant_id(ctx: AppContext) -> str:
    pair = await make_tenant(ctx)
    assert pair.tenant_id
    return pair.tenant_id


async def fresh(ctx: AppContext, messages: Sequence[Message]) -> dict[str, Message]:
    async with ctx.db.session() as session:
        return {m.id: m for m in await messages_repo.get_many(session, [m.id for m in messages])}


async def history(ctx: AppContext, message_id: str) -> list[MessageEvent]:
    async with ctx.db.session() as session:
        return await messages_repo.events_of(session, message_id)


async def parts(ctx: AppContext, messages: Sequence[Message]) -> list[MessagePart]:
    async with ctx.db.session() as session:
        return await messages_repo.parts_of(session, [m.id for m in messages])


async def dispatch_all(ctx: AppContext, **kwargs: Any) -> int:
    """Dispatch batches until nothing due is left."""
    total = 0
    while claimed := await dispatcher.dispatch_once(ctx, **kwargs):
        total += claimed
    return total


def sim(ctx: AppContext, connector_id: str) -> SimulatorConnector:
    connector = get_manager(ctx).running()[connector_id]
    assert isinstance(connector, SimulatorConnector)
    return connector


async def wait_for_status(
    ctx: AppContext, messages: Sequence[Message], status: str, *, within: float = 15.0
) -> dict[str, Message]:
    """Poll until every message has ``status`` (receipts arrive in the background)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        now = await fresh(ctx, messages)
        if all(m.status == status for m in now.values()):
            return now
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError({m.id: m.status for m in now.values()})
        await asyncio.sleep(0.05)


# --- the lifecycle ----------------------------------------------------------------------------


async def test_default_simulator_sends_queued_to_sent_to_delivered(
    dctx: AppContext, settings: Settings, tmp_path: Path
) -> None:
    # A database of its own: the default simulator is created only where no connector exists.
    backend = "sqlite" if dctx.db.is_sqlite else "postgres"
    async with fresh_database(backend, tmp_path) as db:
        ctx = _context(settings, db)
        try:
            async with db.session() as session:
                await routing.ensure_default_simulator(session, ctx=ctx)
            tenant = await tenant_id(ctx)
            long_text = "【鸿雁】" + "您的订单已发货。" * 20
            messages = await make_messages(ctx, tenant, 3, msisdn=number())
            messages += await make_messages(ctx, tenant, 1, text=long_text, segments=3)
            assert await dispatch_all(ctx) == 4
            sent = await fresh(ctx, messages)  # receipts come after 1 s by default
            assert {m.status for m in sent.values()} <= {"sent", "delivered"}
            assert all(
                m.connector_id and m.sent_at and m.lease_owner is None for m in sent.values()
            )
            by_message: dict[str, list[MessagePart]] = {}
            for part in await parts(ctx, messages):
                by_message.setdefault(part.message_id, []).append(part)
            assert [len(by_message[m.id]) for m in messages] == [1, 1, 1, 3]
            assert [p.seq for p in by_message[messages[3].id]] == [0, 1, 2]
            await wait_for_status(ctx, messages, "delivered")
            events = [e.status for e in await history(ctx, messages[3].id)]
            assert events == ["queued", "sending", "sent", "delivered"]
        finally:
            await get_manager(ctx).close_all()


async def test_verification_is_claimed_before_notification_before_marketing(
    dctx: AppContext,
) -> None:
    tenant = await tenant_id(dctx)
    await simulator(dctx, tenant)
    now = utcnow()
    # Oldest first, so age alone would pick the marketing message.
    marketing = await make_messages(
        dctx, tenant, kind="marketing", due_at=now - timedelta(seconds=30)
    )
    notice = await make_messages(
        dctx, tenant, kind="notification", due_at=now - timedelta(seconds=20)
    )
    code = await make_messages(
        dctx, tenant, kind="verification", due_at=now - timedelta(seconds=10)
    )
    one_at_a_time = _context(dctx.settings, dctx.db, dispatch_batch_size=1)
    order = []
    for _ in range(3):
        assert await dispatcher.dispatch_once(one_at_a_time) == 1
        states = await fresh(dctx, [*marketing, *notice, *code])
        order.append(sorted(m.kind for m in states.values() if m.status != "queued"))
    assert order == [
        ["verification"],
        ["notification", "verification"],
        ["marketing", "notification", "verification"],
    ]
    await get_manager(one_at_a_time).close_all()


async def test_scheduled_messages_are_queued_at_their_time_then_sent(dctx: AppContext) -> None:
    tenant = await tenant_id(dctx)
    await simulator(dctx, tenant)
    now = utcnow()
    later = await make_messages(dctx, tenant, 2, status="scheduled", due_at=now + timedelta(60))
    assert await scheduler.release_scheduled(dctx, now=now) == 0
    assert {m.status for m in (await fresh(dctx, later)).values()} == {"scheduled"}
    assert await dispatch_all(dctx, now=now) == 0  # scheduled is not claimable

    assert await scheduler.release_scheduled(dctx, now=now + timedelta(61)) == 2
    assert {m.status for m in (await fresh(dctx, later)).values()} == {"queued"}
    event = (await history(dctx, later[0].id))[-1]
    assert (event.status, event.detail) == ("queued", "scheduled time reached")
    assert await dispatch_all(dctx, now=now + timedelta(61)) == 2
    assert {m.status for m in (await fresh(dctx, later)).values()} == {"sent"}


async def test_expired_messages_fail_without_being_sent(dctx: AppContext) -> None:
    tenant = await tenant_id(dctx)
    connector_id = await simulator(dctx, tenant)
    now = utcnow()
    stale = await make_messages(dctx, tenant, 2, validity_until=now - timedelta(seconds=1))
    good = await make_messages(dctx, tenant, 1, validity_until=now + timedelta(hours=1))
    assert await dispatch_all(dctx) == 3
    states = await fresh(dctx, [*stale, *good])
    assert [states[m.id].status for m in stale] == ["failed", "failed"]
    assert {states[m.id].error_code for m in stale} == {"EXPIRED"}
    assert states[good[0].id].status == "sent"
    assert sim(dctx, connector_id).accepted == 1  # only the good one reached the connector
    assert [p.message_id for p in await parts(dctx, [*stale, *good])] == [good[0].id]


async def test_permanent_error_fails_without_failover(dctx: AppContext) -> None:
    tenant = await tenant_id(dctx)
    first = await simulator(dctx, tenant, priority=10)
    second = await simulator(dctx, tenant, priority=20)
    refused = await make_messages(dctx, tenant, msisdn=number("0002"))  # rejected at submit
    assert await dispatch_all(dctx) == 1
    message = (await fresh(dctx, refused))[refused[0].id]
    assert (message.status, message.error_code) == ("failed", "REJECTED_BY_CARRIER")
    assert message.raw_code == "SIM_REJECTD"
    assert message.connector_id == first
    assert sim(dctx, first).refused == 1
    assert second not in get_manager(dctx).running() or sim(dctx, second).accepted == 0


async def test_no_route_fails_and_test_mode_goes_to_a_simulator(dctx: AppContext) -> None:
    # A simulator exists (another tenant's route), but nothing routes this tenant's messages.
    await simulator(dctx, await tenant_id(dctx))
    tenant = await tenant_id(dctx)
    normal = await make_messages(dctx, tenant)
    test_mode = await make_messages(dctx, tenant, test_mode=True, amount=5)
    assert await dispatch_all(dctx) == 2
    states = await fresh(dctx, [*normal, *test_mode])
    assert (states[normal[0].id].status, states[normal[0].id].error_code) == ("failed", "NO_ROUTE")
    sent = states[test_mode[0].id]
    assert sent.status == "sent"
    assert isinstance(get_manager(dctx).running()[sent.connector_id or ""], SimulatorConnector)


# --- retries and failover ---------------------------------------------------------------------


async def test_retryable_everywhere_is_requeued_with_backoff_then_fails(dctx: AppContext) -> None:
    tenant = await tenant_id(dctx)
    await simulator(dctx, tenant, priority=10)
    await simulator(dctx, tenant, priority=20)
    flaky = await make_messages(dctx, tenant, msisdn=number("0003"))  # retryable on both
    now = utcnow()
    dues = []
    for attempt in (1, 2):
        assert await dispatch_all(dctx, now=now) == 1
        message = (await fresh(dctx, flaky))[flaky[0].id]
        assert (message.status, message.attempts) == ("queued", attempt)
        assert message.error_code == "CONNECTOR_UNAVAILABLE"
        wait = (message.due_at - now).total_seconds()
        dues.append(wait)
        assert await dispatch_all(dctx, now=now) == 0  # not due again yet
        now = message.due_at + timedelta(seconds=1)
    # Exponential: about 10 s, then about 20 s (times a jitter of 0.8..1, in whole seconds).
    assert 7 <= dues[0] <= 10 and 15 <= dues[1] <= 20
    assert await dispatch_all(dctx, now=now) == 1
    message = (await fresh(dctx, flaky))[flaky[0].id]
    assert (message.status, message.attempts) == ("failed", 3)
    assert message.error_code == "CONNECTOR_UNAVAILABLE"
    events = await history(dctx, flaky[0].id)
    assert [e.status for e in events] == [
        "queued",
        "sending",
        "queued",
        "sending",
        "queued",
        "sending",
        "failed",
    ]
    assert "gave up after 3 attempts" in (events[-1].detail or "")


async def test_failover_to_the_second_connector_sends_exactly_once(dctx: AppContext) -> None:
    tenant = await tenant_id(dctx)
    msisdn = number("7777")
    rule = {"pattern": "7777", "outcome": "retryable_error"}
    first = await simulator(dctx, tenant, priority=10, rules=[rule])
    second = await simulator(dctx, tenant, priority=20)
    messages = await make_messages(dctx, tenant, msisdn=msisdn)
    assert await dispatch_all(dctx) == 1
    message = (await fresh(dctx, messages))[messages[0].id]
    assert (message.status, message.connector_id) == ("sent", second)
    assert (sim(dctx, first).refused, sim(dctx, first).accepted) == (1, 0)
    assert sim(dctx, second).accepted == 1
    recorded = await parts(dctx, messages)
    assert [(p.connector_id, p.seq) for p in recorded] == [(second, 0)]
    assert [e.status for e in await history(dctx, message.id)].count("sending") == 1


# --- leases -----------------------------------------------------------------------------------


async def test_expired_leases_resend_notifications_and_fail_marketing(dctx: AppContext) -> None:
    tenant = await tenant_id(dctx)
    await simulator(dctx, tenant)
    now = utcnow()
    dead = {
        "status": "sending",
        "lease_owner": "dead-host:1:abc",
        "attempts": 1,
        "lease_until": now - timedelta(seconds=1),
    }
    notices = await make_messages(dctx, tenant, 2, kind="notification", **dead)
    codes = await make_messages(dctx, tenant, 1, kind="verification", **dead)
    adverts = await make_messages(dctx, tenant, 2, kind="marketing", **dead)
    alive = await make_messages(
        dctx, tenant, 1, kind="marketing", **{**dead, "lease_until": now + timedelta(60)}
    )
    assert await leases.reclaim_leases(dctx, now=now) == 5
    states = await fresh(dctx, [*notices, *codes, *adverts, *alive])
    for m in [*notices, *codes]:
        assert states[m.id].status == "queued"
        event = (await history(dctx, m.id))[-1]
        assert "at-least-once resend after lease expiry" in (event.detail or "")
        assert "dead-host:1:abc" in (event.detail or "")
    for m in adverts:
        assert (states[m.id].status, states[m.id].error_code) == (
            "failed",
            "SUBMIT_OUTCOME_UNKNOWN",
        )
    assert states[alive[0].id].status == "sending"  # its lease still runs
    assert await dispatch_all(dctx) == 3
    states = await fresh(dctx, [*notices, *codes])
    assert {m.status for m in states.values()} == {"sent"}


async def test_a_live_worker_renews_its_lease_during_a_slow_send(
    dctx: AppContext,
) -> None:
    tenant = await tenant_id(dctx)
    await simulator(dctx, tenant, latency_ms=1200)
    short = _context(dctx.settings, dctx.db, dispatch_lease_secs=0.6)
    messages = await make_messages(short, tenant, 2, kind="marketing")

    async def reclaim_midway() -> int:
        await asyncio.sleep(0.9)  # past the first lease, while the batch is in flight
        return await leases.reclaim_leases(short)

    claimed, reclaimed = await asyncio.gather(dispatcher.dispatch_once(short), reclaim_midway())
    assert (claimed, reclaimed) == (2, 0)
    assert {m.status for m in (await fresh(dctx, messages)).values()} == {"sent"}
    await get_manager(short).close_all()


async def test_a_worker_that_lost_its_claim_records_nothing(dctx: AppContext) -> None:
    tenant = await tenant_id(dctx)
    connector_id = await simulator(dctx, tenant)
    messages = await make_messages(dctx, tenant, 1, kind="notification")
    owner = dispatcher.owner_of(dctx)
    now = utcnow()
    claimed = await dispatcher._claim(dctx, now=now, owner=owner)
    assert [m.id for m in claimed] == [messages[0].id]
    # The lease runs out before the outcome is recorded; another worker takes over...
    assert await leases.reclaim_leases(dctx, now=now + timedelta(hours=1)) == 1
    # ...so this worker's late "sent" must not land.
    verdicts = {
        messages[0].id: dispatcher.Verdict("sent", connector_id=connector_id, upstream_ids=("x",))
    }
    await dispatcher._record(dctx, claimed, verdicts, owner=owner, now=now)
    message = (await fresh(dctx, messages))[messages[0].id]
    assert message.status == "queued"
    assert await parts(dctx, messages) == []


# --- gauges -----------------------------------------------------------------------------------


async def test_queue_state_counts_due_in_flight_and_scheduled(dctx: AppContext) -> None:
    tenant = await tenant_id(dctx)
    now = utcnow()
    await make_messages(dctx, tenant, 3, due_at=now - timedelta(seconds=30))
    await make_messages(dctx, tenant, 2, status="scheduled", due_at=now + timedelta(hours=1))
    await make_messages(
        dctx, tenant, 1, status="sending", lease_owner="x", lease_until=now + timedelta(60)
    )
    async with dctx.db.session() as session:
        state = await worker_repo.queue_state(session, now=now)
    assert (state.due, state.sending, state.scheduled) == (3, 1, 2)
    assert state.oldest_due_at is not None
    assert 29 <= (now - state.oldest_due_at).total_seconds() <= 31
    await tasks.refresh_queue_gauges(dctx)


# --- PostgreSQL: two dispatchers side by side --------------------------------------------------


@pytest.mark.skipif(not POSTGRES_URL, reason="HONGYAN_TEST_POSTGRES_URL not set")
async def test_two_dispatchers_never_claim_the_same_message(dctx: AppContext) -> None:
    if dctx.db.is_sqlite:
        pytest.skip("concurrent claimers need PostgreSQL (SQLite is one process)")
    tenant = await tenant_id(dctx)
    await simulator(dctx, tenant, latency_ms=20)
    one = _context(dctx.settings, dctx.db, dispatch_batch_size=25)
    # A second process in all but name: its own engine, pool, caches and lease owner.
    other_db = Database(dctx.db.url)
    two = _context(dctx.settings, other_db, dispatch_batch_size=25)
    messages = await make_messages(dctx, tenant, 400)
    try:
        claimed = await asyncio.gather(dispatch_all(one), dispatch_all(two))
    finally:
        for ctx in (one, two):
            await get_manager(ctx).close_all()
        await other_db.dispose()
    assert sum(claimed) == 400 and min(claimed) > 0
    async with dctx.db.session() as session:
        rows = (
            await session.execute(
                select(MessageEvent.message_id, MessageEvent.detail).where(
                    MessageEvent.status == "sending",
                    MessageEvent.message_id.in_([m.id for m in messages]),
                )
            )
        ).all()
    assert len(rows) == 400 and len({r.message_id for r in rows}) == 400
    owners = {r.detail.split(" by ", 1)[1] for r in rows if r.detail}
    assert owners == {dispatcher.owner_of(one), dispatcher.owner_of(two)}
    states = await fresh(dctx, messages)  # closing the simulators handed their receipts over
    assert {m.status for m in states.values()} <= {"sent", "delivered"}
    assert len(await parts(dctx, messages)) == 400


async def test_the_dispatch_job_drains_a_backlog_in_one_run(dctx: AppContext) -> None:
    tenant = await tenant_id(dctx)
    await simulator(dctx, tenant)
    job_ctx = _context(dctx.settings, dctx.db, dispatch_batch_size=50, dispatch_time_slice_secs=60)
    messages = await make_messages(dctx, tenant, 420)
    try:
        # Full batches keep the run going (two loops side by side on PostgreSQL).
        assert await dispatcher.dispatch(job_ctx) == 420
    finally:
        await get_manager(job_ctx).close_all()
    states = await fresh(dctx, messages)
    assert {m.status for m in states.values()} <= {"sent", "delivered"}
    async with dctx.db.session() as session:
        claims = (
            await session.execute(
                select(func.count(), func.count(func.distinct(MessageEvent.message_id))).where(
                    MessageEvent.status == "sending",
                    MessageEvent.message_id.in_([m.id for m in messages]),
                )
            )
        ).one()
    assert tuple(claims) == (420, 420)


# --- waking up --------------------------------------------------------------------------------


async def test_a_woken_worker_runs_its_wake_jobs_at_once(dctx: AppContext) -> None:
    runs: list[str] = []

    async def job(_: AppContext) -> int:
        runs.append("ran")
        return 0

    worker = Worker(dctx, jobs=[Job("hourly", 3600.0, job, wake=True)])
    task = asyncio.ensure_future(worker.run())
    # Every job runs once at start; on PostgreSQL the worker's LISTEN connection wakes it once
    # more when it is in place (for anything announced before).
    settled = 1 if dctx.db.is_sqlite else 2
    try:
        await _eventually(lambda: len(runs) == settled)
        if dctx.db.is_sqlite:
            worker.wake.set()  # what accepting a message does in this process
        else:
            async with dctx.db.session() as session:  # ...and in another process
                await wakeup.notify_due(session)
        await _eventually(lambda: len(runs) == settled + 1)  # not an hour later
    finally:
        worker.stop()
        await task


@pytest.mark.skipif(not POSTGRES_URL, reason="HONGYAN_TEST_POSTGRES_URL not set")
async def test_notify_after_commit_wakes_a_listening_worker(dctx: AppContext) -> None:
    if dctx.db.is_sqlite:
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's")
    wake = asyncio.Event()
    listener = wakeup.DueListener(dctx.db.url, wake)
    listener.start()
    try:
        await asyncio.wait_for(listener.listening.wait(), 10)
        wake.clear()  # it wakes once on connecting, for what it may have missed
        async with dctx.db.session() as session:
            await wakeup.notify_due(session)
            await asyncio.sleep(0.2)
            assert not wake.is_set()  # nothing before the commit
        await asyncio.wait_for(wake.wait(), 10)
    finally:
        await listener.close()


async def _eventually(check: Any, *, within: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not check():
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.01)


async def test_a_retry_that_would_come_after_the_validity_fails_expired_now(
    dctx: AppContext,
) -> None:
    tenant = await tenant_id(dctx)
    await simulator(dctx, tenant)
    soon = utcnow() + timedelta(seconds=5)  # before the first retry (8..10 s)
    messages = await make_messages(dctx, tenant, msisdn=number("0003"), validity_until=soon)
    assert await dispatch_all(dctx) == 1
    message = (await fresh(dctx, messages))[messages[0].id]
    assert (message.status, message.error_code) == ("failed", "EXPIRED")
    assert "validity ends before a retry" in (message.error_detail or "")


class ExplodingConnector(SimulatorConnector):
    """A connector that breaks mid-send with an error that is neither retryable nor permanent:
    whether anything left is unknown."""

    kind = "exploding"

    async def send(self, batch: Sequence[OutboundSms]) -> list[SendResult | SendError]:
        raise RuntimeError("the link dropped after writing part of the batch")


async def test_a_connector_breaking_mid_send_gets_the_crash_policy(
    dctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(registry.REGISTRY, "exploding", ExplodingConnector)
    tenant = await tenant_id(dctx)
    async with dctx.db.session() as session:
        connector = await routing.create_connector(
            session,
            ctx=dctx,
            actor=CLI_ACTOR,
            req=ConnectorCreate(name=f"boom-{secrets.token_hex(4)}", kind="exploding"),
        )
        await routing.create_route(
            session,
            ctx=dctx,
            actor=CLI_ACTOR,
            req=RouteCreate(
                name=f"rte-{secrets.token_hex(4)}", connector_id=connector.id, tenant_ids=[tenant]
            ),
        )
    notice = await make_messages(dctx, tenant, kind="notification")
    advert = await make_messages(dctx, tenant, kind="marketing")
    try:
        assert await dispatch_all(dctx) == 2
    finally:
        await get_manager(dctx).close_all()
    states = await fresh(dctx, [*notice, *advert])
    resent = states[notice[0].id]
    assert (resent.status, resent.error_code) == ("queued", "SUBMIT_OUTCOME_UNKNOWN")
    assert "at-least-once resend" in ((await history(dctx, resent.id))[-1].detail or "")
    failed = states[advert[0].id]
    assert (failed.status, failed.error_code) == ("failed", "SUBMIT_OUTCOME_UNKNOWN")
