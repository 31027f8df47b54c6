"""Where the time of one ``POST /v1/messages`` goes: the hot path of S1, one request at a time.

    .venv/bin/python bench/profile_send.py [--requests 500]
    (.venv/bin/pip install pyinstrument for the profile; not a dependency of the project)

In this process, with no server, no worker and no concurrency: the FastAPI app of a fresh
data dir (as ``hongyan run`` builds it) is called through httpx's ASGI transport with the
same request S1 sends. Prints

1. milliseconds per request, sequential, no profiler;
2. the SQL statements one request runs (from SQLAlchemy's cursor events);
3. with pyinstrument installed: each function's share of the requests' wall time
   (inclusive; the profiler's own overhead inflates the time, not the shares much).

What it cannot show: the cost of concurrency (SQLite's busy waits between writers, the
worker's transactions beside the requests); S1 and ``proto_write_lock.py`` show that.
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
    parser.add_argument("--top", type=int, default=40, help="functions in the profile")
    args = parser.parse_args()
    print(f"profile of one send; {harness.machine()}")
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
