"""Delivery receipts: matched to message parts, then one status per message from its parts.

A receipt names a part by (connector_id, upstream_id): the id the connector returned when the
part was submitted. The path of a batch of receipts, in one transaction:

- the messages owning the named parts are found and locked in one query (``FOR UPDATE`` on
  PostgreSQL, in id order; SQLite's one write lock), then all their parts are read under the
  lock, so two processes or tasks with receipts for two parts of one long message aggregate one
  after the other, never both missing the other's part;
- receipts with no part yet (the receipt came back before the dispatcher recorded the submit)
  are **held** in ``pending_receipt`` and applied when the part is recorded
  (``match_new_parts``) or by the ``match_pending_receipts`` job; never dropped before
  ``receipt_hold_days``;
- a final receipt (delivered, undelivered, expired, rejected, unknown) makes its part final;
  one for a part that is already final is a duplicate and changes nothing; an intermediate one
  (accepted, enroute) is recorded on the part and decides nothing;
- a message is final when all its parts are: ``delivered`` when every part was delivered,
  otherwise the status and code of the first part in sequence order that was not (``expired``
  for an expired part, ``undelivered`` for the rest), through ``transitions.apply``: the status
  history records the receipt's code and raw code, billing settles, statistics and webhooks
  follow in the same transaction.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, cast

import structlog
from prometheus_client import Counter, Gauge
from sqlalchemy.ext.asyncio import AsyncSession

from hongyan.api.context import AppContext
from hongyan.connectors.base import (
    InboundSink,
    InboundSms,
    Receipt,
    ReceiptSink,
    ReceiptStatus,
    Sinks,
)
from hongyan.dlr import repository as repo
from hongyan.inbound import service as inbound
from hongyan.messages import repository as messages_repo
from hongyan.messages import transitions
from hongyan.models import Message, PendingReceipt, utcnow
from hongyan.routing import quality

log = structlog.get_logger(__name__)

RECEIPTS = Counter("hongyan_receipts_total", "Receipts received, by what they say", ["status"])
UNMATCHED = Counter(
    "hongyan_receipts_unmatched_total",
    "Held receipts dropped after receipt_hold_days without a matching message part",
)
HELD = Gauge("hongyan_receipts_held", "Receipts held until their message part is recorded")
HELD_OLDEST = Gauge(
    "hongyan_receipts_held_oldest_seconds", "Age of the oldest held receipt (0 when none)"
)

FINAL = frozenset({"delivered", "undelivered", "expired", "rejected", "unknown"})
# The code a part gets when its receipt carried none.
DEFAULT_CODE = {
    "undelivered": "UNDELIVERABLE",
    "rejected": "REJECTED_BY_CARRIER",
    "expired": "DELIVERY_EXPIRED",
    "unknown": "DELIVERY_UNKNOWN",
}
# Receipts per statement: well under SQLite's bound-parameter limit for the IN lists.
CHUNK = 500

Key = tuple[str, str]


@dataclass(slots=True)
class IngestResult:
    """What a batch of receipts did."""

    applied: int = 0  # final receipts recorded on their part
    progress: int = 0  # intermediate receipts (accepted, enroute) recorded on their part
    held: int = 0  # no part yet: stored, applied when the part is recorded
    duplicates: int = 0  # for a part already final: ignored
    finalized: int = 0  # messages that reached their final status


@dataclass(slots=True)
class _Part:
    """A part as read under the message lock, changed in memory, written back in one batch."""

    message_id: str
    seq: int
    status: str
    error_code: str | None
    raw_code: str | None
    done_at: datetime | None
    changed: bool = False

    def row(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "seq": self.seq,
            "status": self.status,
            "error_code": self.error_code,
            "raw_code": self.raw_code,
            "done_at": self.done_at,
        }


def _key(item: Receipt | PendingReceipt) -> Key:
    return (item.connector_id, item.upstream_id)


def _chunks(items: Sequence[Receipt], size: int = CHUNK) -> Iterator[Sequence[Receipt]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def ingest(ctx: AppContext, receipts: Sequence[Receipt]) -> IngestResult:
    """Store and apply receipts from a connector, in a transaction of their own.

    When this returns, every receipt is stored (applied or held): a connector acknowledges
    receipts upstream only after it returns, so a crash before that makes the upstream resend.
    """
    result = IngestResult()
    receipts = _storable(receipts)
    if not receipts:
        return result
    now = utcnow()
    async with ctx.db.session() as session:
        for chunk in _chunks(receipts):
            unmatched = await _apply(session, ctx=ctx, receipts=chunk, now=now, result=result)
            held = [r for r in chunk if _key(r) in unmatched]
            await messages_repo.add_pending_receipts(session, [_held_row(r, now) for r in held])
            result.held += len(held)
    for receipt in receipts:
        RECEIPTS.labels(receipt.status).inc()
    if result.held:
        log.info("receipts held until their submit is recorded", count=result.held)
    return result


def _storable(receipts: Sequence[Receipt]) -> Sequence[Receipt]:
    """Drop (and log) receipts that no part could ever match, so they cannot fail the batch."""
    good = [
        r
        for r in receipts
        if 0 < len(r.upstream_id) <= 100 and 0 < len(r.connector_id) <= 32 and len(r.status) <= 16
    ]
    if len(good) < len(receipts):
        RECEIPTS.labels("malformed").inc(len(receipts) - len(good))
        log.warning("malformed receipts dropped", count=len(receipts) - len(good))
    for i, r in enumerate(good):
        if len(r.error_code or "") > 64 or len(r.raw_code or "") > 64:
            code, raw = r.error_code, r.raw_code
            good[i] = replace(r, error_code=code and code[:64], raw_code=raw and raw[:64])
    return good


def sinks(ctx: AppContext) -> Sinks:
    """What this process's connectors hand receipts and inbound messages to (both store first)."""

    async def receipts(items: Sequence[Receipt]) -> None:
        await ingest(ctx, items)

    async def inbound_messages(items: Sequence[InboundSms]) -> None:
        await inbound.receive(ctx, items)

    receipt_sink: ReceiptSink = receipts
    inbound_sink: InboundSink = inbound_messages
    return Sinks(receipts=receipt_sink, inbound=inbound_sink)


