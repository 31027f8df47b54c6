"""The deliver_sm outbox: receipts and inbound messages kept until the tenant acknowledges them.

Queuing happens in the transaction that makes the news (a message reaching its final status,
an inbound message stored), so no receipt exists without its row nor the other way round.
Sending: each server process claims due rows of the credentials that have a receiver bound to
it (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so processes never send one row together),
sends them through the binds' windows and deletes a row only when its deliver_sm_resp says
ESME_ROK. A refusal (another status) puts the row back with a growing delay; a bind lost
before the answer puts it back at once, to be sent again on the next bind; a process that
dies lets its claim lapse after ``smpp_server_outbox_lease_secs``. Delivery is therefore at
least once: a client that acknowledged just before a crash may see a receipt twice.

Rows are woken on in-process (after the queuing transaction commits) and polled otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from hongyan.api.context import AppContext
from hongyan.models import SmppOutbox, utcnow
from hongyan.smpp.codec import decode
from hongyan.smpp.constants import REGISTERED_DELIVERY_ON_FAILURE, CommandStatus, status_name
from hongyan.smpp.errors import SessionClosedError, SessionError
from hongyan.smpp.pdu import Pdu
from hongyan.smpp_server import repository as repo
from hongyan.smpp_server.metrics import DELIVERIES
from hongyan.smpp_server.pdus import FINAL_STATES, inbound_pdu, receipt_pdu

if TYPE_CHECKING:
    from hongyan.messages.transitions import Change
    from hongyan.smpp.session import SmppSession

log = structlog.get_logger("hongyan.smpp_server.outbox")

SERVER_CACHE_KEY = "smpp_server"  # ctx.caches entry of the SMPP server running in a process
_MAX_DELAY_SECS = 600.0


def _wake_after_commit(session: AsyncSession, ctx: AppContext) -> None:
    """Wake this process's SMPP server once the queuing transaction is committed."""
    server = ctx.caches.get(SERVER_CACHE_KEY)
    if server is not None:
        event.listen(session.sync_session, "after_commit", lambda _s: server.wake(), once=True)


def _row(credential_id: str, kind: str, ref_id: str, pdu: bytes, now: datetime) -> dict[str, Any]:
    return {
        "credential_id": credential_id,
        "kind": kind,
        "ref_id": ref_id,
        "pdu": pdu,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }


async def queue_receipts(
    session: AsyncSession, *, ctx: AppContext, changes: Sequence[Change], now: datetime
) -> None:
    """Queue receipts of SMPP messages that asked for one and reached a final status."""
    wanted = [c for c in changes if c.status in FINAL_STATES and c.message.receipt_requested]
    if not wanted:
        return
    submits = {
        s.message_id: s for s in await repo.submits_for(session, [c.message.id for c in wanted])
    }
    rows = []
    for change in wanted:
        submit = submits.get(change.message.id)
        if submit is None:
            continue
        failure_only = submit.registered_delivery & 0x03 == REGISTERED_DELIVERY_ON_FAILURE
        if failure_only and change.status == "delivered":
            continue
        pdu = receipt_pdu(change.message, submit, status=change.status, done_at=now)
        rows.append(_row(submit.credential_id, "receipt", change.message.id, pdu, now))
    await repo.insert_outbox(session, rows)
    if rows:
        _wake_after_commit(session, ctx)


async def queue_inbound(
    session: AsyncSession, *, ctx: AppContext, rows: Sequence[dict[str, Any]]
) -> None:
    """Queue inbound messages to every enabled credential of their tenant that takes MO."""
    tenant_ids = sorted({r["tenant_id"] for r in rows if r.get("tenant_id")})
    credentials = await repo.mo_credentials(session, tenant_ids)
    if not credentials:
        return
    by_tenant: dict[str, list[str]] = defaultdict(list)
    for credential in credentials:
        by_tenant[credential.tenant_id].append(credential.id)
    now = utcnow()
    queued = []
    for row in rows:
        targets = by_tenant.get(row.get("tenant_id") or "", [])
        if targets:
            pdu = inbound_pdu(row)
            queued += [_row(cid, "mo", row["id"], pdu, now) for cid in targets]
    await repo.insert_outbox(session, queued)
    if queued:
        _wake_after_commit(session, ctx)


