"""S5 campaign: materialize 1,000,000 recipients (render, price, check) and persist them.

    .venv/bin/python bench/s5_materialize.py [--recipients 1000000] [--chunk 5000]
    .venv/bin/python bench/s5_materialize.py --postgres postgresql://postgres@127.0.0.1:5432/test

1. A fresh database (an SQLite file in a temporary directory, or a scratch PostgreSQL database
   made and dropped by the script) gets a tenant ready for a campaign (``campaign_kit``): a
   verified company, the demo sign, an approved marketing template with two variables, a
   price, a big balance, 1,000 suppressed numbers and the default frequency limits (marketing:
   50 a day per number and template; ``--no-limits`` lifts them).
2. ``hongyan.messages.bulk.materialize`` streams the recipients (generated, never held as a
   list: unique mobiles, a fifth of them written in other forms, 1% suppressed, 1% not mobiles,
   params from 10,000 distinct sets) in chunks: each recipient checked as the batch endpoint
   would, and each chunk's rows (queued messages, holds, first events, statistics) written in
   one transaction. Timed from the first recipient to the last commit.
3. Checked after: the database holds as many messages and holds as were accepted.
4. Baseline, same run, same kind of database: a raw ``executemany`` of the same number of rows
   of the same width (the message table's 28 columns, the same values' shapes) into the
   ``message`` table of another fresh database (same indexes), in transactions of the same
   chunk size: stdlib ``sqlite3`` or asyncpg. What storing the rows costs with nothing else.
5. Figures: seconds and recipients/s of both, their ratio, peak RSS of this process
   (``ru_maxrss``) when materializing ended (before the baseline ran), and the CPU seconds of
   both (the machine is shared: CPU moves less than wall time). Targets: <= 60 s and
   <= 500 MiB. So that the script ends within ten minutes on a busy machine, the list stops
   at ``--deadline-secs`` (420 s); the whole list's time is then extrapolated, and says so.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import resource
import secrets
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import campaign_kit
import harness
from redis.asyncio import Redis
from sqlalchemy import func, select

from hongyan.api.context import AppContext
from hongyan.config import Settings
from hongyan.db import Database
from hongyan.ids import new_id
from hongyan.kit import logging as hy_logging
from hongyan.limits.backend import get_limiter
from hongyan.messages import bulk
from hongyan.models import LedgerEntry, Message

TARGET_SECS = 60.0
TARGET_RSS_MIB = 500.0
# The message table's columns, as the bulk engine writes them (bulk._row).
COLUMNS = (
    "id", "tenant_id", "api_key_id", "test_mode", "msisdn", "region", "carrier", "kind",
    "priority", "sign", "template_id", "params", "text", "encoding", "segments", "amount",
    "currency", "status", "due_at", "validity_until", "out_id", "callback_url", "tag",
    "connector_id", "attempts", "parts_done", "created_at", "updated_at",
)  # fmt: skip
# Column names are the constants above, not input: nothing to inject.
INSERT_QMARK = (
    f"INSERT INTO message ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"  # noqa: S608
)
INSERT_DOLLAR = (
    f"INSERT INTO message ({', '.join(COLUMNS)}) "  # noqa: S608
    f"VALUES ({', '.join(f'${i}' for i in range(1, len(COLUMNS) + 1))})"
)


async def forget_redis_keys(url: str, prefix: str) -> None:
    """Delete the run's limiter keys (they would otherwise live a day)."""
    client = Redis.from_url(url)
    try:
        keys = [key async for key in client.scan_iter(match=prefix + "*", count=10_000)]
        for start in range(0, len(keys), 10_000):
            await client.delete(*keys[start : start + 10_000])
    finally:
        await client.aclose()


def cpu_secs() -> float:
    """CPU seconds this process used so far, all threads (the SQLite driver's too)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mib() -> float:
    """This process's peak RSS so far (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def open_db(
    args: argparse.Namespace, tmp: Path, stack: contextlib.AsyncExitStack, tag: str
) -> Database:
    """A fresh database of the run's kind, disposed (and dropped) by ``stack``."""
    if args.postgres:
        url = await campaign_kit.scratch_postgres(args.postgres, stack, tag)
    else:
        url = f"sqlite+aiosqlite:///{tmp}/{tag}.db"
    db = Database(url)
    stack.push_async_callback(db.dispose)
    return db


def stream(args: argparse.Namespace, deadline: float) -> Iterator[bulk.Recipient]:
    """The recipients; the list ends early once ``deadline`` (perf_counter) has passed."""
    for serial, (number, params) in enumerate(campaign_kit.recipients(args.recipients)):
        if serial % args.chunk == 0 and time.perf_counter() > deadline:
            print(f"  deadline reached: the list stops after {serial:,} recipients", flush=True)
            return
        yield bulk.Recipient(number, params)