async def match_new_parts(session: AsyncSession, *, ctx: AppContext, keys: Sequence[Key]) -> int:
    """Apply held receipts of these just-recorded parts (connector_id, upstream_id), in the
    caller's transaction.

    Returns how many held receipts were used up (applied, or duplicates of a final part).
    """
    # Nearly always nothing is held: one look at the table costs less than matching a
    # batch's keys (hundreds of bound pairs) against it. A receipt held by another
    # transaction after this look is left to the match_pending_receipts job, as one held
    # after the match itself always was.
    if not keys or not await repo.any_held(session):
        return 0
    held = await messages_repo.pending_for(session, list(dict.fromkeys(keys)))
    return await _apply_held(session, ctx=ctx, held=held, now=utcnow())


async def apply_matchable(ctx: AppContext, *, limit: int = CHUNK) -> int:
    """Apply held receipts whose part exists by now (one batch); how many were used up."""
    async with ctx.db.session() as session:
        held = await messages_repo.pending_matchable(session, limit=limit)
        return await _apply_held(session, ctx=ctx, held=held, now=utcnow())


async def purge_unmatched(ctx: AppContext, *, now: datetime | None = None) -> int:
    """Drop receipts held longer than ``receipt_hold_days``; log and count them."""
    now = now or utcnow()
    cutoff = now - timedelta(days=ctx.settings.receipt_hold_days)
    async with ctx.db.session() as session:
        purged = await messages_repo.purge_pending_before(session, cutoff)
        held, oldest = await repo.pending_summary(session)
    HELD.set(held)
    HELD_OLDEST.set(max(0.0, (now - oldest).total_seconds()) if oldest else 0.0)
    if purged:
        UNMATCHED.inc(purged)
        log.warning(
            "receipts dropped: no message part matched them",
            count=purged,
            hold_days=ctx.settings.receipt_hold_days,
        )
    return purged


async def _apply_held(
    session: AsyncSession, *, ctx: AppContext, held: Sequence[PendingReceipt], now: datetime
) -> int:
    if not held:
        return 0
    result = IngestResult()
    unmatched = await _apply(
        session, ctx=ctx, receipts=[_receipt_of(h) for h in held], now=now, result=result
    )
    used = [h.id for h in held if _key(h) not in unmatched]
    await messages_repo.delete_pending(session, used)
    return len(used)


