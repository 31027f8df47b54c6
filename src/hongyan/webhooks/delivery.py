"""Delivering queued events: claim a batch, POST it concurrently, record every outcome.

One batch = three steps, and no database connection is held while waiting on the network:

1. claim (one statement): due deliveries of endpoints that are not paused, leased to us;
2. POST them over the process's one ``httpx.AsyncClient`` (keep-alive), at most
   ``webhook_concurrency`` at once and at most ``PER_TARGET`` at once per endpoint (or per
   callback URL), each cut off after ``webhook_timeout_secs``;
3. record (one statement per table): delivered, retry later, or dead.

A target that times out, cannot be reached or answers 5xx/408/429 is "failing": its deliveries
of the batch not yet started are postponed untried, and an endpoint is paused with a growing
backoff, so its later deliveries are not even claimed until then. A slow or dead endpoint thus
costs one timeout per pause, and only on its own lanes. Retries back off (``retry.py``, with
jitter) until ``webhook_retry_window_secs`` after the first attempt; then the delivery is
dead (dead-lettered) and waits for a manual replay.

Delivery is at least once: a worker that dies after a POST but before recording it leaves the
row to be taken over when its lease ends, and the event is sent again with the same event id.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
import structlog
from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession

from hongyan import __version__
from hongyan.api.context import AppContext
from hongyan.models import WebhookDelivery, utcnow
from hongyan.webhooks import endpoints
from hongyan.webhooks import repository as repo
from hongyan.webhooks.retry import POSTPONED, Result, outcome, retry_delay
from hongyan.webhooks.urls import resolves_privately
from hongyan.webhooks.verify import EVENT_ID_HEADER, SIGNATURE_HEADER, signature_header

log = structlog.get_logger("hongyan.webhooks")

DELIVERIES = Counter(
    "hongyan_webhook_deliveries_total",
    "Webhook delivery outcomes: delivered, retry, dead, postponed (target failing), discarded",
    ["outcome"],
)

STATE_KEY = "webhooks.deliverer"
PER_TARGET = 4  # POSTs in flight at once to one endpoint or callback URL
_READ_LIMIT = 64 * 1024  # response bytes read (for keep-alive reuse and the error text)
_SNIPPET = 200  # response characters kept in last_error
OUT_OF_TIME = Result(error="postponed: the batch ran out of time", postponed=True)
UNDECRYPTABLE = "the signing secret cannot be decrypted (was the instance secret key changed?)"


@dataclass
class _Lane:
    slots: asyncio.Semaphore
    users: int = 0


@dataclass
class Deliverer:
    """What one process keeps between batches: the client and its concurrency limits."""

    client: httpx.AsyncClient
    slots: asyncio.Semaphore
    lanes: dict[str, _Lane] = field(default_factory=dict)

    @asynccontextmanager
    async def lane(self, target: str) -> AsyncIterator[None]:
        """One of the PER_TARGET places of a target, shared by every batch of the process."""
        lane = self.lanes.get(target)
        if lane is None:
            lane = self.lanes[target] = _Lane(asyncio.Semaphore(PER_TARGET))
        lane.users += 1
        try:
            async with lane.slots:
                yield
        finally:
            lane.users -= 1
            if lane.users == 0:  # forgotten when idle, so callback URLs do not pile up
                del self.lanes[target]


def deliverer(ctx: AppContext) -> Deliverer:
    """The process's deliverer, with one shared keep-alive HTTP client, created on first use."""
    state = ctx.caches.get(STATE_KEY)
    if isinstance(state, Deliverer):
        return state
    s = ctx.settings
    client = httpx.AsyncClient(
        timeout=httpx.Timeout(s.webhook_timeout_secs),
        limits=httpx.Limits(
            max_connections=s.webhook_concurrency, max_keepalive_connections=s.webhook_concurrency
        ),
        follow_redirects=False,  # a redirect is an answer, not a delivery (see the how-to)
        headers={"User-Agent": f"Hongyan-Webhooks/{__version__}"},
    )
    state = ctx.caches[STATE_KEY] = Deliverer(client, asyncio.Semaphore(s.webhook_concurrency))
    return state


async def close(ctx: AppContext) -> None:
    """Close the shared HTTP client (at shutdown, or at the end of a test)."""
    state = ctx.caches.pop(STATE_KEY, None)
    if isinstance(state, Deliverer):
        await state.client.aclose()


