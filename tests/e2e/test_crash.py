"""THE crash test: a worker killed with SIGKILL mid-batch, and what DESIGN.md promises after it.

A real worker process on PostgreSQL sends a few hundred messages of every kind through a
simulator that accepts a batch, writes the ids down, and answers only 1.5 s later. The test
kills the worker (SIGKILL: no cleanup of any kind) while batches it handed over are unrecorded,
starts a second worker with a short lease, and checks, from the simulator's log of accepted
messages across both processes:

- every message ends ``sent`` or final;
- verification and notification messages of the killed batches are sent again (at least once:
  those the dead worker had handed over were submitted twice);
- marketing messages of the killed batches are failed with SUBMIT_OUTCOME_UNKNOWN, never
  submitted again (at most once);
- no other message is submitted twice.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
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
from hongyan.models import Message
from hongyan.routing import service as routing
from hongyan.routing.schemas import ConnectorCreate, RouteCreate
from tests.conftest import POSTGRES_URL, TEST_SECRET_KEY, make_tenant
from tests.factories import make_messages
from tests.fresh_db import fresh_database

ROOT = Path(__file__).resolve().parents[2]
KINDS = {"verification": 50, "notification": 50, "marketing": 200}
BATCH = 60  # the first two batches (two loops) mix verification, notification and marketing
UNFINISHED = ("queued", "scheduled", "sending")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not POSTGRES_URL, reason="HONGYAN_TEST_POSTGRES_URL not set"),
]


def _worker_env(db: Database, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HONGYAN_")}
    env.update(
        HONGYAN_DATABASE_URL=db.url,
        HONGYAN_SECRET_KEY=TEST_SECRET_KEY,
        HONGYAN_DATA_DIR=str(tmp_path / "data"),
        HONGYAN_LOG_FORMAT="console",
        HONGYAN_DISPATCH_BATCH_SIZE=str(BATCH),
        HONGYAN_DISPATCH_CONCURRENCY="2",
        HONGYAN_DISPATCH_LEASE_SECS="2",
        HONGYAN_TEST_SUBMIT_LOG=str(tmp_path / "submitted.log"),
        HONGYAN_TEST_SUBMIT_HOLD_MS="1500",
        PYTHONPATH=str(ROOT),
    )
    return env


class Workers:
    """Worker processes started by this test, killed by pid whatever happens."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        out = (self.log_dir / f"worker{len(self.procs)}.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.e2e.crash_worker"],
            cwd=ROOT,
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        out.close()
        self.procs.append(proc)
        return proc

    def kill_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)

    def output(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.log_dir.glob("*.log")))


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    found = Workers({}, log_dir)
    try:
        yield found
    finally:
        found.kill_all()


def submitted(path: Path) -> Counter[str]:
    return Counter(path.read_text().split()) if path.exists() else Counter()


async def statuses(db: Database, ids: list[str]) -> dict[str, Message]:
    async with db.session() as session:
        rows = await session.execute(select(Message).where(Message.id.in_(ids)))
        return {m.id: m for m in rows.scalars()}


async def recorded(db: Database) -> int:
    """Messages whose submit is recorded (sent or a receipt's status)."""
    async with db.session() as session:
        stmt = select(func.count()).where(
            Message.status.in_(("sent", "delivered", "undelivered", "expired"))
        )
        return int((await session.execute(stmt)).scalar_one())


async def until(check: Any, *, within: float, what: str, workers: Workers) -> None:
    deadline = time.monotonic() + within
    while not await check():
        for proc in workers.procs:
            assert proc.poll() in (None, -signal.SIGKILL), workers.output()
        assert time.monotonic() < deadline, f"timed out waiting for {what}\n{workers.output()}"
        await asyncio.sleep(0.05)


async def _setup(ctx: AppContext) -> list[str]:
    async with ctx.db.session() as session:
        connector = await routing.create_connector(
            session,
            ctx=ctx,
            actor=CLI_ACTOR,
            req=ConnectorCreate(
                name="slow-sim",
                kind="simulator",
                settings={"latency_ms": 200, "receipt_delay_ms": 300},
            ),
        )
        await routing.create_route(
            session,
            ctx=ctx,
            actor=CLI_ACTOR,
            req=RouteCreate(name="all", connector_id=connector.id),
        )
    tenant = await make_tenant(ctx)
    assert tenant.tenant_id
    ids: list[str] = []
    for kind, count in KINDS.items():
        ids += [m.id for m in await make_messages(ctx, tenant.tenant_id, count, kind=kind)]
    return ids


async def test_sigkill_mid_batch_loses_nothing_and_duplicates_only_at_least_once_kinds(
    settings: Settings, tmp_path: Path, workers: Workers
) -> None:
    async with fresh_database("postgres", tmp_path) as db:
        ctx = AppContext.build(settings.model_copy(update={"database_url": db.url}), db)
        ids = await _setup(ctx)
        log = tmp_path / "submitted.log"
        log.touch()
        workers.env = _worker_env(db, tmp_path)

        first = workers.start()

        async def handed_over_unrecorded() -> bool:
            # Both first batches accepted by the simulator, none recorded yet: mid-batch.
            return sum(submitted(log).values()) >= 2 * BATCH and await recorded(db) == 0

        await until(handed_over_unrecorded, within=30, what="batches in flight", workers=workers)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        before = await statuses(db, ids)
        killed = {i for i, m in before.items() if m.status == "sending"}
        handed_over = set(submitted(log))
        assert killed and handed_over <= killed, "the kill did not land mid-batch"

        workers.start()

        async def all_done() -> bool:
            now = await statuses(db, ids)
            return all(m.status not in UNFINISHED for m in now.values())

        await until(all_done, within=45, what="every message to finish", workers=workers)
        workers.kill_all()
        after = await statuses(db, ids)
        counts = submitted(log)

    kinds_killed = {after[i].kind for i in killed}
    assert kinds_killed == set(KINDS), kinds_killed  # the kill caught every kind mid-flight
    for message_id, message in after.items():
        n = counts[message_id]
        if message_id in killed and message.kind == "marketing":
            # At most once: never resent, whether or not the dead worker handed it over.
            assert (message.status, message.error_code) == ("failed", "SUBMIT_OUTCOME_UNKNOWN")
            assert n == (1 if message_id in handed_over else 0)
        elif message_id in killed:
            # At least once: sent again; twice if the dead worker had handed it over.
            assert message.status in ("sent", "delivered"), message.status
            assert n == (2 if message_id in handed_over else 1)
        else:
            assert message.status in ("sent", "delivered"), message.status
            assert n == 1, (message_id, n)
    # The duplicates are exactly the at-least-once messages of the killed batches.
    twice = {i for i, n in counts.items() if n > 1}
    assert twice == {i for i in handed_over if after[i].kind != "marketing"}
    assert twice