async def _apply(
    session: AsyncSession,
    *,
    ctx: AppContext,
    receipts: Sequence[Receipt],
    now: datetime,
    result: IngestResult,
) -> set[Key]:
    """Apply the receipts whose part exists; return the keys that have no part."""
    keys = list(dict.fromkeys(_key(r) for r in receipts))
    messages = {m.id: m for m in await repo.lock_messages_of(session, keys)}
    if not messages:
        return set(keys)
    parts: dict[Key, _Part] = {}
    by_message: dict[str, list[_Part]] = defaultdict(list)
    for row in await repo.part_rows(session, list(messages)):
        part = _Part(row.message_id, row.seq, row.status, row.error_code, row.raw_code, row.done_at)
        parts[(row.connector_id, row.upstream_id)] = part
        by_message[row.message_id].append(part)
    unmatched = {k for k in keys if k not in parts}
    touched: set[str] = set()
    for receipt in receipts:
        target = parts.get(_key(receipt))
        if target is not None and _record(target, receipt, now, result):
            touched.add(target.message_id)
    await repo.update_parts(session, [p.row() for p in parts.values() if p.changed])
    changes = _aggregate(messages, by_message, touched)
    await transitions.apply(session, ctx=ctx, changes=changes, now=now)
    outcomes = ((c.message.connector_id, c.status, c.message.sent_at) for c in changes)
    quality.record_receipts(ctx, outcomes, now=now)
    result.finalized += len(changes)
    return unmatched


def _record(part: _Part, receipt: Receipt, now: datetime, result: IngestResult) -> bool:
    """Put one receipt on its part; True when the part became final."""
    if part.status in FINAL:
        result.duplicates += 1
        return False
    if receipt.status not in FINAL:
        result.progress += 1
        raw_code = receipt.raw_code or part.raw_code
        if (part.status, part.raw_code) != (receipt.status, raw_code):
            part.status, part.raw_code, part.changed = receipt.status, raw_code, True
        return False
    part.status = receipt.status
    part.error_code = receipt.error_code or DEFAULT_CODE.get(receipt.status)
    part.raw_code = receipt.raw_code
    part.done_at = receipt.done_at or now
    part.changed = True
    result.applied += 1
    return True


def _aggregate(
    messages: dict[str, Message], by_message: dict[str, list[_Part]], touched: set[str]
) -> list[transitions.Change]:
    """The final status of each touched message whose parts are all final.

    Its count of final parts (``parts_done``) goes with the change, into the same UPDATE as
    the status (one per batch); a long message part way through gets it on the loaded
    object, which the session writes at flush (rare: most messages have one part).
    """
    changes: list[transitions.Change] = []
    for message_id in sorted(touched):
        message, parts = messages[message_id], by_message[message_id]
        done = sum(1 for p in parts if p.status in FINAL)
        if done == len(parts) and message.status == "sent":
            changes.append(_final_change(message, parts, parts_done=done))
        elif done != message.parts_done:
            message.parts_done = done
    return changes


def _final_change(message: Message, parts: list[_Part], *, parts_done: int) -> transitions.Change:
    failed = next((p for p in parts if p.status != "delivered"), None)
    if failed is None:
        last = parts[-1]
        detail = f"receipt {last.raw_code or 'delivered'}"
        if len(parts) > 1:
            detail += f"; all {len(parts)} parts delivered"
        return transitions.Change(
            message, "delivered", detail=detail, raw_code=last.raw_code, parts_done=parts_done
        )
    status = "expired" if failed.status == "expired" else "undelivered"
    detail = f"receipt {failed.raw_code or failed.status}"
    if len(parts) > 1:
        detail += f" for part {failed.seq + 1} of {len(parts)}"
    return transitions.Change(
        message,
        status,
        code=failed.error_code,
        detail=detail,
        raw_code=failed.raw_code,
        parts_done=parts_done,
    )


def _held_row(receipt: Receipt, now: datetime) -> dict[str, Any]:
    return {
        "connector_id": receipt.connector_id,
        "upstream_id": receipt.upstream_id,
        "status": receipt.status,
        "error_code": receipt.error_code,
        "raw_code": receipt.raw_code,
        "done_at": receipt.done_at,
        "received_at": now,
    }


def _receipt_of(held: PendingReceipt) -> Receipt:
    return Receipt(
        connector_id=held.connector_id,
        upstream_id=held.upstream_id,
        status=cast(ReceiptStatus, held.status),
        error_code=held.error_code,
        raw_code=held.raw_code,
        done_at=held.done_at,
    )
