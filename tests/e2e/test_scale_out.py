"""Scale-out, end to end: 2 ``hongyan serve`` + 3 ``hongyan worker`` on PostgreSQL and Redis.

A database of its own is migrated with ``hongyan db upgrade``; three tenants are made ready to
send (balances, prices, limits, a webhook endpoint each); two simulator connectors share the
catch-all traffic (two routes of one priority), and one SMPP connector, bound to an smpp34
SMSC in this test, takes the numbers starting with +86186. A few thousand messages are sent
through both APIs at once, singles and batches of every kind, with bursts to one number per
kind; one worker is killed with SIGKILL while it holds messages it has handed to a carrier
but not recorded. Then, at the far ends (the simulators' log, the SMSC, the webhook
receiver) and in the database:

- every accepted message reached a final status, and no message appeared that was not accepted;
- submissions per message follow the stated policy: marketing at most once; verification and
  notification at least once, and more than once only if the killed worker held them;
- the frequency limits held across both API processes (exactly the limit accepted);
- each tenant's ledger is balanced (balance == sum of entries) and every hold settled once;
- every final status reached the tenant's webhook at least once, correctly signed.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from hongyan.accounts.service import CLI_ACTOR
from hongyan.api.app import create_app
from hongyan.api.context import AppContext
from hongyan.config import Settings
from hongyan.db import Database
from hongyan.models import Message
from hongyan.routing import service as routing
from hongyan.routing.schemas import ConnectorCreate, RouteCreate
from tests.conftest import POSTGRES_URL, REDIS_URL, TEST_SECRET_KEY
from tests.e2e.scale_checks import (
    check_every_message_final,
    check_ledger,
    check_limits,
    check_submissions,
    check_webhooks,
    history_of,
    ledger_of,
    messages_of,
    missing_webhooks,
    unfinished_count,
)
from tests.e2e.scale_peers import CountingSmsc, HookReceiver
from tests.e2e.scale_procs import Fleet, Process, metric, scratch_database, submitted
from tests.e2e.scale_traffic import LIMITS, SMPP_PREFIX, Traffic
from tests.senders import Sender, make_sender

TENANTS = 3
BALANCE = 1_000_000  # fen; far more than the traffic costs
FINAL_EVENTS = ["message.delivered", "message.undelivered", "message.expired", "message.failed"]
SEND_WITHIN_SECS = 120.0  # the traffic, on a busy machine (8-57 s seen)
SETTLE_WITHIN_SECS = 75.0  # after the traffic: leases of the killed worker run out well before

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (POSTGRES_URL and REDIS_URL),
        reason="HONGYAN_TEST_POSTGRES_URL and HONGYAN_TEST_REDIS_URL are both needed",
    ),
]


def fleet_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    """What every process gets: the same database, Redis and secret key; short leases."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HONGYAN_")}
    assert REDIS_URL
    env.update(
        HONGYAN_DATABASE_URL=database_url,
        HONGYAN_REDIS_URL=REDIS_URL,
        HONGYAN_SECRET_KEY=TEST_SECRET_KEY,
        HONGYAN_DATA_DIR=str(tmp_path / "data"),
        HONGYAN_LOG_FORMAT="console",
        # Counters of this run only, whatever else shares the Redis database.
        HONGYAN_LIMITS_KEY_PREFIX=f"hy:scale:{secrets.token_hex(4)}:",
        # Small batches spread the work over the workers; a short lease makes the killed
        # worker's messages come back within seconds, not the default 30.
        HONGYAN_DISPATCH_BATCH_SIZE="50",
        HONGYAN_DISPATCH_LEASE_SECS="3",
        # The webhook lease is timeout x rounds + 30 s: small batches keep it near 36 s.
        HONGYAN_WEBHOOK_TIMEOUT_SECS="2",
        HONGYAN_WEBHOOK_BATCH_SIZE="8",
        # SMPP bind leases: a killed bind owner's bind is taken over within seconds.
        HONGYAN_CONNECTOR_BIND_LEASE_SECS="4",
        HONGYAN_CONNECTOR_BIND_HEARTBEAT_SECS="1",
        HONGYAN_TEST_SUBMIT_LOG=str(tmp_path / "submitted.log"),
        # The simulators hold each batch after accepting it, as a carrier slow to answer:
        # a worker killed then has handed messages over without recording it.
        HONGYAN_TEST_SUBMIT_HOLD_MS="300",
        PYTHONPATH=str(Path(__file__).resolve().parents[2]),
    )
    return env


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    logs = tmp_path / "logs"
    logs.mkdir()
    found = Fleet({}, logs)
    try:
        yield found
    finally:
        found.stop_all()