async def materialize(
    args: argparse.Namespace, tmp: Path, stack: contextlib.AsyncExitStack
) -> dict[str, Any]:
    """Prepare the tenant, then time the bulk run; its figures."""
    db = await open_db(args, tmp, stack, "s5")
    settings = Settings(data_dir=tmp, secret_key=secrets.token_hex(16), redis_url=args.redis)
    # A prefix of this run's own, so its limiter keys can be deleted from Redis after it.
    prefix = f"hy:bench-s5-{secrets.token_hex(4)}:"
    update = {"database_url": db.url, "limits_key_prefix": prefix}
    ctx = AppContext.build(settings.model_copy(update=update), db)
    if args.redis:
        stack.push_async_callback(forget_redis_keys, args.redis, prefix)
    stack.push_async_callback(get_limiter(ctx).aclose)
    ready = await campaign_kit.ready_tenant(ctx, default_limits=not args.no_limits)
    req = bulk.BulkSend(tenant_id=ready.tenant_id, sign=ready.sign, template=ready.template_id)
    cpu_began, main_began = cpu_secs(), time.thread_time()
    began = time.perf_counter()

    def progress(done: bulk.BulkResult) -> None:
        if done.chunks % max(1, 100_000 // args.chunk) == 0:
            print(f"    {done.seen:>9,} recipients after {time.perf_counter() - began:5.1f} s, "
                  f"RSS peak {peak_rss_mib():.0f} MiB", flush=True)  # fmt: skip

    recipients = stream(args, began + args.deadline_secs)
    result = await bulk.materialize(
        ctx, req=req, recipients=recipients, chunk_size=args.chunk, on_chunk=progress
    )
    secs = time.perf_counter() - began
    cpu, main_cpu = cpu_secs() - cpu_began, time.thread_time() - main_began
    rss = peak_rss_mib()
    async with ctx.db.session() as session:
        stored = await session.scalar(select(func.count()).select_from(Message))
        holds = await session.scalar(
            select(func.count()).where(
                LedgerEntry.kind == "hold", LedgerEntry.tenant_id == ready.tenant_id
            )
        )
    assert stored == holds == result.accepted, (stored, holds, result.accepted)
    return {"secs": secs, "cpu": cpu, "main_cpu": main_cpu, "rss": rss, "result": result}


def baseline_rows(count: int, chunk: int) -> Iterator[list[tuple[Any, ...]]]:
    """Rows as wide as the bulk engine's, in chunks (built in the timed loop, as rows would be)."""
    now = datetime.now(UTC)
    params = '{"name": "王先生", "points": "120"}'
    text = "【鸿雁演示】王先生您好，您的120积分将于月底到期，请及时兑换。拒收请回复R"
    for start in range(0, count, chunk):
        yield [
            (new_id("msg"), "ten_bench", None, False, f"+86139{(start + i):08d}", "CN",
             "China Mobile", "marketing", 2, "鸿雁演示", "tpl_bench", params, text, "ucs2", 1,
             5, "CNY", "queued", now, None, None, None, None, None, 0, 0, now, now)
            for i in range(min(chunk, count - start))
        ]  # fmt: skip


def _sqlite_row(row: tuple[Any, ...]) -> tuple[Any, ...]:
    # The text form SQLAlchemy stores for the message table's times on SQLite.
    return tuple(
        v.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(v, datetime) else v
        for v in row
    )


async def baseline(
    args: argparse.Namespace, tmp: Path, stack: contextlib.AsyncExitStack
) -> tuple[float, float]:
    """Seconds and CPU seconds of the raw executemany of as many rows into a fresh table."""
    db = await open_db(args, tmp, stack, "s5_baseline")
    await db.upgrade()
    if db.is_sqlite:
        conn = sqlite3.connect(db.url.split(":///", 1)[1], timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        began, cpu_began = time.perf_counter(), cpu_secs()
        for rows in baseline_rows(args.done, args.chunk):
            with conn:
                conn.executemany(INSERT_QMARK, [_sqlite_row(r) for r in rows])
        secs, cpu = time.perf_counter() - began, cpu_secs() - cpu_began
        conn.close()
        return secs, cpu
    pg = await asyncpg.connect(db.url.replace("postgresql+asyncpg", "postgresql"))
    try:
        began, cpu_began = time.perf_counter(), cpu_secs()
        for rows in baseline_rows(args.done, args.chunk):
            async with pg.transaction():
                await pg.executemany(INSERT_DOLLAR, rows)
        return time.perf_counter() - began, cpu_secs() - cpu_began
    finally:
        await pg.close()


async def main_async(args: argparse.Namespace) -> tuple[dict[str, Any], tuple[float, float]]:
    async with contextlib.AsyncExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hongyan-bench-s5-")))
        figures = await materialize(args, tmp, stack)
        print(f"  materialized in {figures['secs']:.1f} s; now the baseline", flush=True)
        args.done = figures["result"].seen  # the baseline writes as many rows
        base = await baseline(args, tmp, stack)
    return figures, base


def report(
    args: argparse.Namespace, figures: dict[str, Any], baseline: tuple[float, float], backend: str
) -> None:
    result: bulk.BulkResult = figures["result"]
    secs, rss, count = figures["secs"], figures["rss"], args.done
    full = secs * args.recipients / count  # the whole list's time, if the deadline cut it
    if count < args.recipients:
        print(
            f"\nstopped at the deadline: {count:,} of {args.recipients:,} recipients in "
            f"{secs:.1f} s; the whole list at this rate: {full:.0f} s (extrapolated)"
        )
    base, base_cpu = baseline
    ratio = base / secs  # the bulk rate over the baseline's rate
    print(f"\n{'':<44}{'seconds':>9}{'per second':>12}")
    for label, took in (
        (f"raw executemany of {count:,} rows (baseline)", base),
        (f"bulk.materialize, {count:,} recipients", secs),
    ):
        print(f"{label:<44}{took:>9.1f}{count / took:>12,.0f}")  # fmt: skip
    print(f"ratio (bulk rate / baseline rate) {ratio:.2f}x")
    print(f"accepted {result.accepted:,}; refused {sum(result.refused.values()):,}: "
          + ", ".join(f"{code} {n:,}" for code, n in result.refused.most_common()))  # fmt: skip
    print(f"peak RSS of this process while materializing: {rss:.0f} MiB")
    cpu, main_cpu = figures["cpu"], figures["main_cpu"]
    others = cpu - main_cpu
    print(f"CPU time of the baseline: {base_cpu:.1f} s; CPU ratio (baseline / bulk) "
          f"{base_cpu / cpu:.2f}x")  # fmt: skip
    print(f"CPU time while materializing: {cpu:.1f} s ({cpu / secs:.2f} cores busy): event "
          f"loop thread {main_cpu:.1f} s, other threads (the driver's) {others:.1f} s")  # fmt: skip
    time_met, rss_met = full <= TARGET_SECS, rss <= TARGET_RSS_MIB
    print(f"targets: <= {TARGET_SECS:.0f} s: {'met' if time_met else 'MISSED'}; "
          f"<= {TARGET_RSS_MIB:.0f} MiB: {'met' if rss_met else 'MISSED'}")  # fmt: skip
    limiter = (
        "no limits" if args.no_limits else "limits in Redis" if args.redis else "limits in memory"
    )
    tag = f"{backend.split()[0]}, {limiter}"
    harness.summary(
        "s5",
        [
            {"label": f"S5 materialize {args.recipients:,} ({tag})",
             "figure": f"{full:.1f} s" + (" (extrapolated)" if count < args.recipients else ""),
             "baseline": f"{base:.1f} s raw executemany", "ratio": f"{ratio:.2f}x",
             "target": f"<= {TARGET_SECS:.0f} s", "met": time_met},
            {"label": f"S5 CPU seconds, all threads ({tag})", "figure": f"{cpu:.1f} s",
             "baseline": f"{base_cpu:.1f} s", "ratio": f"{base_cpu / cpu:.2f}x", "target": "-",
             "met": None},
            {"label": f"S5 peak RSS ({tag})", "figure": f"{rss:.0f} MiB", "baseline": "-",
             "ratio": "-", "target": f"<= {TARGET_RSS_MIB:.0f} MiB", "met": rss_met},
        ],
    )  # fmt: skip


def main() -> None:
    """Parse arguments, run, print the figures and the summary line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=bulk.DEFAULT_CHUNK)
    parser.add_argument("--no-limits", action="store_true", help="lift the frequency limits")
    parser.add_argument(
        "--deadline-secs", type=float, default=420.0, help="stop the list after this long"
    )
    parser.add_argument("--postgres", help="postgresql://user@host:port/db to make scratch dbs on")
    parser.add_argument("--redis", help="redis://host:port/db: frequency limits kept in Redis")
    args = parser.parse_args()
    harness.forget_hongyan_env()
    hy_logging.configure(fmt="console", level="WARNING")
    backend = "PostgreSQL" if args.postgres else "SQLite (WAL)"
    print(f"S5 materialize on {backend}; {harness.machine()}")
    began = time.perf_counter()
    figures, base = asyncio.run(main_async(args))
    report(args, figures, base, backend)
    print(f"total {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
