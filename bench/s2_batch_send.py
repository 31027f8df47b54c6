"""S2 batch send: ``POST /v1/messages/batch`` with 1,000 recipients a request, over HTTP.

    .venv/bin/python bench/s2_batch_send.py [--requests 40] [--clients 2]
    .venv/bin/python bench/s2_batch_send.py --postgres postgresql://postgres@127.0.0.1:5432/test
    .venv/bin/python bench/s2_batch_send.py --py-spy /path/to/py-spy --profile /tmp/s2.raw

1. A fresh data dir (and, with --postgres, a scratch database on that server) gets a tenant
   ready for a campaign (``campaign_kit``: verified, the demo sign, an approved marketing
   template with two variables, a price, a big balance, 1,000 suppressed numbers, the default
   limits) and the default simulator set to answer at once and send no receipts.
2. ``hongyan run`` starts on a free port (its own process). Request bodies are built before
   timing: the template, the sign and 1,000 recipients each (``campaign_kit.recipients``:
   unique mobiles, a fifth written in other forms, 1% suppressed, 1% not mobiles, params from
   10,000 sets), so every request is checked in full: sign, template params, number, content
   scan, suppression, price, balance, limits, then the hold, rows, events and statistics.
3. Two modes, each on its own recipients: "accept only" (``send_at`` a day ahead: the same
   work, nothing for the worker) and "sending" (queued: the in-process dispatcher sends to the
   simulator at the same time). ``--clients`` keep-alive connections post the requests; the
   rate is recipients answered (accepted or refused) per second.
4. Baseline, same run, this process: ``phonenumbers.parse`` + ``is_valid_number`` over the same
   numbers as written (the S2 row of BENCHMARKS.md), measured before each mode and after the
   last, then averaged. Target: the accept-only rate >= 0.6x the baseline.
5. The machine is shared, so the rates move with its load; the script also gives recipients
   per CPU second of the server process (from /proc) against numbers per CPU second of the
   baseline: the ratio the two would have on equal cores.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import campaign_kit
import harness
import httpx
import phonenumbers

from hongyan.accounts import service as accounts
from hongyan.api.context import AppContext
from hongyan.config import Settings
from hongyan.kit import logging as hy_logging
from hongyan.routing import service as routing
from hongyan.routing.schemas import ConnectorUpdate

BATCH = 1_000
TARGET = 0.6
INSTANT = {"latency_ms": 0, "rules": [{"pattern": ".", "match": "regex", "outcome": "no_receipt"}]}


async def prepare(data_dir: Path, database_url: str) -> campaign_kit.Ready:
    """The tenant and the instant simulator, in the database the server will use."""
    harness.forget_hongyan_env()
    settings = Settings(data_dir=data_dir, database_url=database_url)
    ctx = AppContext.build(settings)
    try:
        ready = await campaign_kit.ready_tenant(ctx)
        async with ctx.db.session() as session:
            await routing.update_connector(
                session,
                ctx=ctx,
                actor=accounts.CLI_ACTOR,
                ref=routing.DEFAULT_CONNECTOR,
                req=ConnectorUpdate(settings=INSTANT),
            )
    finally:
        await ctx.db.dispose()
    return ready


def bodies(
    ready: campaign_kit.Ready, numbers: list[tuple[str, dict[str, str]]], send_at: str | None
) -> list[bytes]:
    """One JSON body per 1,000 recipients."""
    out = []
    for start in range(0, len(numbers), BATCH):
        body: dict[str, Any] = {
            "sign": ready.sign,
            "template": ready.template_id,
            "recipients": [{"to": n, "params": p} for n, p in numbers[start : start + BATCH]],
        }
        if send_at:
            body["send_at"] = send_at
        out.append(json.dumps(body, ensure_ascii=False).encode())
    return out


async def post_all(
    url: str, ready: campaign_kit.Ready, payloads: list[bytes], clients: int
) -> dict[str, float]:
    """Post every body over ``clients`` keep-alive connections; seconds and counts."""
    headers = {
        "Authorization": ready.credentials.authorization,
        "Content-Type": "application/json",
    }
    queue = list(reversed(payloads))
    counts = {"accepted": 0.0, "rejected": 0.0, "failed": 0.0}

    async def client() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=120) as http:
            while queue:
                answer = await http.post("/v1/messages/batch", content=queue.pop(), headers=headers)
                if answer.status_code != 202:
                    counts["failed"] += 1
                    print(f"    {answer.status_code}: {answer.text[:200]}", flush=True)
                    continue
                got = answer.json()
                counts["accepted"] += len(got["accepted"])
                counts["rejected"] += len(got["rejected"])

    began = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return {"secs": time.perf_counter() - began, **counts}


def baseline(numbers: list[tuple[str, dict[str, str]]]) -> tuple[float, float]:
    """Numbers per second and per CPU second: ``phonenumbers.parse`` + ``is_valid_number``."""
    began, cpu_began = time.perf_counter(), time.process_time()
    for raw, _ in numbers:
        with contextlib.suppress(phonenumbers.NumberParseException):
            phonenumbers.is_valid_number(phonenumbers.parse(raw, "CN"))
    cpu = time.process_time() - cpu_began
    return len(numbers) / (time.perf_counter() - began), len(numbers) / cpu


def cpu_of(pid: int) -> float:
    """CPU seconds a process used so far (utime + stime of /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_command(args: argparse.Namespace, data_dir: Path) -> list[str] | None:
    """``python -m hongyan``, under py-spy when a profile is asked for."""
    if not args.py_spy:
        return None
    profile = args.profile or str(data_dir / "s2-profile.raw")
    spy = [args.py_spy, "record", "-r", "100", "-f", "raw", "-o", profile, "--"]
    return [*spy, sys.executable, "-m", "hongyan"]


async def run(args: argparse.Namespace, tmp: Path, stack: contextlib.AsyncExitStack) -> dict:
    """Prepare, serve, post both modes between two baseline rounds; the figures."""
    database_url = ""
    if args.postgres:
        database_url = await campaign_kit.scratch_postgres(args.postgres, stack, "s2")
    ready = await prepare(tmp, database_url)
    per_mode = args.requests * BATCH
    numbers = list(campaign_kit.recipients((2 * per_mode) + 4 * BATCH))
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    warm, rest = numbers[: 4 * BATCH], numbers[4 * BATCH :]
    modes = {
        "accept only": bodies(ready, rest[:per_mode], later),
        "sending": bodies(ready, rest[per_mode:], None),
    }
    env = {"HONGYAN_DATABASE_URL": database_url} if database_url else {}
    server = harness.Server(tmp, env=env, python=server_command(args, tmp))
    figures: dict[str, Any] = {"baseline": []}
    stack.callback(server.stop)
    server.start()
    await post_all(server.url, ready, bodies(ready, warm, later), args.clients)  # warm-up
    for mode, payloads in modes.items():
        figures["baseline"].append(baseline(rest))  # the machine drifts: one before each mode
        cpu_began = cpu_of(server.pid)
        figures[mode] = await post_all(server.url, ready, payloads, args.clients)
        figures[mode]["cpu"] = cpu_of(server.pid) - cpu_began
        print(f"  {mode}: {figures[mode]['secs']:.1f} s, server CPU {figures[mode]['cpu']:.1f} s")
    figures["rss_mib"] = harness.proc_status(server.pid)["VmHWM"] / 1024
    server.stop()
    figures["baseline"].append(baseline(rest))
    return figures


def report(args: argparse.Namespace, figures: dict[str, Any], backend: str) -> None:
    rounds = figures["baseline"]
    base = sum(wall for wall, _ in rounds) / len(rounds)
    base_cpu = sum(cpu for _, cpu in rounds) / len(rounds)
    spread = " / ".join(f"{wall:,.0f}" for wall, _ in rounds)
    print(f"\nbaseline phonenumbers.parse + is_valid_number: {base:,.0f} numbers/s ({spread}); "
          f"{base_cpu:,.0f} per CPU second")  # fmt: skip
    rows = []
    for mode in ("accept only", "sending"):
        got = figures[mode]
        count = got["accepted"] + got["rejected"]
        rate, ratio = count / got["secs"], count / got["secs"] / base
        per_cpu = count / got["cpu"]
        print(f"{mode:<12} {rate:>8,.0f} recipients/s  ratio {ratio:.3f}x  accepted "
              f"{got['accepted']:,.0f}, refused {got['rejected']:,.0f}, failed requests "
              f"{got['failed']:,.0f}; {per_cpu:,.0f} per server CPU second, CPU ratio "
              f"{per_cpu / base_cpu:.3f}x")  # fmt: skip
        target = f">= {TARGET}x" if mode == "accept only" else "-"
        met = ratio >= TARGET if mode == "accept only" else None
        rows.append({"label": f"S2 batch send, {mode} ({backend.split()[0]})",
                     "figure": f"{rate:,.0f}/s", "baseline": f"{base:,.0f}/s parse+is_valid",
                     "ratio": f"{ratio:.3f}x", "target": target, "met": met})  # fmt: skip
    print(f"server peak RSS {figures['rss_mib']:.0f} MiB; clients {args.clients}")
    verdict = "met" if rows[0]["met"] else "MISSED"
    print(f"target accept-only >= {TARGET}x the baseline: {verdict}")
    harness.summary("s2", rows)


def main() -> None:
    """Parse arguments, run, print the figures and the summary line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=40, help="requests of 1,000 per mode")
    parser.add_argument("--clients", type=int, default=2, help="concurrent connections")
    parser.add_argument("--postgres", help="postgresql://user@host:port/db to make a scratch db on")
    parser.add_argument("--py-spy", help="profile the server with this py-spy binary")
    parser.add_argument("--profile", help="where py-spy writes (raw, collapsed stacks)")
    args = parser.parse_args()
    harness.forget_hongyan_env()
    hy_logging.configure(fmt="console", level="WARNING")
    backend = "PostgreSQL" if args.postgres else "SQLite (WAL)"
    print(f"S2 batch send on {backend}; {harness.machine()}")
    began = time.perf_counter()

    async def main_async() -> dict:
        async with contextlib.AsyncExitStack() as stack:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hongyan-s2-")))
            return await run(args, tmp, stack)

    report(args, asyncio.run(main_async()), backend)
    print(f"total {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
