"""Two worker processes and an SMPP connector with one bind: one owner, then a takeover.

Two real ``hongyan worker`` processes on PostgreSQL both want the single bind of an SMPP
connector to an SMSC (smpp34's server, in this test's process). The test checks, from the
SMSC's own record of binds and submit_sm:

- exactly one worker binds; the other hands the messages it claims over to the owner, so
  every submit goes out on the owner's bind;
- once the owner is killed (SIGKILL, mid-batch: the connector is paced so batches take a
  while), the other worker takes the bind over after the lease runs out, binds (after the
  first bind is gone, never beside it) and sends the rest;
- nothing is lost, and the only duplicates are the verification and notification messages the
  dead worker had submitted without recording it (at least once); its marketing messages in
  flight fail with SUBMIT_OUTCOME_UNKNOWN and are not submitted again (at most once).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from hongyan.accounts.service import CLI_ACTOR
from hongyan.api.context import AppContext
from hongyan.config import Settings
from hongyan.db import Database
from hongyan.models import ConnectorBindLease, MessageEvent
from hongyan.routing import service as routing
from hongyan.routing.schemas import ConnectorCreate, RouteCreate
from tests.conftest import POSTGRES_URL, TEST_SECRET_KEY, make_tenant
from tests.e2e.test_crash import ROOT, Workers, statuses, until
from tests.factories import make_messages
from tests.fresh_db import fresh_database

smpp34 = pytest.importorskip("smpp34")
from tests.connectors.test_smpp_connector import SmscPeer  # noqa: E402

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not POSTGRES_URL, reason="HONGYAN_TEST_POSTGRES_URL not set"),
]

KINDS = ("verification", "notification", "marketing")
COUNT = 150  # 50 of each kind, interleaved, one priority: every batch mixes the kinds
BIND_LEASE_SECS = 3
UNFINISHED = ("queued", "scheduled", "sending")


class HongyanWorkers(Workers):
    """Plain ``hongyan worker`` processes, killed by pid whatever happens."""

    def start(self) -> subprocess.Popen[bytes]:
        out = (self.log_dir / f"worker{len(self.procs)}.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "hongyan", "worker"],
            cwd=ROOT,
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        out.close()
        self.procs.append(proc)
        return proc


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[HongyanWorkers]:
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    found = HongyanWorkers({}, log_dir)
    try:
        yield found
    finally:
        found.kill_all()


class BindLog(list[Any]):
    """The SMSC's binds, each with how many sessions had ended when it came."""

    def __init__(self, peer: SmscPeer) -> None:
        super().__init__()
        self.peer = peer
        self.ended_before: list[int] = []

    def append(self, esme: Any) -> None:
        self.ended_before.append(self.peer.unbound)
        super().append(esme)


