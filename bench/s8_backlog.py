"""S8 backlog: the dispatcher's claim rate with 1,000 due messages queued vs 1,000,000.

    .venv/bin/python bench/s8_backlog.py [--backlog 1000000] [--claims 20000]
    .venv/bin/python bench/s8_backlog.py --postgres postgresql://postgres@127.0.0.1:5432/test

For each case, a fresh database (an SQLite file in a temporary directory, or a scratch
PostgreSQL database created and dropped by the script) gets a tenant, the default simulator
connector set to answer at once and send no receipts (``latency_ms`` 0, every number
``no_receipt``), and the backlog of due ``queued`` messages written straight into the
``message`` table (stdlib ``sqlite3`` executemany / asyncpg COPY: loading, not measured).
Then the real dispatcher (``hongyan.worker.dispatcher.dispatch_once``: claim a batch, send
it through routing to the simulator, record parts, ``sent``, events, statistics, webhooks)
runs batch after batch in this process:

- small case: --small due messages (1,000);
- big case: --backlog due messages (1,000,000).

In both, after every batch as many new due messages as it claimed are written (untimed,
through the same engine), so each queue keeps its depth and both pay the same for the
writes (WAL growth, checkpoints).

The rate is claims per second over --claims claims (after --warmup claims), timing only the
``dispatch_once`` calls; the time is split into claim, send and record. The target: the rate
at 1M >= 0.9x the rate at 1k. The claim's query plan is printed for the big case.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import sqlite3
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import harness
from sqlalchemy import select, text, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite as sqlite_dialect

from hongyan.accounts import service as accounts
from hongyan.accounts.schemas import TenantCreate
from hongyan.api.context import AppContext
from hongyan.config import Settings
from hongyan.db import Database
from hongyan.ids import new_id
from hongyan.kit import logging as hy_logging
from hongyan.models import Message
from hongyan.routing import service as routing
from hongyan.routing.manager import get_manager
from hongyan.routing.schemas import ConnectorUpdate
from hongyan.worker import dispatcher

# Instant, and no receipts: S8 is claim + send + record; receipts are S4's.
INSTANT = {"latency_ms": 0, "rules": [{"pattern": ".", "match": "regex", "outcome": "no_receipt"}]}
COLUMNS = (
    "id", "tenant_id", "test_mode", "msisdn", "region", "carrier", "kind", "priority", "sign",
    "text", "encoding", "segments", "amount", "currency", "status", "due_at", "attempts",
    "parts_done", "created_at", "updated_at",
)  # fmt: skip
# Column names are the constants above, not input: nothing to inject.
INSERT = f"INSERT INTO message ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"  # noqa: S608
LOAD_CHUNK = 50_000
STEPS = ("_claim", "_send", "_record")


class Backlog:
    """Writes due queued message rows fast, straight into the table (not through the API)."""

    def __init__(self, db: Database, tenant_id: str) -> None:
        self.db = db
        self.tenant_id = tenant_id
        self.serial = 0
        self.pg: asyncpg.Connection | None = None

    def rows(self, count: int) -> list[tuple[Any, ...]]:
        # Due over the last hour, oldest first, as a real backlog would be; amount 0, so the
        # dispatcher's settlement has nothing to do (no hold was taken).
        now = datetime.now(UTC)
        out = []
        for i in range(count):
            self.serial += 1
            at = now - timedelta(milliseconds=count - i) - timedelta(hours=1)
            out.append(
                (new_id("msg"), self.tenant_id, False, f"+86138{self.serial % 10**8:08d}",
                 "CN", "China Mobile", "notification", 1, harness.DEMO_SIGN,
                 "【鸿雁演示】您的订单已发货，请注意查收", "ucs2", 1, 0, "CNY", "queued", at, 0, 0,
                 at, at)
            )  # fmt: skip
        return out

    async def add(self, count: int, *, progress: bool = False) -> None:
        """Write ``count`` due queued messages in big chunks."""
        began = time.perf_counter()
        done = 0
        while done < count:
            chunk = self.rows(min(LOAD_CHUNK, count - done))
            if self.db.is_sqlite:
                self._sqlite(chunk)
            else:
                await self._postgres(chunk)
            done += len(chunk)
            if progress and (done % 200_000 == 0 or done == count):
                rate = done / (time.perf_counter() - began)
                print(f"    backlog written: {done:>9,} ({rate:,.0f} rows/s)", flush=True)

    async def refill(self, count: int) -> None:
        """Write ``count`` more through the context's own engine, as new messages would come.

        Not through a second connection: on SQLite, a write by another connection makes the
        dispatcher's connection drop its page cache, which would slow the small case for
        reasons of the benchmark's own making.
        """
        rows = [dict(zip(COLUMNS, row, strict=True)) for row in self.rows(count)]
        async with self.db.engine.begin() as conn:
            await conn.execute(Message.__table__.insert(), rows)

    def _sqlite(self, rows: list[tuple[Any, ...]]) -> None:
        # The same text form SQLAlchemy stores for these columns on SQLite.
        def stamp(value: datetime) -> str:
            return value.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")

        plain = [(*r[:15], stamp(r[15]), r[16], r[17], stamp(r[18]), stamp(r[19])) for r in rows]
        path = self.db.url.split(":///", 1)[1]
        with sqlite3.connect(path, timeout=30) as conn:
            conn.executemany(INSERT, plain)
        conn.close()

    async def _postgres(self, rows: list[tuple[Any, ...]]) -> None:
        if self.pg is None:
            self.pg = await asyncpg.connect(self.db.url.replace("postgresql+asyncpg", "postgresql"))
        await self.pg.copy_records_to_table("message", records=rows, columns=list(COLUMNS))

    async def close(self) -> None:
        if self.pg is not None:
            await self.pg.close()


class StepTimes:
    """Wall time of the dispatcher's three steps, by wrapping them (measurement only)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.originals = {name: getattr(dispatcher, name) for name in STEPS}
        for name, original in self.originals.items():
            setattr(dispatcher, name, self._timed(name, original))

    def _timed(self, name: str, fn: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
        async def timed(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return await fn(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - began

        return timed

    def reset(self) -> None:
        self.seconds.clear()

    def restore(self) -> None:
        for name, original in self.originals.items():
            setattr(dispatcher, name, original)


async def setup(db: Database, data_dir: Path) -> tuple[AppContext, Backlog]:
    """Schema, a tenant, the instant simulator; a context like ``hongyan run`` builds."""
    await db.upgrade()
    settings = Settings(data_dir=data_dir, secret_key="bench-" + secrets.token_hex(8))
    ctx = AppContext.build(settings.model_copy(update={"database_url": db.url}), db)
    async with ctx.db.session() as session:
        tenant = await accounts.create_tenant(
            session, actor=accounts.CLI_ACTOR, req=TenantCreate(name="bench-backlog")
        )
        await routing.ensure_default_simulator(session, ctx=ctx)
    async with ctx.db.session() as session:
        await routing.update_connector(
            session,
            ctx=ctx,
            actor=accounts.CLI_ACTOR,
            ref=routing.DEFAULT_CONNECTOR,
            req=ConnectorUpdate(settings=INSTANT),
        )
    return ctx, Backlog(db, tenant.id)


async def claims(case: Case, count: int) -> float:
    """Dispatch batches until ``count`` messages were claimed; seconds spent dispatching."""
    claimed = 0
    spent = 0.0
    while claimed < count:
        began = time.perf_counter()
        got = await dispatcher.dispatch_once(case.ctx)
        spent += time.perf_counter() - began
        if got == 0:
            raise RuntimeError(f"the queue ran dry after {claimed} claims")
        claimed += got
        await case.backlog.refill(got)  # untimed: keeps the queue at its depth
    return spent


@dataclass
class Case:
    """One queue depth: its database, context and what its timed rounds added up to."""

    depth: int
    ctx: AppContext
    backlog: Backlog
    load_secs: float = 0.0
    claimed: int = 0
    secs: float = 0.0
    rounds: list[float] = field(default_factory=list)  # claims/s of each round
    split: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    @property
    def rate(self) -> float:
        return self.claimed / self.secs


async def open_case(depth: int, args: argparse.Namespace, stack: contextlib.AsyncExitStack) -> Case:
    """A fresh database with ``depth`` due messages; closed by ``stack``."""
    tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hongyan-bench-s8-")))
    if args.postgres:
        db = Database(await scratch_postgres(args.postgres, stack))
    else:
        db = Database(f"sqlite+aiosqlite:///{tmp}/hongyan.db")
    ctx, backlog = await setup(db, tmp)
    stack.push_async_callback(ctx.db.dispose)
    stack.push_async_callback(backlog.close)
    stack.push_async_callback(get_manager(ctx).close_all)
    case = Case(depth, ctx, backlog)
    began = time.perf_counter()
    await backlog.add(depth, progress=depth >= 200_000)
    if not db.is_sqlite:
        async with ctx.db.session() as session:
            await session.execute(text("ANALYZE message"))  # what autovacuum would do
    case.load_secs = time.perf_counter() - began
    print(f"  {depth:,} due messages written in {case.load_secs:.1f} s", flush=True)
    return case


async def timed_round(case: Case, count: int, steps: StepTimes) -> None:
    """``count`` claims of one case, added to its totals."""
    steps.reset()
    spent = await claims(case, count)
    case.claimed += count
    case.secs += spent
    case.rounds.append(count / spent)
    for name in STEPS:
        case.split[name.strip("_")] += steps.seconds[name]


async def claim_plan(ctx: AppContext) -> list[str]:
    """EXPLAIN of the dispatcher's claim statement on this database, as it is now."""
    now = datetime.now(UTC)
    due = (
        select(Message.id)
        .where(
            Message.status == "queued",
            Message.pinned_connector_id == "",  # the general claim (not handed over)
            Message.due_at <= now,
        )
        .order_by(Message.priority, Message.due_at)
        .limit(ctx.settings.dispatch_batch_size)
    )
    if ctx.db.is_sqlite:
        dialect: Any = sqlite_dialect.dialect()
        prefix = "EXPLAIN QUERY PLAN "
    else:
        dialect = postgresql.dialect()
        due = due.with_for_update(skip_locked=True)
        prefix = "EXPLAIN "
    stmt = update(Message).where(Message.id.in_(due.scalar_subquery())).values(status="sending")
    sql = str(stmt.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    async with ctx.db.engine.connect() as conn:
        rows = (await conn.execute(text(prefix + sql))).all()
    return [str(row[-1]) for row in rows]


async def main_async(args: argparse.Namespace) -> tuple[Case, Case, list[str]]:
    """Both cases side by side, their timed rounds interleaved (the machine drifts)."""
    steps = StepTimes()
    async with contextlib.AsyncExitStack() as stack:
        stack.callback(steps.restore)
        small = await open_case(args.small, args, stack)
        big = await open_case(args.backlog, args, stack)
        for case in (small, big):
            await claims(case, args.warmup)
        per_round = args.claims // args.rounds
        for index in range(args.rounds):
            for case in (small, big) if index % 2 == 0 else (big, small):
                await timed_round(case, per_round, steps)
        plan = await claim_plan(big.ctx)
    return small, big, plan


async def scratch_postgres(server_url: str, stack: contextlib.AsyncExitStack) -> str:
    """A new database on the given server, dropped when ``stack`` closes; its async URL."""
    server = server_url.replace("postgresql+asyncpg://", "postgresql://")
    base = server.rpartition("/")[0].split("://", 1)[1]
    name = f"hongyan_bench_s8_{secrets.token_hex(3)}"
    admin = await asyncpg.connect(server)
    await admin.execute(f'CREATE DATABASE "{name}"')

    async def drop() -> None:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()

    stack.push_async_callback(drop)
    return f"postgresql+asyncpg://{base}/{name}"


def report(small: Case, big: Case, plan: list[str], backend: str) -> None:
    """Print both rates, the split, the claim plan and the ratio; then the summary line."""
    print(f"\n{'case':<30}{'claims/s':>10}{'rounds (claims/s)':>30}   time in claim/send/record")
    for label, case in (
        (f"{small.depth:,} queued (baseline)", small),
        (f"{big.depth:,} queued", big),
    ):
        rounds = ", ".join(f"{r:,.0f}" for r in case.rounds)
        split = " / ".join(f"{v:.1f}" for v in case.split.values())
        print(f"{label:<30}{case.rate:>10,.0f}{rounds:>30}   {split} s")
    print(f"\nclaim plan at {big.depth:,} queued:")
    for line in plan:
        print(f"  {line}")
    ratio = big.rate / small.rate
    verdict = "met" if ratio >= 0.9 else "MISSED"
    print(f"\nratio {ratio:.2f}x (target >= 0.9x: {verdict})")
    label = f"S8 claim rate, {big.depth:,} queued ({backend.split()[0]})"
    harness.summary(
        "s8",
        [{"label": label, "figure": f"{big.rate:,.0f}/s",
          "baseline": f"{small.rate:,.0f}/s at {small.depth:,}",
          "ratio": f"{ratio:.2f}x", "target": ">= 0.9x", "met": ratio >= 0.9}],
    )  # fmt: skip


def main() -> None:
    """Parse arguments, run both cases, print the figures and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backlog", type=int, default=1_000_000, help="the big case's depth")
    parser.add_argument("--small", type=int, default=1_000, help="the small case's depth")
    parser.add_argument("--claims", type=int, default=20_000, help="claims timed per case")
    parser.add_argument("--warmup", type=int, default=1_000, help="claims before timing")
    parser.add_argument("--rounds", type=int, default=4, help="alternating timed rounds")
    parser.add_argument("--postgres", help="postgresql://user@host:port/db to make scratch dbs on")
    args = parser.parse_args()
    harness.forget_hongyan_env()
    hy_logging.configure(fmt="console", level="WARNING")
    began = time.perf_counter()
    backend = "PostgreSQL" if args.postgres else "SQLite (WAL)"
    print(f"S8 backlog on {backend}; {harness.machine()}")
    small, big, plan = asyncio.run(main_async(args))
    report(small, big, plan, backend)
    print(f"total {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
