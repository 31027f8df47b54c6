"""The dispatcher: claim due messages in batches, hand them to connectors, record the outcome.

One batch goes through three steps, never more than one transaction open at a time:

1. claim (one transaction, committed): up to ``dispatch_batch_size`` due ``queued`` messages,
   verification before notification before marketing, become ``sending`` under a lease;
2. send (no transaction): expired ones are not sent; the rest go through routing with
   failover (test-mode messages only ever to a simulator: routing sees to it). The lease is
   renewed meanwhile;
3. record (one transaction): parts and ``sent``, ``failed``, or back to ``queued`` with
   backoff — only for claims this worker still holds — then receipts that came early.

A worker that dies between 1 and 3 leaves its claims to ``leases.reclaim_leases``.

Connectors with leased binds (SMPP, ``routing.binds``): a message routed to one whose binds
another worker holds is handed over — back to ``queued``, pinned to the connector, its
attempt not counted — and only a worker holding a bind of it claims it (before unpinned
messages). Requeued for a retry, a message loses its pin and is routed afresh.
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import socket
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import structlog

from hongyan.api.context import AppContext
from hongyan.config import Settings
from hongyan.connectors.base import (
    OutboundSms,
    PermanentSendError,
    RetryableSendError,
    SendError,
)
from hongyan.dlr import service as dlr
from hongyan.errors import HongyanError
from hongyan.messages import repository as messages_repo
from hongyan.messages import transitions
from hongyan.messages.transitions import Change
from hongyan.models import Message, utcnow
from hongyan.routing import binds
from hongyan.routing import service as routing
from hongyan.routing.manager import get_manager
from hongyan.worker import leases, metrics, scheduler
from hongyan.worker import repository as repo

log = structlog.get_logger("hongyan.worker.dispatcher")

_OWNER_KEY = "dispatch_owner"
_SINKS_KEY = "dispatch_sinks_set"


def owner_of(ctx: AppContext) -> str:
    """This process's (this context's) name on the leases it takes."""
    owner: str = ctx.caches.setdefault(
        _OWNER_KEY, f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"
    )
    return owner


@dataclass(frozen=True, slots=True)
class Verdict:
    """What became of one claimed message."""

    # unknown: a connector failed in a way that may have let messages out (crash policy)
    # handoff: another worker holds the connector's binds; connector_id names it
    outcome: Literal["sent", "failed", "retry", "unknown", "handoff"]
    connector_id: str | None = None
    upstream_ids: tuple[str, ...] = ()
    code: str | None = None
    detail: str | None = None
    raw_code: str | None = None
    retry_in: timedelta | None = None  # the connector's hint, for "retry"


async def dispatch(ctx: AppContext) -> int:
    """The worker job: dispatch batches while they come back full, within a time slice.

    On PostgreSQL a few loops run side by side (``dispatch_concurrency``, a fixed number,
    never a task per message); SKIP LOCKED keeps their claims apart.
    """
    loops = 1 if ctx.db.is_sqlite else max(1, ctx.settings.dispatch_concurrency)
    results = await asyncio.gather(
        *(scheduler.drain(ctx, lambda: dispatch_once(ctx)) for _ in range(loops)),
        return_exceptions=True,  # every loop finishes its batch before the job reports
    )
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return sum(r for r in results if isinstance(r, int))


async def dispatch_once(ctx: AppContext, *, now: datetime | None = None) -> int:
    """Claim, send and record one batch; return how many messages it claimed."""
    now = now or utcnow()
    started = time.perf_counter()
    owner = owner_of(ctx)
    _ensure_sinks(ctx)  # before the bind keeper opens its first connectors
    keeper = await binds.ensure_started(ctx, owner=owner)
    pinned_to = keeper.held_connectors() if keeper is not None else []
    claimed = await _claim(ctx, now=now, owner=owner, pinned_to=pinned_to)
    if not claimed:
        return 0
    metrics.count_claimed(claimed)
    async with leases.kept(ctx, ids=[m.id for m in claimed], owner=owner):
        verdicts = await _send(ctx, claimed, now=now)
    await _record(ctx, claimed, verdicts, owner=owner, now=now)
    metrics.BATCH_SECONDS.observe(time.perf_counter() - started)
    return len(claimed)


async def _claim(
    ctx: AppContext, *, now: datetime, owner: str, pinned_to: Sequence[str] = ()
) -> list[Message]:
    lease_until = now + timedelta(seconds=ctx.settings.dispatch_lease_secs)
    async with ctx.db.session() as session:
        claimed = await messages_repo.claim_due(
            session,
            now=now,
            limit=ctx.settings.dispatch_batch_size,
            owner=owner,
            lease_until=lease_until,
            pinned_to=pinned_to,  # connectors whose binds this worker holds: theirs first
        )
        await messages_repo.insert_events(
            session,
            [
                {
                    "message_id": m.id,
                    "status": "sending",
                    "at": now,
                    "detail": f"attempt {m.attempts} by {owner}",
                }
                for m in claimed
            ],
        )
    return claimed


async def _send(
    ctx: AppContext, claimed: Sequence[Message], *, now: datetime
) -> dict[str, Verdict]:
    verdicts: dict[str, Verdict] = {}
    live: list[Message] = []
    for m in claimed:
        if m.validity_until is not None and m.validity_until <= now:
            verdicts[m.id] = Verdict(
                "failed", code="EXPIRED", detail="validity ran out before sending"
            )
        else:
            live.append(m)
    if not live:
        return verdicts
    by_id = {m.id: m for m in live}
    async with ctx.db.sessions() as session:
        outcomes = await routing.send_with_failover(
            ctx,
            session,
            msgs=[outbound(m) for m in live],
            carrier_of=lambda sms: by_id[sms.message_id].carrier,
            pinned_of=lambda sms: by_id[sms.message_id].pinned_connector_id or None,
        )
    for o in outcomes:
        verdicts[o.message_id] = _verdict(o)
    return verdicts


def _ensure_sinks(ctx: AppContext) -> None:
    # Connectors started by this process hand their receipts and inbound messages to the
    # receipts domain, which stores them before it returns.
    if not ctx.caches.get(_SINKS_KEY):
        get_manager(ctx).set_sinks(dlr.sinks(ctx))
        ctx.caches[_SINKS_KEY] = True


def outbound(message: Message) -> OutboundSms:
    """The connector's view of a message."""
    return OutboundSms(
        message_id=message.id,
        tenant_id=message.tenant_id,
        msisdn=message.msisdn,
        text=message.text,
        encoding="gsm7" if message.encoding == "gsm7" else "ucs2",
        segments=message.segments,
        kind=message.kind,  # type: ignore[arg-type]  # checked at accept
        region=message.region,
        sign=message.sign,
        template_id=message.template_id,
        params={k: str(v) for k, v in (message.params or {}).items()},
        validity_until=message.validity_until,
        test_mode=message.test_mode,
    )


