"""What S3 and S4-over-SMPP share: the SMSC process, a data dir sending over SMPP, the run.

Not a scenario itself (``bench/s3_smpp.py`` and ``bench/s4_smpp_receipts.py`` are). One run
of Hongyan here is: ``hongyan run`` on a free port whose only enabled connector is an SMPP
connector (one transceiver bind, window 10) to ``bench/smsc_sim.py``; messages accepted over
``POST /v1/messages/batch`` (1,000 a request, one request at a time) while the worker
dispatches them; ``/metrics`` read every 0.2 s; at the end the database is read for the
rows' own times (first ``created_at``, last ``sent_at``) and for what is not final.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import harness
import httpx
from sqlalchemy import func, select

from hongyan.accounts import service as accounts
from hongyan.api.context import AppContext
from hongyan.config import Settings
from hongyan.models import Message, MessagePart, PendingReceipt
from hongyan.routing import service as routing
from hongyan.routing.schemas import ConnectorCreate, ConnectorUpdate, RouteCreate

BODY = "您的订单已发货，请注意查收"
SENDER = "Hongyan"  # the connector's source_addr; the bare client sends the same
WINDOW = 10
BATCH = 1000  # recipients per accept request (the API's maximum)
POLL_SECS = 0.2
SIMULATOR = harness.BENCH_DIR / "smsc_sim.py"


def smpp_settings(port: int) -> dict[str, Any]:
    """The connector under test: only public settings, so the script outlives its internals."""
    return {
        "host": "127.0.0.1",
        "port": port,
        "system_id": "hongyan",
        "password": "pw",
        "window": WINDOW,
        "source_addr": SENDER,
    }


class Smsc:
    """``bench/smsc_sim.py`` as a child process, asked for its counters over stdin."""

    def __init__(self, engine: str, receipt_delay_ms: int | None = None) -> None:
        self.port = harness.free_port()
        cmd = [sys.executable, str(SIMULATOR), "--engine", engine, "--port", str(self.port)]
        if receipt_delay_ms is not None:
            cmd += ["--receipt-delay-ms", str(receipt_delay_ms)]
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )
        assert self.proc.stdout is not None
        ready = self.proc.stdout.readline()
        if not ready.startswith("READY"):
            self.stop()
            raise RuntimeError(f"the SMSC simulator did not start: {ready!r}")

    def stats(self) -> dict[str, Any]:
        """The simulator's counters right now."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("stats\n")
        self.proc.stdin.flush()
        answer: dict[str, Any] = json.loads(self.proc.stdout.readline())
        return answer

    def stop(self) -> None:
        """End of input stops it; killed by its pid if it does not go within 10 s."""
        if self.proc.poll() is not None:
            return
        assert self.proc.stdin is not None
        with contextlib.suppress(OSError):
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def busy(before: dict[str, Any], after: dict[str, Any], rate: float) -> float:
    """The simulator's share of a core at ``rate`` submits/s: its CPU per submit x the rate.

    CPU per submit over the whole phase between two snapshots (idle moments cost next to
    nothing); 1.0 would mean the simulator was the limit.
    """
    submits = max(after["submits"] - before["submits"], 1)
    return float((after["cpu_secs"] - before["cpu_secs"]) / submits * rate)


@contextlib.asynccontextmanager
async def database_url(postgres: str | None) -> AsyncIterator[str]:
    """The database for a run: the data dir's SQLite file (""), or a scratch PostgreSQL one."""
    if not postgres:
        yield ""
        return
    from s8_backlog import scratch_postgres  # the same scratch databases as S8

    async with contextlib.AsyncExitStack() as stack:
        yield await scratch_postgres(postgres, stack)


async def prepare(data_dir: Path, *, smsc_port: int, url: str) -> harness.Credentials:
    """The demo tenant, and sending only over an SMPP connector to the simulator."""
    creds = await harness.prepare(data_dir, simulator={}, database_url=url)
    ctx = AppContext.build(Settings(data_dir=data_dir, database_url=url))
    try:
        async with ctx.db.session() as session:
            actor = accounts.CLI_ACTOR
            connector = await routing.create_connector(
                session,
                ctx=ctx,
                actor=actor,
                req=ConnectorCreate(name="smsc", kind="smpp", settings=smpp_settings(smsc_port)),
            )
            route = RouteCreate(name="smsc", connector_id=connector.id, priority=1)
            await routing.create_route(session, ctx=ctx, actor=actor, req=route)
            # No failover to the default simulator: every message goes over SMPP or fails.
            await routing.update_connector(
                session,
                ctx=ctx,
                actor=actor,
                ref=routing.DEFAULT_CONNECTOR,
                req=ConnectorUpdate(enabled=False),
            )
    finally:
        await ctx.db.dispose()
    return creds


@dataclass
class Run:
    """What one Hongyan run measured."""

    total: int
    samples: list[tuple[float, int, int]] = field(default_factory=list)  # (t, sent, delivered)
    accept_began: float = 0.0  # time.time() of the first request
    accept_secs: float = 0.0
    rows: dict[str, Any] = field(default_factory=dict)
    peak_rss_mib: float = 0.0

    @property
    def first_created(self) -> datetime:
        value: datetime = self.rows["first_created"]
        return value

    @property
    def end_to_end_secs(self) -> float:
        """First ``created_at`` to last ``sent_at``: the rows' own times, one clock."""
        return float((self.rows["last_sent"] - self.first_created).total_seconds())

    @property
    def end_to_end_rate(self) -> float:
        return float(self.rows["sent"]) / self.end_to_end_secs

    def sent_by(self, secs: float) -> float:
        """Messages sent ``secs`` after the first request (interpolated between samples)."""
        before = [(t, s) for t, s, _ in self.samples if t <= secs]
        after = [(t, s) for t, s, _ in self.samples if t > secs]
        if not before or not after:
            return float(before[-1][1] if before else 0)
        (t0, s0), (t1, s1) = before[-1], after[0]
        return s0 + (s1 - s0) * (secs - t0) / (t1 - t0)

    def phases(self) -> tuple[float, float]:
        """Send rates while accepting went on, and after the last accept answered."""
        during = self.sent_by(self.accept_secs)
        last = next((t for t, s, _ in self.samples if s >= self.total), float("nan"))
        return during / self.accept_secs, (self.total - during) / (last - self.accept_secs)