def lease_secs(ctx: AppContext) -> float:
    """How long a batch owns its rows: every POST of it on one lane, one after the other."""
    s = ctx.settings
    rounds = -(-s.webhook_batch_size // PER_TARGET) + 1
    return s.webhook_timeout_secs * rounds + 30


def start_deadline_secs(ctx: AppContext) -> float:
    """No POST of a batch starts later than this after the batch, so all end within its lease.

    Lanes and slots are shared by the batches of a process, so a batch can wait behind others;
    what it could not start in time is postponed, never sent after its lease has run out.
    """
    return lease_secs(ctx) - ctx.settings.webhook_timeout_secs - 15


@dataclass(frozen=True, slots=True)
class _Job:
    """A claimed delivery, ready to POST."""

    row: WebhookDelivery
    target: str  # endpoint id, or the callback URL
    url: str
    secrets: tuple[str, ...]
    body: bytes
    failures: int | None  # the endpoint's consecutive failed batches; None for a callback URL


def body_of(row: WebhookDelivery) -> bytes:
    """The JSON body: the same bytes on every attempt of a delivery."""
    event = {
        "id": row.event_id,
        "type": row.event_type,
        "created_at": row.created_at.isoformat().replace("+00:00", "Z"),
        "data": row.payload,
    }
    return json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()


async def deliver_batch(ctx: AppContext, *, now: datetime | None = None) -> int:
    """Claim one batch of due deliveries, POST them and record the outcomes; how many."""
    now = now or utcnow()
    token = secrets.token_hex(16)
    async with ctx.db.session() as session:
        rows = await repo.claim_due(
            session,
            now=now,
            limit=ctx.settings.webhook_batch_size,
            lease_until=now + timedelta(seconds=lease_secs(ctx)),
            token=token,
        )
        if not rows:
            return 0
        jobs, finished = await _prepare(session, ctx, rows, now)
    results = await _send_all(ctx, deliverer(ctx), jobs)
    async with ctx.db.session() as session:
        await _record(session, jobs, results, finished, token=token, now=now, ctx=ctx)
    return len(rows)


async def _prepare(
    session: AsyncSession, ctx: AppContext, rows: Sequence[WebhookDelivery], now: datetime
) -> tuple[list[_Job], list[tuple[WebhookDelivery, Result]]]:
    """Jobs to POST, and rows settled without a POST (endpoint gone or disabled)."""
    by_id = {e.id: e for e in await repo.endpoints_by_ids(session, _endpoint_ids(rows))}
    callback_tenants = [r.tenant_id for r in rows if r.endpoint_id is None]
    callback = await endpoints.ensure_callback_secrets(
        session, box=ctx.box, tenant_ids=callback_tenants
    )
    keys: dict[str, tuple[str, ...]] = {}
    jobs: list[_Job] = []
    finished: list[tuple[WebhookDelivery, Result]] = []
    orphans: list[str] = []
    for row in rows:
        endpoint = by_id.get(row.endpoint_id) if row.endpoint_id else None
        if row.endpoint_id and endpoint is None:
            orphans.append(row.id)  # queued from a stale cache just as its endpoint was deleted
            continue
        if endpoint is not None and not endpoint.enabled:
            finished.append((row, Result(error=endpoints.DISABLED_ERROR)))
            continue
        holder = endpoint or callback[row.tenant_id]
        # Callback URLs are keyed by tenant too: two tenants may name one URL, never one secret.
        target = endpoint.id if endpoint else f"{row.tenant_id} {row.url}"
        if target not in keys:
            try:
                keys[target] = tuple(endpoints.signing_secrets(holder, ctx.box, now))
            except ValueError:  # encrypted with another secret key: no retry can help
                keys[target] = ()
        if not keys[target]:
            finished.append((row, Result(error=UNDECRYPTABLE)))
            continue
        url = endpoint.url if endpoint else row.url
        failures = endpoint.consecutive_failures if endpoint else None
        jobs.append(_Job(row, target, url, keys[target], body_of(row), failures))
    await repo.delete_deliveries(session, orphans)
    DELIVERIES.labels("discarded").inc(len(orphans))
    return jobs, finished


def _endpoint_ids(rows: Sequence[WebhookDelivery]) -> list[str]:
    return list({r.endpoint_id for r in rows if r.endpoint_id})


async def _send_all(ctx: AppContext, state: Deliverer, jobs: Sequence[_Job]) -> dict[str, Result]:
    """POST every job: bounded overall and per target; a failing target stops being tried."""
    results: dict[str, Result] = {}
    failing: set[str] = set()
    deadline = time.monotonic() + start_deadline_secs(ctx)

    def skip(job: _Job) -> Result | None:
        if job.target in failing:
            return POSTPONED
        return OUT_OF_TIME if time.monotonic() > deadline else None

    async def one(job: _Job) -> None:
        async with state.lane(job.target):
            if (skipped := skip(job)) is not None:
                results[job.row.id] = skipped
                return
            async with state.slots:
                if (skipped := skip(job)) is not None:
                    results[job.row.id] = skipped
                    return
                result = await post(ctx, state.client, job.url, job.body, job.row, job.secrets)
            results[job.row.id] = result
            if result.trips:
                failing.add(job.target)

    await asyncio.gather(*(one(job) for job in jobs))
    return results


async def post(
    ctx: AppContext,
    client: httpx.AsyncClient,
    url: str,
    body: bytes,
    row: WebhookDelivery,
    keys: Sequence[str],
) -> Result:
    """One signed POST, never raising: the outcome says what happened."""
    timeout = ctx.settings.webhook_timeout_secs
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        EVENT_ID_HEADER: row.event_id,
        "Hongyan-Event-Type": row.event_type,
        "Hongyan-Delivery-Id": row.id,
        SIGNATURE_HEADER: signature_header(keys, body, timestamp=int(time.time())),
    }
    try:
        async with asyncio.timeout(timeout):
            if not ctx.settings.webhook_allow_private_hosts and await resolves_privately(url):
                return Result(error="refused: the host is a private or local address")
            async with client.stream("POST", url, content=body, headers=headers) as response:
                snippet = await _read_some(response)
    except (TimeoutError, httpx.TimeoutException):
        return Result(error=f"timeout: no answer within {timeout:g} s")
    except Exception as exc:  # any failure of one POST is that delivery's outcome, not ours
        return Result(error=_describe(exc))
    if 200 <= response.status_code < 300:
        return Result(status_code=response.status_code)
    text = snippet.decode("utf-8", errors="replace").strip()[:_SNIPPET]
    error = f"HTTP {response.status_code}" + (f": {text}" if text else "")
    return Result(status_code=response.status_code, error=error)