async def setup_platform(ctx: AppContext, smsc_port: int, hooks: HookReceiver) -> list[Any]:
    """Tenants ready to send, each with limits and a webhook endpoint; connectors and routes."""
    app = create_app(ctx=ctx)
    transport = httpx.ASGITransport(app=app)
    tenants = []
    async with httpx.AsyncClient(transport=transport, base_url="http://hongyan.test") as http:
        for index in range(TENANTS):
            sender = await make_sender(http, ctx, balance=BALANCE)
            tenants.append((sender, await _tenant_terms(http, sender, index, hooks)))
    async with ctx.db.session() as session:
        for name, settings in _connectors(smsc_port).items():
            connector = await routing.create_connector(
                session, ctx=ctx, actor=CLI_ACTOR, req=ConnectorCreate(**settings, name=name)
            )
            prefixes = [SMPP_PREFIX] if settings["kind"] == "smpp" else None
            await routing.create_route(
                session,
                ctx=ctx,
                actor=CLI_ACTOR,
                req=RouteCreate(
                    name=f"via-{name}",
                    connector_id=connector.id,
                    prefixes=prefixes,
                    priority=10 if prefixes else 100,
                ),
            )
    return tenants


def _connectors(smsc_port: int) -> dict[str, dict[str, Any]]:
    simulator = {"kind": "simulator", "settings": {"latency_ms": 20, "receipt_delay_ms": 50}}
    smpp = {
        "host": "127.0.0.1",
        "port": smsc_port,
        "system_id": "hongyan",
        "password": "pw",
        "reconnect_min_secs": 0.2,
        "reconnect_max_secs": 1.0,
    }
    return {"sim-a": simulator, "sim-b": simulator, "smsc": {"kind": "smpp", "settings": smpp}}


async def _tenant_terms(
    http: httpx.AsyncClient, sender: Sender, index: int, hooks: HookReceiver
) -> str:
    """Limits, a charge policy and a webhook endpoint; returns the endpoint's secret."""
    op = sender.operator.basic
    rules = {kind: [{"window_secs": 3600, "max": n}] for kind, n in LIMITS.items()}
    done = await http.put(
        f"/v1/admin/tenants/{sender.tenant_id}/limits", json={"rules": rules}, headers=op
    )
    assert done.status_code == 200, done.text
    if index == 1:  # one tenant pays on delivery: undelivered messages are refunded
        policy = {"charge_policy": "on_delivery"}
        done = await http.patch(
            f"/v1/admin/tenants/{sender.tenant_id}/billing", json=policy, headers=op
        )
        assert done.status_code == 200, done.text
    price = {"country": "CN", "kind": "verification", "unit_price": 4, "currency": "CNY"}
    assert (await http.put("/v1/admin/prices", json=price, headers=op)).status_code in (200, 201)
    endpoint = await http.post(
        "/v1/webhooks",
        json={"url": hooks.url(f"/hook/{index}"), "events": FINAL_EVENTS},
        headers=sender.key.basic,
    )
    assert endpoint.status_code == 201, endpoint.text
    return str(endpoint.json()["secret"])


async def held_by(db: Database, worker: Process) -> set[str]:
    """Messages claimed (``sending``) under a lease of this worker process."""
    async with db.session() as session:
        rows = await session.execute(
            select(Message.id).where(
                Message.status == "sending", Message.lease_owner.like(f"%:{worker.pid}:%")
            )
        )
        return set(rows.scalars())


async def bind_owners(db: Database) -> set[str]:
    """Owners of SMPP bind leases (``connector_bind_lease``), if this schema has them."""
    try:
        async with db.session() as session:
            rows = await session.execute(text("SELECT owner FROM connector_bind_lease"))
            return {str(owner) for owner in rows.scalars()}
    except DBAPIError:
        return set()


async def kill_mid_flight(
    db: Database, fleet: Fleet, workers: list[Process], log: Path, traffic: Traffic
) -> tuple[Process, set[str]]:
    """Once traffic is well under way, SIGKILL a worker holding messages a simulator accepted
    but it has not recorded: the SMPP bind's owner if it is caught so within a few seconds
    (so the bind is taken over too), else the first other worker caught so. Returns it and
    the messages it held when it died."""
    deadline = time.monotonic() + 60
    prefer_owner_until = None
    while time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        if len(traffic.outcome.accepted) < 600:
            continue
        prefer_owner_until = prefer_owner_until or time.monotonic() + 5
        owners = await bind_owners(db)
        handed_over = set(submitted(log))
        for worker in workers:
            owns_bind = any(f":{worker.pid}:" in owner for owner in owners)
            if owners and not owns_bind and time.monotonic() < prefer_owner_until:
                continue
            if (await held_by(db, worker)) & handed_over:
                fleet.kill(worker)
                return worker, await held_by(db, worker)
    raise AssertionError(f"no worker was caught mid-batch\n{fleet.output()}")


