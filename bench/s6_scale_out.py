"""S6 scale-out: messages sent per second by 1, 2 and 4 ``hongyan worker`` processes.

    .venv/bin/python bench/s6_scale_out.py            # --backlog 30000 --rounds 2
    .venv/bin/python bench/s6_scale_out.py --postgres postgresql://postgres@127.0.0.1:5432/test

PostgreSQL only (several workers need it): a scratch database on the given server (default:
$HONGYAN_TEST_POSTGRES_URL, else the local test server), dropped at the end; Redis too when
reachable (default: $HONGYAN_TEST_REDIS_URL), as a deployment has it. The default simulator
connector answers at once and sends no receipts, so the figure is claiming, sending and
recording only (receipts are S4's).

One measurement: start N real worker processes (``python -m hongyan worker``, default
settings) against an empty queue and wait until each has started; then write --backlog due
messages in one COPY (visible at once, at its commit), NOTIFY the workers, and count ``sent``
rows every 0.2 s. The rate is messages per second between 10% and 90% of the backlog sent
(start-up and tail left out). The workers are then stopped (SIGTERM, by pid). Measurements run
in rounds, 1, 2, 4 then 4, 2, 1 workers, so the shared machine's drift spreads over all.

The target: each added worker adds >= 0.7x one worker's rate, up to the cores. The baseline is
the 1-worker rate of the same run. Also printed, between the 10% and 90% marks: the share of
the machine's CPU that was busy; the workers' CPU and PostgreSQL's (the backends serving the
scratch database), and from them the CPU time one message costs; and what those backends were
doing on average (working, waiting for a row lock, or in an open transaction waiting for the
worker's next statement). On a machine shared with other work the rate says how much CPU the
run got; the cost per message says whether more workers made each message dearer.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from statistics import mean

import harness
import redis
import s8_backlog
from s8_backlog import Backlog

from hongyan.api.context import AppContext
from hongyan.db import Database
from hongyan.kit import logging as hy_logging

WORKER_COUNTS = (1, 2, 4)
TARGET = 0.7  # each added worker adds at least this share of one worker's rate
SAMPLE_SECS = 0.2
START_WITHIN_SECS = 60.0
DRAIN_WITHIN_SECS = 180.0
STOP_WITHIN_SECS = 20.0
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_busy_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of the whole machine so far, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def process_ticks(pid: int) -> int:
    """utime + stime of one process so far, in clock ticks (0 once it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return 0
    after_name = stat.rsplit(")", 1)[1].split()
    return int(after_name[11]) + int(after_name[12])  # fields 14 and 15 of stat(5)


BACKEND_STATES = ("working", "waiting for a lock", "waiting for the worker")


async def backends(backlog: Backlog) -> tuple[dict[int, int], Counter[str]]:
    """The PostgreSQL backends serving the scratch database (this script's own left out):
    CPU ticks so far of each (pid -> ticks), and how many are in each of BACKEND_STATES."""
    assert backlog.pg is not None
    query = (
        "SELECT pid, state, wait_event_type FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    ticks, states = {}, Counter[str]()
    for pid, state, wait in await backlog.pg.fetch(query):
        ticks[pid] = process_ticks(pid)
        if state == "idle in transaction":  # a transaction open, the worker's turn to speak
            states["waiting for the worker"] += 1
        elif state == "active":
            states["waiting for a lock" if wait == "Lock" else "working"] += 1
    return ticks, states


@dataclass
class Mark:
    """What was counted at one moment of a measurement."""

    at: float
    sent: int
    machine: tuple[int, int]
    workers: int  # CPU ticks of the workers
    postgres: dict[int, int]  # CPU ticks of the PostgreSQL backends of the database
    states: Counter[str]  # how many of those backends were in each of BACKEND_STATES


@dataclass
class Measurement:
    workers: int
    rate: float
    machine_busy: float  # share of all cores busy
    workers_cpu: float  # cores' worth of CPU the workers used
    postgres_cpu: float  # cores' worth of CPU PostgreSQL used for this database
    states: dict[str, float]  # backends in each of BACKEND_STATES, on average


@dataclass
class Workers:
    """N ``hongyan worker`` processes, stopped by pid."""

    env: dict[str, str]
    log_dir: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    def start(self, count: int) -> None:
        for _ in range(count):
            log = self.log_dir / f"worker-{len(self.logs)}.log"
            with log.open("wb") as out:
                cmd = [sys.executable, "-m", "hongyan", "worker"]
                proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=self.env)
            self.procs.append(proc)
            self.logs.append(log)

    async def wait_started(self) -> None:
        deadline = time.monotonic() + START_WITHIN_SECS
        while not all("worker started" in log.read_text(errors="replace") for log in self.logs):
            for proc in self.procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"a worker exited early: {self.logs[-1].read_text()}")
            if time.monotonic() > deadline:
                raise RuntimeError("the workers did not start in time")
            await asyncio.sleep(0.1)

    def ticks(self) -> int:
        return sum(process_ticks(p.pid) for p in self.procs)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=STOP_WITHIN_SECS)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
        self.procs.clear()
        self.logs.clear()