async def _read_some(response: httpx.Response) -> bytes:
    """Up to _READ_LIMIT bytes of the answer: reading it lets the connection be reused."""
    data = b""
    async for chunk in response.aiter_raw():
        data += chunk
        if len(data) >= _READ_LIMIT:
            break
    return data


def _describe(exc: BaseException) -> str:
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.ConnectError):
        return f"connection failed: {detail}"
    return f"{type(exc).__name__}: {detail}"


async def _record(
    session: AsyncSession,
    jobs: Sequence[_Job],
    results: dict[str, Result],
    finished: Sequence[tuple[WebhookDelivery, Result]],
    *,
    token: str,
    now: datetime,
    ctx: AppContext,
) -> None:
    """Write every outcome and the endpoints' health, one statement per table."""
    window = timedelta(seconds=ctx.settings.webhook_retry_window_secs)
    health = endpoint_health(jobs, results, now)
    rows = []
    for job in jobs:
        pause = health.get(job.target, {}).get("v_paused_until")
        result = results[job.row.id]
        rows.append(outcome(job.row, result, now=now, window=window, url=job.url, pause=pause))
        DELIVERIES.labels(_label(rows[-1]["v_status"], result)).inc()
    for row, result in finished:
        rows.append(outcome(row, result, now=now, window=window, url=row.url, final=True))
        DELIVERIES.labels("dead").inc()
    for values in rows:
        values["b_token"] = token
    await repo.record_outcomes(session, rows)
    await repo.set_endpoint_health(session, list(health.values()))


def _label(status: str, result: Result) -> str:
    if status == "pending":
        return "postponed" if result.postponed else "retry"
    return status


def endpoint_health(
    jobs: Sequence[_Job], results: dict[str, Result], now: datetime
) -> dict[str, dict[str, Any]]:
    """Endpoints whose state changes: paused longer after failing, or back to healthy."""
    by_target: dict[str, list[_Job]] = defaultdict(list)
    for job in jobs:
        if job.failures is not None:
            by_target[job.target].append(job)
    health: dict[str, dict[str, Any]] = {}
    for target, items in by_target.items():
        outs = [results[j.row.id] for j in items]
        failures = items[0].failures or 0
        if any(r.trips for r in outs):
            paused_until = now + retry_delay(failures + 1)
            health[target] = {
                "b_id": target,
                "v_failures": failures + 1,
                "v_paused_until": paused_until,
            }
        elif failures and any(r.ok for r in outs):
            health[target] = {"b_id": target, "v_failures": 0, "v_paused_until": None}
    return health