async def run_fleet(
    tmp_path: Path, fleet: Fleet, url: str, smsc: CountingSmsc, hooks: HookReceiver
) -> dict[str, Any]:
    """Migrate, set up, start the processes, send with a kill in the middle; what happened."""
    fleet.env = fleet_env(url, tmp_path)
    assert "at head" in fleet.cli("db", "upgrade")
    (tmp_path / "submitted.log").touch()
    settings = Settings(
        data_dir=tmp_path / "data", secret_key=TEST_SECRET_KEY, auth_key_cache_secs=0
    )
    db = Database(settings.model_copy(update={"database_url": url}).effective_database_url)
    ctx = AppContext.build(settings.model_copy(update={"database_url": url}), db)
    try:
        tenants = await setup_platform(ctx, smsc.port, hooks)
        apis = [fleet.serve(f"api{i}") for i in range(2)]
        workers = [fleet.worker(f"worker{i}") for i in range(3)]
        for api in apis:
            await asyncio.to_thread(fleet.wait_ready, api)
        traffic = Traffic([sender for sender, _ in tenants])
        began = time.monotonic()
        sending = asyncio.ensure_future(traffic.run([api.url for api in apis]))
        victim, killed = await kill_mid_flight(
            db, fleet, workers, tmp_path / "submitted.log", traffic
        )
        await asyncio.wait_for(sending, timeout=SEND_WITHIN_SECS)
        sent_secs = time.monotonic() - began
        assert not traffic.outcome.failed_requests, traffic.outcome.failed_requests[:5]
        await settle(db, fleet, hooks)
        for process in fleet.procs:
            assert process is victim or process.alive(), fleet.output()
        survivors = [w for w in workers if w is not victim]
        return {
            "traffic": traffic,
            "tenants": [(sender.tenant_id, secret) for sender, secret in tenants],
            "victim": victim,
            "killed": killed,
            "sent_secs": sent_secs,
            "messages": await messages_of(db),
            "ledgers": [await ledger_of(db, s.tenant_id) for s, _ in tenants],
            "history": await history_of(db),
            "metrics": {
                name: sum(metric(w, name) for w in survivors)
                for name in (
                    "hongyan_messages_total",
                    "hongyan_dispatch_leases_expired_total",
                    "hongyan_dispatch_claims_lost_total",
                )
            },
        }
    finally:
        await db.dispose()


async def settle(db: Database, fleet: Fleet, hooks: HookReceiver) -> None:
    """Wait (bounded) until every message is final and its final webhook has arrived."""
    deadline = time.monotonic() + SETTLE_WITHIN_SECS
    while True:
        unfinished = await unfinished_count(db)
        missing = missing_webhooks(await messages_of(db), hooks) if not unfinished else None
        if unfinished == 0 and not missing:
            return
        assert time.monotonic() < deadline, (
            f"not settled: {unfinished} messages unfinished, "
            f"{len(missing or [])} final webhooks missing\n{fleet.output()}"
        )
        await asyncio.sleep(0.5)


async def test_two_apis_three_workers_one_killed_nothing_lost_nothing_doubled(
    tmp_path: Path, fleet: Fleet
) -> None:
    began = time.monotonic()
    async with scratch_database() as url, CountingSmsc() as smsc:
        with HookReceiver() as hooks:
            try:
                run = await run_fleet(tmp_path, fleet, url, smsc, hooks)
            finally:
                fleet.stop_all()  # before the database is dropped under them
            received = hooks.received()
    traffic: Traffic = run["traffic"]
    accepted = traffic.outcome.accepted
    messages: dict[str, Message] = run["messages"]
    print(
        f"\n{len(accepted)} accepted, {len(traffic.outcome.refused)} refused in "
        f"{run['sent_secs']:.1f} s; killed {run['victim'].name} holding {len(run['killed'])}; "
        f"{smsc.bound_ever} SMPP binds, {sum(smsc.submits.values())} SMPP submits; "
        f"{len(received)} webhooks; {time.monotonic() - began:.1f} s in all"
    )
    print(f"metrics of the surviving workers: {run['metrics']}")
    check_every_message_final(accepted, messages)
    # The takeover of the killed worker's claims shows in the survivors' metrics.
    assert run["metrics"]["hongyan_dispatch_leases_expired_total"] >= 1
    check_submissions(accepted, messages, run, submitted(tmp_path / "submitted.log"), smsc)
    check_limits(traffic, messages)
    for account, entries in run["ledgers"]:
        check_ledger(account, entries, messages)
    check_webhooks(received, run["tenants"], messages)