async def count_sent(backlog: Backlog) -> int:
    assert backlog.pg is not None
    return int(await backlog.pg.fetchval("SELECT count(*) FROM message WHERE status = 'sent'"))


async def measure(
    count: int, backlog: Backlog, env: dict[str, str], log_dir: Path, size: int
) -> Measurement:
    """Start ``count`` workers, give them ``size`` due messages, time 10% -> 90% sent."""
    workers = Workers(env, log_dir)
    try:
        workers.start(count)
        await workers.wait_started()
        before = await count_sent(backlog)
        await backlog.add(size)  # one COPY: the whole backlog becomes visible at once
        assert backlog.pg is not None
        await backlog.pg.execute("NOTIFY hongyan_due")
        marks = await _sample(backlog, workers, before, size)
    finally:
        workers.stop()
    low, high, between = marks
    states = {name: sum(m.states[name] for m in between) / len(between) for name in BACKEND_STATES}
    secs = high.at - low.at
    busy = (high.machine[0] - low.machine[0]) / max(1, high.machine[1] - low.machine[1])
    workers_cpu = (high.workers - low.workers) / TICKS / secs
    pg_ticks = sum(ticks - low.postgres.get(pid, 0) for pid, ticks in high.postgres.items())
    postgres_cpu = pg_ticks / TICKS / secs
    rate = (high.sent - low.sent) / secs
    return Measurement(count, rate, busy, workers_cpu, postgres_cpu, states)


async def _sample(
    backlog: Backlog, workers: Workers, before: int, size: int
) -> tuple[Mark, Mark, list[Mark]]:
    """The marks at 10% and at 90% of the backlog sent, and every mark in between."""
    deadline = time.monotonic() + DRAIN_WITHIN_SECS
    low: Mark | None = None
    between: list[Mark] = []
    while time.monotonic() < deadline:
        sent = await count_sent(backlog) - before
        ticks, states = await backends(backlog)
        mark = Mark(time.perf_counter(), sent, cpu_busy_ticks(), workers.ticks(), ticks, states)
        if low is None and sent >= size * 0.1:
            low = mark
        if low is not None:
            between.append(mark)
        if low is not None and sent >= size * 0.9:
            return low, mark, between
        await asyncio.sleep(SAMPLE_SECS)
    raise RuntimeError(f"the backlog was not sent within {DRAIN_WITHIN_SECS:.0f} s")


def redis_url(candidate: str) -> str | None:
    """The Redis URL if a server answers there (a deployment has one), else None."""
    try:
        redis.Redis.from_url(candidate, socket_timeout=2).ping()
    except redis.RedisError:
        return None
    return candidate


