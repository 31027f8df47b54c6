"""Statistics: ``GET /v1/stats`` (maintained counters) against a GROUP BY over the messages.

    .venv/bin/python bench/stats_query.py [--messages N] [--postgres URL] [--rounds N]

1. Makes a synthetic month of one tenant's traffic (fixed seed): --messages messages over 30
   days, 20 signs, 50 templates (each used with one or two signs), four countries, three
   connectors, with realistic outcomes (delivered, undelivered, expired, failed, canceled,
   still pending). Writes every message row to the ``message`` table, and the same messages'
   worth of counters to ``message_stat`` through ``repository.bump_stats`` (the upsert the
   lifecycle uses; the bumps are added up per key in memory first, which leaves the same rows).
2. Times ``GET /v1/stats`` in process (httpx ASGI transport, Basic auth, the whole FastAPI
   path) for each ``group_by`` over the last 7 days and over 30 days, and beside it the
   same-run baseline: ``SELECT <key>, status, count(*), sum(segments), sum(amount) FROM message
   WHERE tenant_id = ? AND created_at in range GROUP BY <key>, status`` on the same database,
   the query that answers the same question without counters. Median of --rounds runs each,
   after one warm-up; the message counts of both answers are checked to agree.

SQLite by default (a file in a temporary directory); ``--postgres postgresql://user@host/db``
creates a scratch database on that server and drops it at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import random
import secrets
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy import func, select, text

from hongyan.accounts import service as accounts
from hongyan.accounts.schemas import KeyCreate, TenantCreate
from hongyan.api.app import create_app
from hongyan.api.context import AppContext
from hongyan.config import Settings
from hongyan.db import Database
from hongyan.ids import new_id
from hongyan.kit import logging as hy_logging
from hongyan.messages import repository as repo
from hongyan.messages import transitions
from hongyan.models import Message

SEED = 20261125
DAYS = 30
CHUNK = 10_000
# (country, share, number prefix, price per segment in fen)
COUNTRIES = [("CN", 0.85, "+86138", 4), ("HK", 0.06, "+8526", 40), ("US", 0.05, "+1202", 40)]
COUNTRIES += [("GB", 0.04, "+447", 40)]
CONNECTORS = {"CN": ["con_cmcc", "con_vendor"], "HK": ["con_intl"], "US": ["con_intl"]}
CONNECTORS["GB"] = ["con_intl"]
# The final state of a message and how often; the rest of its path follows from it.
OUTCOMES = [("delivered", 0.90), ("undelivered", 0.04), ("expired", 0.01), ("failed", 0.02)]
OUTCOMES += [("canceled", 0.005), ("sent", 0.015), ("queued", 0.01)]
GROUP_COLUMNS = {"sign": "sign", "template": "template_id", "country": "region"}
GROUP_COLUMNS["connector"] = "connector_id"


def weighted(rng: random.Random, items: list[tuple[Any, ...]]) -> tuple[Any, ...]:
    return rng.choices(items, weights=[i[1] for i in items])[0]


class Traffic:
    """The synthetic month: message rows in chunks, and their counters added up per key."""

    def __init__(self, tenant_id: str, today: date, rng: random.Random) -> None:
        self.tenant_id, self.today, self.rng = tenant_id, today, rng
        signs = [f"签名{n:02d}" for n in range(20)]
        # Each template is used with one sign, a third of them with a second one too.
        self.pairs = [(rng.choice(signs), f"tpl_{n:02d}") for n in range(50)]
        self.pairs += [(rng.choice(signs), t) for _, t in self.pairs[:17]]
        self.stats: dict[tuple[str, ...], dict[str, int]] = defaultdict(lambda: defaultdict(int))

    def chunk(self, size: int) -> list[dict[str, Any]]:
        return [self._message() for _ in range(size)]

    def _message(self) -> dict[str, Any]:
        rng = self.rng
        country, _, prefix, price = weighted(rng, COUNTRIES)
        sign, template = rng.choice(self.pairs)
        day = self.today - timedelta(days=rng.randrange(DAYS))
        created = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(
            seconds=rng.randrange(86_400)
        )
        status = weighted(rng, OUTCOMES)[0]
        segments = 1 if rng.random() < 0.8 else 2
        sent = status in ("sent", "delivered", "undelivered", "expired")
        connector = rng.choice(CONNECTORS[country]) if sent else None
        self._count(created, sign, template, country, connector, status, segments, price)
        return {
            "id": new_id("msg"), "tenant_id": self.tenant_id, "test_mode": False,
            "msisdn": prefix + f"{rng.randrange(10**8):08d}", "region": country,
            "kind": "notification", "priority": 1, "sign": sign, "template_id": template,
            "text": "【签名】您的订单已发货", "encoding": "ucs2", "segments": segments,
            "amount": segments * price, "currency": "CNY", "status": status,
            "due_at": created, "connector_id": connector, "attempts": 1 if sent else 0,
            "parts_done": 0, "created_at": created, "updated_at": created,
        }  # fmt: skip

    def _count(self, created: datetime, *key: Any) -> None:
        sign, template, country, connector, status, segments, price = key
        base = (created.date().isoformat(), sign, template, country)
        accepted = self.stats[(*base, "")]
        accepted["submitted"] += 1
        accepted["segments"] += segments
        accepted["cost"] += segments * price
        if connector is not None:
            via = self.stats[(*base, connector)]
            via["sent"] += 1
            if status != "sent":
                via[status] += 1
        elif status in ("failed", "canceled"):
            accepted[status] += 1

    def stat_rows(self) -> list[dict[str, Any]]:
        rows = []
        for (day, sign, template, region, connector), counters in self.stats.items():
            key = {"tenant_id": self.tenant_id, "day": day, "sign": sign}
            key |= {"template_id": template, "region": region, "connector_id": connector}
            rows.append(transitions.stat_row(key, **counters))
        return rows


async def load(ctx: AppContext, traffic: Traffic, total: int) -> None:
    began = time.perf_counter()
    done = 0
    while done < total:
        rows = traffic.chunk(min(CHUNK, total - done))
        async with ctx.db.engine.begin() as conn:  # Core executemany: loading, not measured
            await conn.execute(Message.__table__.insert(), rows)
        done += len(rows)
        if done % 100_000 == 0 or done == total:
            rate = done / (time.perf_counter() - began)
            print(f"  messages written: {done:>9,} ({rate:,.0f}/s)", flush=True)
    stat_rows = traffic.stat_rows()
    began = time.perf_counter()
    for start in range(0, len(stat_rows), 5_000):
        async with ctx.db.session() as session:
            await repo.bump_stats(session, stat_rows[start : start + 5_000])
    seconds = time.perf_counter() - began
    print(f"  message_stat rows: {len(stat_rows):,} (bump_stats upserts in {seconds:.1f} s)")
    async with ctx.db.session() as session:
        await session.execute(text("ANALYZE"))


def day_of(db: Database) -> Any:
    """The UTC day of message.created_at as 'YYYY-MM-DD' on either backend."""
    if db.is_sqlite:
        return func.substr(Message.created_at, 1, 10)  # stored as 'YYYY-MM-DD HH:MM:SS...'
    return func.to_char(func.timezone("UTC", Message.created_at), "YYYY-MM-DD")


async def baseline(ctx: AppContext, tenant_id: str, group_by: str, start: date, end: date) -> int:
    """The GROUP BY over messages answering the same question; how many messages it counted."""
    key = day_of(ctx.db) if group_by == "day" else getattr(Message, GROUP_COLUMNS[group_by])
    since = datetime(start.year, start.month, start.day, tzinfo=UTC)
    until = datetime(end.year, end.month, end.day, tzinfo=UTC) + timedelta(days=1)
    sums = (func.count(), func.sum(Message.segments), func.sum(Message.amount))
    stmt = (
        select(key, Message.status, *sums)
        .where(Message.tenant_id == tenant_id)
        .where(Message.created_at >= since, Message.created_at < until)
        .group_by(key, Message.status)
    )
    async with ctx.db.session() as session:
        return sum(row[2] for row in await session.execute(stmt))


async def median_ms(action: Callable[[], Awaitable[Any]], rounds: int) -> tuple[float, Any]:
    result = await action()  # warm-up: caches, plans, pages
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        result = await action()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times), result


async def run(db: Database, args: argparse.Namespace, data_dir: Path) -> None:
    await db.upgrade()
    settings = Settings(data_dir=data_dir, secret_key="bench-" + secrets.token_hex(8))
    ctx = AppContext.build(settings.model_copy(update={"database_url": db.url}), db)
    async with ctx.db.session() as session:
        tenant = await accounts.create_tenant(
            session, actor=accounts.CLI_ACTOR, req=TenantCreate(name="bench-stats")
        )
        key = await accounts.create_key(
            session, actor=accounts.CLI_ACTOR, box=ctx.box, tenant_id=tenant.id,
            req=KeyCreate(name="bench", scopes=["read"]),
        )  # fmt: skip
    token = base64.b64encode(f"{key.key.id}:{key.secret}".encode()).decode()
    headers = {"Authorization": f"Basic {token}"}
    today = datetime.now(UTC).date()
    traffic = Traffic(tenant.id, today, random.Random(SEED))
    began = time.perf_counter()
    await load(ctx, traffic, args.messages)
    print(f"  loaded in {time.perf_counter() - began:.0f} s\n")

    transport = httpx.ASGITransport(app=create_app(ctx=ctx))
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:

        async def api(params: dict[str, str]) -> tuple[int, int]:
            response = await client.get("/v1/stats", params=params, headers=headers)
            response.raise_for_status()
            body = response.json()
            return int(body["totals"]["submitted"]), len(body["rows"])

        head = f"{'query':<36}{'rows':>5}{'GET /v1/stats':>16}{'GROUP BY messages':>20}"
        print(head + f"{'ratio':>9}", flush=True)
        for days in (7, 30):
            start = today - timedelta(days=days - 1)
            for group_by in ("day", "sign", "template", "country", "connector"):
                params = {"group_by": group_by, "from": start.isoformat(), "to": today.isoformat()}
                fast, (counted, rows) = await median_ms(lambda p=params: api(p), args.rounds)
                slow, scanned = await median_ms(
                    lambda g=group_by, s=start: baseline(ctx, tenant.id, g, s, today), args.rounds
                )
                assert counted == scanned, (group_by, days, counted, scanned)
                label = f"{group_by}, {days} days ({counted:,} msgs)"
                print(f"{label:<36}{rows:>5}{fast:>13.1f} ms{slow:>17.1f} ms{slow / fast:>8.0f}x")
    await ctx.db.dispose()


async def main_async(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="hongyan-bench-stats-") as tmp:
        if not args.postgres:
            print(f"SQLite (WAL) in {tmp}; {args.messages:,} messages")
            await run(Database(f"sqlite+aiosqlite:///{tmp}/bench.db"), args, Path(tmp))
            return
        server = args.postgres.replace("postgresql+asyncpg://", "postgresql://")
        base, _, _ = server.rpartition("/")
        name = f"hongyan_bench_stats_{secrets.token_hex(3)}"
        admin = await asyncpg.connect(server)
        await admin.execute(f'CREATE DATABASE "{name}"')
        print(f"PostgreSQL database {name} (dropped at the end); {args.messages:,} messages")
        try:
            await run(
                Database(f"postgresql+asyncpg://{base.split('://', 1)[1]}/{name}"), args, Path(tmp)
            )
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--postgres", help="postgresql://user@host:port/db to make a scratch db on")
    parser.add_argument("--rounds", type=int, default=5, help="timed runs per query (median)")
    args = parser.parse_args()
    hy_logging.configure(fmt="console", level="WARNING")  # no line per request
    print(f"python {sys.version.split()[0]}; {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    began = time.perf_counter()
    asyncio.run(main_async(args))
    print(f"\ntotal {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