def _delay(ctx: AppContext, attempts: int) -> timedelta:
    base = ctx.settings.smpp_server_outbox_retry_secs
    return timedelta(seconds=min(base * 2 ** max(attempts - 1, 0), _MAX_DELAY_SECS))


class OutboxSender:
    """Sends the outbox rows of the credentials bound to this process, in batches."""

    def __init__(
        self,
        ctx: AppContext,
        *,
        owner: str,
        receivers: Callable[[str], SmppSession | None],
        bound_credentials: Callable[[], list[str]],
    ) -> None:
        self.ctx = ctx
        self.owner = owner
        self._receiver = receivers  # credential id -> a bound receiver session, round-robin
        self._bound = bound_credentials
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    async def run(self) -> None:
        """Deliver until stopped: at once when woken, else every poll interval."""
        poll = self.ctx.settings.smpp_server_outbox_poll_secs
        while not self._stop.is_set():
            self._wake.clear()
            try:
                full = await self.deliver_once()
            except Exception:
                log.exception("smpp outbox round failed")
                full = False
            if full or self._stop.is_set():
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=poll)

    async def deliver_once(self) -> bool:
        """One round: claim, send, settle. True when the batch was full (more may wait)."""
        settings = self.ctx.settings
        credential_ids = self._bound()
        if not credential_ids:
            return False
        now = utcnow()
        async with self.ctx.db.session() as session:
            rows = await repo.claim_outbox(
                session,
                credential_ids=credential_ids,
                owner=self.owner,
                now=now,
                lease_until=now + timedelta(seconds=settings.smpp_server_outbox_lease_secs),
                limit=settings.smpp_server_outbox_batch,
            )
        if not rows:
            return False
        sent = await self._send(rows)
        await self._settle(rows, sent)
        return len(rows) >= settings.smpp_server_outbox_batch

    async def _send(self, rows: list[SmppOutbox]) -> dict[int, asyncio.Future[Pdu] | None]:
        """Send each row through a receiver of its credential; None where none is bound."""
        sent: dict[int, asyncio.Future[Pdu] | None] = {}
        for row in rows:
            sent[row.id] = None
            link = self._receiver(row.credential_id)
            if link is None:
                continue
            pdu = decode(row.pdu)
            try:
                await link.wait_for_window()
                sent[row.id] = link.send(pdu)
            except SessionError:
                continue
        pending = [f for f in sent.values() if f is not None]
        if pending:
            await asyncio.wait(pending)
        return sent

    async def _settle(
        self, rows: list[SmppOutbox], sent: dict[int, asyncio.Future[Pdu] | None]
    ) -> None:
        done, lost = [], []
        deferred: list[tuple[SmppOutbox, int | None, str]] = []
        for row in rows:
            future = sent[row.id]
            if future is None or isinstance(future.exception(), SessionClosedError):
                lost.append(row.id)  # no bind, or it went: again on the next bind
                continue
            exc = future.exception()
            if exc is not None:
                deferred.append((row, None, f"{type(exc).__name__}: {exc}"))
            elif future.result().command_status == CommandStatus.ESME_ROK:
                done.append(row.id)
            else:
                refused = future.result().command_status
                deferred.append((row, refused, f"client answered {status_name(refused)}"))
        now = utcnow()
        async with self.ctx.db.session() as session:
            await repo.delete_outbox(session, done)
            await repo.release_outbox(session, lost, owner=self.owner)
            for row, status, error in deferred:
                until = now + _delay(self.ctx, row.attempts)
                await repo.defer_outbox(session, row.id, until=until, status=status, error=error)
        DELIVERIES.labels("acked").inc(len(done))
        DELIVERIES.labels("lost").inc(len(lost))
        for _, status, _ in deferred:
            DELIVERIES.labels("unanswered" if status is None else "refused").inc()
        if deferred:
            log.info("smpp deliver_sm refused or unanswered; retried later", count=len(deferred))


async def purge_expired(ctx: AppContext) -> int:
    """Drop rows older than smpp_server_outbox_keep_days (logged): the tenant never took them."""
    cutoff = utcnow() - timedelta(days=ctx.settings.smpp_server_outbox_keep_days)
    async with ctx.db.session() as session:
        dropped = await repo.purge_outbox_before(session, cutoff)
    if dropped:
        log.warning("smpp deliver_sm dropped after the keep period", count=dropped)
    return dropped
