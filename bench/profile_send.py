"""Where the time of ``POST /v1/messages`` goes: the hot path of S1, in process, no HTTP server.

    .venv/bin/python bench/profile_send.py [--requests 500] [--concurrency 16]
    (.venv/bin/pip install pyinstrument for the profile; not a dependency of the project)

In this process, with no server and no worker: the FastAPI app of a fresh data dir (as
``hongyan run`` builds it) is called through httpx's ASGI transport with the same request S1
sends. Prints

1. milliseconds per request, one request at a time (each its own group commit of one);
2. with --concurrency N senders at once: requests/s, the event loop's CPU per request and the
   mean number of sends per group commit (concurrent sends are written together);
3. the SQL statements one group runs (from SQLAlchemy's cursor events);
4. with pyinstrument installed: each function's share of the sequential requests' wall time
   (inclusive; the profiler's own overhead inflates the time, not the shares much).

The httpx client runs in this process too, so the rates are lower than a server's; compare
runs of this script with each other. What it cannot show: the worker's transactions beside the
requests (S1 shows that).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import harness
import httpx
from sqlalchemy import event

from hongyan.api.app import create_app
from hongyan.api.context import AppContext
from hongyan.config import Settings
from hongyan.kit import logging as hy_logging
from hongyan.messages import group


async def sends(client: httpx.AsyncClient, creds: harness.Credentials, first: int, n: int) -> None:
    """``n`` sends, one after another, each to a number of its own."""
    headers = {"Authorization": creds.authorization}
    for serial in range(first, first + n):
        body = {"to": harness.number(serial), "sign": creds.sign, "body": "您的验证码是123456"}
        response = await client.post("/v1/messages", json=body, headers=headers)
        if response.status_code != 202:
            raise RuntimeError(response.text)


def shares(root: Any, top: int) -> list[tuple[float, str]]:
    """Inclusive share of the root's time per function of ours or of the ORM/driver."""
    totals: Counter[str] = Counter()

    def walk(frame: Any, seen: frozenset[str]) -> None:
        path = frame.file_path_short or ""
        name = f"{frame.function} ({path})"
        if name not in seen and any(p in path for p in ("hongyan", "sqlalchemy", "aiosqlite")):
            totals[name] += frame.time
            seen = seen | {name}
        for child in frame.children:
            walk(child, seen)

    walk(root, frozenset())
    return [(t / root.time, name) for name, t in totals.most_common(top)]


async def main_async(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="hongyan-bench-profile-") as tmp:
        creds = await harness.prepare(Path(tmp), simulator={"rules": []})
        hy_logging.configure(fmt="json", level="WARNING")  # no line per request
        ctx = AppContext.build(Settings(data_dir=Path(tmp)))
        statements: list[str] = []

        @event.listens_for(ctx.db.engine.sync_engine, "before_cursor_execute")
        def _seen(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
            statements.append(" ".join(statement.split())[:110])

        transport = httpx.ASGITransport(app=create_app(ctx=ctx))
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            await sends(client, creds, 0, 50)  # warm-up: caches, prepared statements
            began = time.perf_counter()
            await sends(client, creds, 1_000, args.requests)
            each = (time.perf_counter() - began) / args.requests * 1000
            print(f"{args.requests} sequential sends: {each:.2f} ms each "
                  f"({1000 / each:,.0f} requests/s on one core, nothing else running)")  # fmt: skip
            if args.concurrency > 1:
                await concurrent(ctx, client, creds, args)
            statements.clear()
            await sends(client, creds, 9_000, 1)
            print(f"\nSQL of one send ({len(statements)} statements, one transaction):")
            for statement in statements:
                print(f"  {statement}")
            if importlib.util.find_spec("pyinstrument") is None:
                print("\n(pip install pyinstrument for the profile)")
            else:
                await profile(client, creds, args)
        await ctx.db.dispose()


async def concurrent(
    ctx: AppContext, client: httpx.AsyncClient, creds: harness.Credentials, args: Any
) -> None:
    """--concurrency senders at once: rate, loop CPU per request, sends per group commit."""
    committer = group.committer_of(ctx)
    groups, items = committer.groups, committer.items
    each = max(1, args.requests // args.concurrency)
    began, cpu = time.perf_counter(), time.thread_time()
    await asyncio.gather(
        *(sends(client, creds, 20_000 + i * each, each) for i in range(args.concurrency))
    )
    wall, cpu = time.perf_counter() - began, time.thread_time() - cpu
    n = each * args.concurrency
    per_group = (committer.items - items) / max(1, committer.groups - groups)
    print(f"{n} sends by {args.concurrency} concurrent senders: {n / wall:,.0f} requests/s, "
          f"{cpu / n * 1000:.2f} ms of event loop CPU each (client included), "
          f"{per_group:.1f} sends per group commit")  # fmt: skip


async def profile(client: httpx.AsyncClient, creds: harness.Credentials, args: Any) -> None:
    """The same sends under pyinstrument; each function's inclusive share."""
    from pyinstrument import Profiler

    profiler = Profiler(async_mode="enabled", interval=0.0005)
    profiler.start()
    await sends(client, creds, 10_000, args.requests)
    profiler.stop()
    session = profiler.last_session
    assert session is not None
    print(f"\nprofile ({args.requests} sends, inclusive share of their time):")
    for share, name in shares(session.root_frame(), args.top):
        print(f"  {share:6.1%}  {name}")


def main() -> None:
    """Parse arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=16, help="senders at once (1: none)")
    parser.add_argument("--top", type=int, default=40, help="functions in the profile")
    args = parser.parse_args()
    print(f"profile of one send; {harness.machine()}")
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