async def main_async(args: argparse.Namespace) -> list[Measurement]:
    async with contextlib.AsyncExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hongyan-bench-s6-")))
        db = Database(await s8_backlog.scratch_postgres(args.postgres, stack))
        ctx: AppContext
        ctx, backlog = await s8_backlog.setup(db, tmp)
        stack.push_async_callback(ctx.db.dispose)
        stack.push_async_callback(backlog.close)
        secret = ctx.settings.secret_key
        assert secret is not None
        env = harness.clean_env(
            HONGYAN_DATABASE_URL=db.url,
            HONGYAN_SECRET_KEY=secret.get_secret_value(),
            HONGYAN_DATA_DIR=str(tmp),
            HONGYAN_LOG_FORMAT="json",
        )
        if url := redis_url(args.redis):
            env["HONGYAN_REDIS_URL"] = url
        await backlog.add(1)  # opens the COPY connection; this one message is sent first
        results = []
        for index in range(args.rounds):
            order = WORKER_COUNTS if index % 2 == 0 else tuple(reversed(WORKER_COUNTS))
            for count in order:
                found = await measure(count, backlog, env, tmp, args.backlog)
                print(
                    f"  round {index + 1}: {count} worker(s): {found.rate:>7,.0f} msgs/s, "
                    f"machine {found.machine_busy:.0%} busy, workers "
                    f"{found.workers_cpu:.2f} cores, PostgreSQL {found.postgres_cpu:.2f} cores; "
                    "backends " + ", ".join(f"{v:.1f} {k}" for k, v in found.states.items()),
                    flush=True,
                )
                results.append(found)
    return results


def report(results: list[Measurement]) -> None:
    """Per worker count: the mean rate, what each added worker added; the summary line."""
    rates = {n: mean(r.rate for r in results if r.workers == n) for n in WORKER_COUNTS}
    cpu = {n: mean(r.workers_cpu for r in results if r.workers == n) for n in WORKER_COUNTS}
    busy = {n: mean(r.machine_busy for r in results if r.workers == n) for n in WORKER_COUNTS}
    pg = {n: mean(r.postgres_cpu for r in results if r.workers == n) for n in WORKER_COUNTS}
    one = rates[1]
    cores = os.cpu_count() or 1
    print(f"\n{'workers':>7}{'msgs/s':>10}{'vs 1':>8}{'added per worker':>18}"
          f"{'machine busy':>14}{'worker CPU':>12}{'PostgreSQL CPU':>16}"
          f"{'CPU ms/msg':>12}")  # fmt: skip
    rows = []
    for n in WORKER_COUNTS:
        added = (rates[n] - one) / ((n - 1) * one) if n > 1 else 1.0
        print(f"{n:>7}{rates[n]:>10,.0f}{rates[n] / one:>7.2f}x{added:>17.2f}x"
              f"{busy[n]:>14.0%}{cpu[n]:>9.2f} cores{pg[n]:>10.2f} cores"
              f"{(cpu[n] + pg[n]) / rates[n] * 1000:>12.3f}")  # fmt: skip
        if n == 1:
            continue
        within_cores = n <= cores
        rows.append(
            {"label": f"S6 {n} workers ({cores} cores), added per worker",
             "figure": f"{rates[n]:,.0f}/s", "baseline": f"{one:,.0f}/s with 1 worker",
             "ratio": f"{added:.2f}x",
             "target": f">= {TARGET}x" if within_cores else f"none beyond {cores} cores",
             "met": added >= TARGET if within_cores else None}
        )  # fmt: skip
    harness.summary("s6", rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_pg = os.environ.get(
        "HONGYAN_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
    )
    default_redis = os.environ.get("HONGYAN_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    parser.add_argument("--postgres", default=default_pg, help="server for a scratch database")
    parser.add_argument("--redis", default=default_redis, help="used when it answers")
    parser.add_argument("--backlog", type=int, default=30_000, help="messages per measurement")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of 1, 2, 4 workers")
    args = parser.parse_args()
    harness.forget_hongyan_env()
    hy_logging.configure(fmt="console", level="WARNING")
    began = time.perf_counter()
    print(f"S6 scale-out on PostgreSQL; {harness.machine()}")
    results = asyncio.run(main_async(args))
    report(results)
    print(f"total {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