def _env(db: Database, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HONGYAN_")}
    env.update(
        HONGYAN_DATABASE_URL=db.url,
        HONGYAN_SECRET_KEY=TEST_SECRET_KEY,
        HONGYAN_DATA_DIR=str(tmp_path / "data"),
        HONGYAN_LOG_FORMAT="console",
        HONGYAN_DISPATCH_BATCH_SIZE="20",
        HONGYAN_DISPATCH_LEASE_SECS="2",
        HONGYAN_DISPATCH_RETRY_BASE_SECS="1",
        HONGYAN_CONNECTOR_BIND_LEASE_SECS=str(BIND_LEASE_SECS),
        HONGYAN_CONNECTOR_BIND_HEARTBEAT_SECS="0.5",
        HONGYAN_ROUTING_REFRESH_SECS="0.5",
        HONGYAN_WORKER_IDLE_POLL_SECS="0.2",
        PYTHONPATH=str(ROOT),
    )
    return env


async def _setup(ctx: AppContext, port: int) -> str:
    settings = {"host": "127.0.0.1", "port": port, "system_id": "hongyan", "password": "pw"}
    # Paced, so a batch of 20 takes most of a second: the kill lands mid-batch.
    settings |= {"rate_per_sec": 25, "window": 5, "reconnect_min_secs": 0.1}
    async with ctx.db.session() as session:
        row = await routing.create_connector(
            session,
            ctx=ctx,
            actor=CLI_ACTOR,
            req=ConnectorCreate(name="carrier", kind="smpp", settings=settings),
        )
        await routing.create_route(
            session, ctx=ctx, actor=CLI_ACTOR, req=RouteCreate(name="all", connector_id=row.id)
        )
    return row.id


async def _messages(ctx: AppContext) -> dict[str, str]:
    """COUNT messages to distinct numbers; message id -> the number as the SMSC sees it."""
    tenant = (await make_tenant(ctx)).tenant_id
    assert tenant
    numbers: dict[str, str] = {}
    for i in range(COUNT):
        msisdn = f"+86139000{1000 + i:04d}"
        kind = KINDS[i % len(KINDS)]
        [m] = await make_messages(ctx, tenant, 1, kind=kind, priority=1, msisdn=msisdn)
        numbers[m.id] = msisdn.removeprefix("+")
    return numbers


async def _lease(db: Database) -> ConnectorBindLease | None:
    async with db.session() as session:
        return (await session.execute(select(ConnectorBindLease))).scalars().first()


async def _handed_over(db: Database) -> int:
    async with db.session() as session:
        stmt = select(func.count()).where(MessageEvent.detail.like("handed over%"))
        return int((await session.execute(stmt)).scalar_one())


async def test_one_worker_binds_and_the_other_takes_over_after_a_kill(
    settings: Settings, tmp_path: Path, workers: HongyanWorkers
) -> None:
    async with fresh_database("postgres", tmp_path) as db, SmscPeer() as peer:
        peer.esmes = BindLog(peer)
        ctx = AppContext.build(settings.model_copy(update={"database_url": db.url}), db)
        await _setup(ctx, peer.port)
        workers.env = _env(db, tmp_path)
        procs = [workers.start(), workers.start()]

        async def bound() -> bool:
            lease = await _lease(db)
            return lease is not None and lease.bound

        await until(bound, within=30, what="one worker to bind", workers=workers)
        numbers = await _messages(ctx)
        ids = list(numbers)

        async def mid_flight() -> bool:
            return len(peer.submits) >= 45

        await until(mid_flight, within=30, what="submits to flow", workers=workers)
        lease = await _lease(db)
        assert lease is not None
        owner_pid = int(lease.owner.split(":")[-2])
        [owner] = [p for p in procs if p.pid == owner_pid]
        os.kill(owner.pid, signal.SIGKILL)
        owner.wait(timeout=10)
        first_session = peer.esmes[0].session_id
        before = await statuses(db, ids)
        mark = f":{owner_pid}:"
        killed = {
            i for i, m in before.items() if m.status == "sending" and mark in (m.lease_owner or "")
        }
        assert len(peer.esmes) == 1, "the second worker bound beside the first"
        assert await _handed_over(db) > 0, "the second worker never handed a message over"

        async def all_done() -> bool:
            now = await statuses(db, ids)
            return all(m.status not in UNFINISHED for m in now.values())

        await until(all_done, within=90, what="every message to finish", workers=workers)
        workers.kill_all()
        after = await statuses(db, ids)
        submits = list(peer.submits)

    assert killed, "the kill did not land while the owner had messages in flight"
    assert len(peer.esmes) == 2 and peer.esmes.ended_before == [0, 1]  # one bind at a time
    by_number = Counter(e.destination_addr for e in submits)
    by_first = Counter(e.destination_addr for e in submits if e.session_id == first_session)
    for message_id, message in after.items():
        number = numbers[message_id]
        n, from_dead = by_number[number], by_first[number]
        if message_id in killed and message.kind == "marketing":
            # At most once: failed, never submitted again by the second worker.
            assert (message.status, message.error_code) == ("failed", "SUBMIT_OUTCOME_UNKNOWN")
            assert n == from_dead <= 1, (message_id, n)
        elif message_id in killed:
            # At least once: sent again; twice only if the dead worker had submitted it.
            assert message.status == "sent", (message_id, message.status)
            assert n == 1 + from_dead, (message_id, n, from_dead)
        else:
            assert message.status == "sent", (message_id, message.status)
            assert n == 1, (message_id, n)
    twice = {number for number, n in by_number.items() if n > 1}
    assert twice == {
        numbers[i] for i in killed if after[i].kind != "marketing" and by_first[numbers[i]]
    }
