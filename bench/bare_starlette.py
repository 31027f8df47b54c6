"""S1's same-run baseline: a bare Starlette endpoint that parses the JSON and writes one row.

    python bench/bare_starlette.py --port P --db /tmp/x/bare.db [--driver sqlite3|aiosqlite]

``POST /v1/messages`` reads the same body Hongyan gets, checks the fields are there, inserts one
row (a time-ordered text key, the number, sign, text, status, time) into an SQLite file with the
pragmas Hongyan uses (WAL, synchronous=NORMAL) and commits: one transaction per request. Served
by uvicorn with the same options as ``hongyan run`` (one process, no access log). No
authentication, no validation beyond presence, no ORM: the floor of a durable JSON write.

``--driver sqlite3`` (default) calls the stdlib module on the event loop (each commit blocks it
for its duration, which is how the cheapest possible endpoint would do it); ``aiosqlite`` goes
through a thread, as Hongyan's engine does.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sqlite3
import time
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA busy_timeout=10000")
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS message (id TEXT PRIMARY KEY, msisdn TEXT NOT NULL, sign TEXT, "
    "text TEXT NOT NULL, status TEXT NOT NULL, created_at TEXT NOT NULL)"
)
INSERT = "INSERT INTO message VALUES (?, ?, ?, ?, ?, ?)"


class _Ids:
    """Time-ordered text keys (milliseconds, then a counter), as Hongyan's ids are."""

    def __init__(self) -> None:
        self.last = 0
        self.seq = 0

    def new(self) -> str:
        now = time.time_ns() // 1_000_000
        if now <= self.last:
            self.seq += 1
        else:
            self.last, self.seq = now, 0
        return f"msg_{self.last:012x}{self.seq:06x}{os.urandom(5).hex()}"


def _row(data: dict[str, Any], ids: _Ids) -> tuple[str, ...]:
    if not isinstance(data.get("to"), str) or not isinstance(data.get("body"), str):
        raise ValueError("to and body are required")
    now = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    return (ids.new(), data["to"], data.get("sign") or "", data["body"], "queued", now)


async def healthz(_: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


HEALTH = Route("/healthz", healthz)  # so the bench knows when it is up


def sync_app(path: str) -> Starlette:
    """The endpoint with the stdlib sqlite3 module, called on the event loop."""
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    for statement in (*PRAGMAS, SCHEMA):
        db.execute(statement)
    ids = _Ids()

    async def send(request: Request) -> JSONResponse:
        try:
            row = _row(json.loads(await request.body()), ids)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        db.execute("BEGIN")
        db.execute(INSERT, row)
        db.execute("COMMIT")
        return JSONResponse({"id": row[0], "status": "queued"}, status_code=202)

    return Starlette(routes=[Route("/v1/messages", send, methods=["POST"]), HEALTH])


def async_app(path: str) -> Starlette:
    """The endpoint with aiosqlite (a thread per connection, as SQLAlchemy's driver uses)."""
    import aiosqlite

    state: dict[str, Any] = {}
    ids = _Ids()

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        async with aiosqlite.connect(path, isolation_level=None) as db:
            for statement in (*PRAGMAS, SCHEMA):
                await db.execute(statement)
            state["db"] = db
            yield

    async def send(request: Request) -> JSONResponse:
        try:
            row = _row(json.loads(await request.body()), ids)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        db = state["db"]
        await db.execute("BEGIN")
        await db.execute(INSERT, row)
        await db.execute("COMMIT")
        return JSONResponse({"id": row[0], "status": "queued"}, status_code=202)

    routes = [Route("/v1/messages", send, methods=["POST"]), HEALTH]
    return Starlette(routes=routes, lifespan=lifespan)


def main() -> None:
    """Serve the endpoint until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--driver", choices=["sqlite3", "aiosqlite"], default="sqlite3")
    args = parser.parse_args()
    app = sync_app(args.db) if args.driver == "sqlite3" else async_app(args.db)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