async def accept(client: httpx.AsyncClient, creds: harness.Credentials, total: int) -> None:
    """``total`` messages over the batch API, one request of 1,000 at a time."""
    for start in range(0, total, BATCH):
        size = min(BATCH, total - start)
        body = {
            "sign": creds.sign,
            "body": BODY,
            "recipients": [{"to": harness.number(start + i)} for i in range(size)],
        }
        answer = await client.post("/v1/messages/batch", json=body)
        answer.raise_for_status()
        got = answer.json()
        if got["rejected"] or len(got["accepted"]) != size:
            raise RuntimeError(f"refused: {got['rejected'][:1]}")


async def watch(
    client: httpx.AsyncClient, run: Run, *, until: str, limit_secs: float, began: float
) -> None:
    """Read /metrics every POLL_SECS until ``until`` (sent or delivered) counts every message."""
    while time.perf_counter() - began < limit_secs:
        text = (await client.get("/metrics")).text
        sent = int(harness.metric_sum(text, "hongyan_messages_total", status="sent"))
        done = int(harness.metric_sum(text, "hongyan_messages_total", status="delivered"))
        run.samples.append((time.perf_counter() - began, sent, done))
        if (sent if until == "sent" else done) >= run.total:
            return
        await asyncio.sleep(POLL_SECS)


async def drive(server: harness.Server, creds: harness.Credentials, run: Run, **how: Any) -> None:
    """Accept while watching; returns when every message reached ``how['until']``."""
    headers = {"Authorization": creds.authorization}
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=120) as client:
        began = time.perf_counter()
        run.accept_began = time.time()
        watcher = asyncio.ensure_future(watch(client, run, began=began, **how))
        try:
            await accept(client, creds, run.total)
            run.accept_secs = time.perf_counter() - began
            await watcher
        finally:
            watcher.cancel()


async def read_rows(data_dir: Path, url: str) -> dict[str, Any]:
    """The rows' times and what is not final, read beside the running server."""
    ctx = AppContext.build(Settings(data_dir=data_dir, database_url=url))
    try:
        async with ctx.db.engine.connect() as conn:
            first, last, sent = (
                await conn.execute(
                    select(
                        func.min(Message.created_at),
                        func.max(Message.sent_at),
                        func.count(Message.sent_at),
                    )
                )
            ).one()
            by_status = dict(
                (await conn.execute(select(Message.status, func.count()).group_by(Message.status)))
                .tuples()
                .all()
            )
            held = (await conn.execute(select(func.count(PendingReceipt.id)))).scalar_one()
            open_parts = (
                await conn.execute(
                    select(func.count()).where(
                        MessagePart.status.in_(("sent", "accepted", "enroute"))
                    )
                )
            ).scalar_one()
    finally:
        await ctx.db.dispose()
    return {
        "first_created": first,
        "last_sent": last,
        "sent": sent,
        "by_status": by_status,
        "held_receipts": held,
        "open_parts": open_parts,
    }


class Profiler:
    """``py-spy record`` attached to a running process (raw collapsed stacks); None: off."""

    def __init__(self, out: Path | None) -> None:
        self.out = out
        self.proc: subprocess.Popen[bytes] | None = None

    def attach(self, pid: int) -> None:
        if self.out is None:
            return
        spy = Path(sys.executable).with_name("py-spy")
        cmd = [str(spy), "record", "--pid", str(pid), "--rate", "100", "--format", "raw"]
        cmd += ["--output", str(self.out)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def detach(self) -> None:
        """SIGINT makes py-spy write its file; killed by pid if it does not end in 20 s."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


async def hongyan_run(
    smsc: Smsc,
    *,
    total: int,
    postgres: str | None,
    until: str,
    limit_secs: float,
    profile: Path | None = None,
) -> Run:
    """A fresh data dir (or scratch database), ``hongyan run``, accept and watch; the figures."""
    run = Run(total)
    with tempfile.TemporaryDirectory(prefix="hongyan-bench-s3-") as tmp:
        data_dir = Path(tmp)
        async with database_url(postgres) as url:
            creds = await prepare(data_dir, smsc_port=smsc.port, url=url)
            env = {"HONGYAN_DATABASE_URL": url} if url else {}
            server = harness.Server(data_dir, env=env)
            profiler = Profiler(profile)
            try:
                server.start()
                profiler.attach(server.pid)
                await drive(server, creds, run, until=until, limit_secs=limit_secs)
                profiler.detach()
                run.rows = await read_rows(data_dir, url)
                run.peak_rss_mib = harness.proc_status(server.pid)["VmHWM"] / 1024
            except BaseException:
                print(f"hongyan run's log, last lines:\n{server.log_tail(40)}", flush=True)
                raise
            finally:
                profiler.detach()
                server.stop()
    return run