def _verdict(o: routing.Outcome) -> Verdict:
    if o.handed_to is not None:
        return Verdict("handoff", connector_id=o.handed_to)
    if o.result is not None:
        return Verdict(
            "sent",
            connector_id=o.connector_id,
            upstream_ids=o.result.upstream_ids,
            raw_code=o.result.raw_code,
        )
    error = o.error
    if isinstance(error, RetryableSendError):
        return Verdict(
            "retry",
            connector_id=o.connector_id,
            code=error.code,
            detail=error.detail or None,
            raw_code=error.raw_code,
            retry_in=error.retry_in,
        )
    if isinstance(error, PermanentSendError):
        return Verdict(
            "failed",
            connector_id=o.connector_id,
            code=error.code,
            detail=error.detail or None,
            raw_code=error.raw_code,
        )
    if isinstance(error, HongyanError):  # NO_ROUTE and the like: nothing was handed over
        return Verdict("failed", code=error.code, detail=error.message())
    if isinstance(error, SendError):  # the connector broke mid-send: some may have left
        return Verdict(
            "unknown",
            connector_id=o.connector_id,
            code=error.code,
            detail=error.detail or None,
            raw_code=error.raw_code,
        )
    return Verdict("failed", code="INTERNAL_ERROR", detail="routing gave no result")


def backoff(
    attempt: int, *, base_secs: float, max_secs: float, hint: timedelta | None = None
) -> timedelta:
    """The wait before attempt ``attempt + 1``: exponential, capped, jittered, >= the hint."""
    delay = min(base_secs * 2 ** max(attempt - 1, 0), max_secs)
    delay *= random.uniform(0.8, 1.0)  # spread retries of one batch apart
    if hint is not None:
        delay = max(delay, min(hint.total_seconds(), max_secs))
    return timedelta(seconds=delay)


async def _record(
    ctx: AppContext,
    claimed: Sequence[Message],
    verdicts: dict[str, Verdict],
    *,
    owner: str,
    now: datetime,
) -> None:
    async with ctx.db.session() as session:
        held = await repo.still_claimed(
            session, claims={m.id: m.attempts for m in claimed}, owner=owner
        )
        mine = [m for m in claimed if m.id in held]
        if len(mine) < len(claimed):
            metrics.CLAIMS_LOST.inc(len(claimed) - len(mine))
            log.warning("claims taken over before recording", lost=len(claimed) - len(mine))
        plan = _Plan(ctx.settings, now)
        for m in mine:
            plan.add(m, verdicts.get(m.id) or Verdict("failed", code="INTERNAL_ERROR"))
        await messages_repo.insert_parts(session, plan.parts)
        await transitions.apply(session, ctx=ctx, changes=plan.changes)
        for due_at, ids in plan.due.items():
            # A retry is routed afresh: whoever claims it, not only the last connector's owner.
            await messages_repo.update_messages(session, ids, due_at=due_at, pinned_connector_id="")
        for connector_id, ids in plan.handed.items():
            await messages_repo.hand_over(session, ids, connector_id=connector_id)
        if plan.handed:
            await repo.notify_due(session)  # wakes the owner (another process) at commit
        if plan.parts:
            # Receipts that arrived before this submit was recorded are waiting for these parts.
            await dlr.match_new_parts(session, ctx=ctx, keys=plan.part_keys)


class _Plan:
    """The rows and status changes that record one batch's verdicts."""

    def __init__(self, settings: Settings, now: datetime) -> None:
        self.settings = settings
        self.now = now
        self.changes: list[Change] = []
        # Plain rows for one executemany: ORM objects cost several times more per part.
        self.parts: list[dict[str, str | int]] = []
        self.part_keys: list[tuple[str, str]] = []  # (connector_id, upstream_id) of each part
        self.due: dict[datetime, list[str]] = defaultdict(list)  # requeued, by new due_at
        self.handed: dict[str, list[str]] = defaultdict(list)  # connector -> pinned to it

    def add(self, m: Message, v: Verdict) -> None:
        if v.outcome == "sent":
            self._sent(m, v)
        elif v.outcome == "handoff":
            self._hand_over(m, v)
        elif v.outcome == "retry" and m.attempts < self.settings.dispatch_max_attempts:
            self._requeue(m, v, f"attempt {m.attempts} failed on every connector")
        elif v.outcome == "retry":
            self._fail(m, v, code=v.code, head=f"gave up after {m.attempts} attempts")
        elif (
            v.outcome == "unknown"
            and m.kind in leases.RESEND_KINDS
            and (m.attempts < self.settings.dispatch_max_attempts)
        ):
            # The same policy as a dead worker's claim: at least once for these kinds.
            self._requeue(m, v, "at-least-once resend: the connector failed mid-send")
        elif v.outcome == "unknown":
            self._fail(m, v, code="SUBMIT_OUTCOME_UNKNOWN", head="the connector failed mid-send")
        else:
            self._fail(m, v, code=v.code, head=None)

    def _hand_over(self, m: Message, v: Verdict) -> None:
        assert v.connector_id is not None
        # Due now still (due_at unchanged); the claim's attempt is given back by hand_over.
        self.handed[v.connector_id].append(m.id)
        detail = f"handed over to the worker holding the binds of connector {v.connector_id}"
        self.changes.append(Change(m, "queued", detail=detail))

    def _sent(self, m: Message, v: Verdict) -> None:
        assert v.connector_id is not None
        self.parts += [
            {
                "message_id": m.id,
                "seq": seq,
                "connector_id": v.connector_id,
                "upstream_id": upstream_id,
                "status": "sent",
            }
            for seq, upstream_id in enumerate(v.upstream_ids)
        ]
        self.part_keys += [(v.connector_id, upstream_id) for upstream_id in v.upstream_ids]
        self.changes.append(Change(m, "sent", connector_id=v.connector_id, raw_code=v.raw_code))

    def _requeue(self, m: Message, v: Verdict, head: str) -> None:
        wait = backoff(
            m.attempts,
            base_secs=self.settings.dispatch_retry_base_secs,
            max_secs=self.settings.dispatch_retry_max_secs,
            hint=v.retry_in,
        )
        # Whole seconds, so one batch's retries share a few UPDATEs instead of one each.
        due_at = (self.now + wait).replace(microsecond=0)
        if m.validity_until is not None and m.validity_until <= due_at:
            # The retry would come too late: say so now rather than at the next claim.
            self._fail(m, v, code="EXPIRED", head=f"{head}; validity ends before a retry")
            return
        self.due[due_at].append(m.id)
        detail = _join(f"{head}; retry in {int(wait.total_seconds())}s", v.detail)
        self.changes.append(Change(m, "queued", code=v.code, detail=detail, raw_code=v.raw_code))

    def _fail(self, m: Message, v: Verdict, *, code: str | None, head: str | None) -> None:
        detail = _join(head, v.detail) if head else v.detail
        self.changes.append(
            Change(
                m,
                "failed",
                code=code,
                detail=detail,
                connector_id=v.connector_id,
                raw_code=v.raw_code,
            )
        )


def _join(head: str, tail: str | None) -> str:
    return f"{head}: {tail}" if tail else head
