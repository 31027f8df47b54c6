"""Status changes of messages, with everything that must happen in the same transaction.

Every transition records its event (status history), settles billing (confirm or refund, by the
tenant's charge policy), bumps the maintained statistics and enqueues the tenant's webhooks — in
the caller's transaction, so a status is never visible without its consequences, nor the other
way round. Everything is per batch: one statement per kind of row, not per message.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from hongyan.api.context import AppContext
from hongyan.billing import service as billing
from hongyan.messages import repository as repo
from hongyan.models import Message, utcnow
from hongyan.smpp_server import outbox as smpp_outbox
from hongyan.webhooks import service as webhooks
from hongyan.worker import metrics as worker_metrics

TERMINAL = frozenset({"delivered", "undelivered", "expired", "failed", "canceled"})
# Final states that were never handed to a carrier: the hold is always given back.
_NEVER_SENT = frozenset({"failed", "canceled"})
_STAT_OF = {
    "sent": "sent",
    "delivered": "delivered",
    "undelivered": "undelivered",
    "failed": "failed",
    "expired": "expired",
    "canceled": "canceled",
}


@dataclass(frozen=True, slots=True)
class Change:
    """One message moving to a status, and why."""

    message: Message
    status: str
    code: str | None = None
    detail: str | None = None
    connector_id: str | None = None
    raw_code: str | None = None
    # Written in the same UPDATE as the status: the receipts' count of final parts.
    parts_done: int | None = None


def stat_key(message: Message, *, connector_id: str | None = None) -> dict[str, Any]:
    """The message_stat key of a message (UTC day of acceptance)."""
    return {
        "tenant_id": message.tenant_id,
        "day": message.created_at.strftime("%Y-%m-%d"),
        "sign": message.sign or "",
        "template_id": message.template_id or "",
        "region": message.region or "",
        "connector_id": connector_id or "",
    }


def stat_row(key: dict[str, Any], **counters: int) -> dict[str, Any]:
    row = {name: 0 for name in repo.STAT_COUNTERS}
    row.update(key)
    row.update(counters)
    return row


async def apply(
    session: AsyncSession,
    *,
    ctx: AppContext,
    changes: Sequence[Change],
    now: datetime | None = None,
) -> None:
    """Move each message to its new status, with events, billing, statistics and webhooks."""
    if not changes:
        return
    now = now or utcnow()
    await _update_rows(session, changes, now)
    await repo.insert_events(
        session,
        [
            {
                "message_id": c.message.id,
                "status": c.status,
                "code": c.code,
                "detail": c.detail,
                "connector_id": c.connector_id,
                "at": now,
            }
            for c in changes
        ],
    )
    await _settle(session, changes)
    await repo.bump_stats(session, _stat_rows(changes))
    await _notify(session, ctx=ctx, changes=changes, now=now)
    await smpp_outbox.queue_receipts(session, ctx=ctx, changes=changes, now=now)
    worker_metrics.count(changes)


def _stat_rows(changes: Sequence[Change]) -> list[dict[str, Any]]:
    """The counters of a batch summed per statistics key: one row per key, not per message.

    A dispatched batch is mostly one tenant, day, sign and connector: its 200 ``sent`` become
    one upsert of +200 instead of 200 upserts of one row (each taking that row's lock).
    """
    totals: dict[tuple[Any, ...], dict[str, Any]] = {}
    for c in changes:
        counter = _STAT_OF.get(c.status)
        if counter is None:
            continue
        key = stat_key(c.message, connector_id=c.connector_id or c.message.connector_id)
        identity = tuple(key.values())
        row = totals.get(identity)
        if row is None:
            row = totals[identity] = stat_row(key)
        row[counter] += 1
    return list(totals.values())


def _new_values(c: Change, now: datetime) -> dict[str, Any]:
    """The columns a change writes on its message row."""
    values: dict[str, Any] = {"status": c.status, "updated_at": now}
    if c.status not in ("queued", "scheduled", "sending"):
        values.update(lease_owner=None, lease_until=None)
    if c.code is not None or c.status in TERMINAL:
        values.update(error_code=c.code, error_detail=c.detail)
    if c.raw_code is not None:
        values["raw_code"] = c.raw_code
    if c.connector_id:
        values["connector_id"] = c.connector_id
    if c.status == "sent":
        values["sent_at"] = now
    if c.status in TERMINAL:
        values["done_at"] = now
    if c.parts_done is not None:
        values["parts_done"] = c.parts_done
    return values


async def _update_rows(session: AsyncSession, changes: Sequence[Change], now: datetime) -> None:
    # Group identical updates so a batch of N same-status changes is one UPDATE; the values
    # are worked out once per distinct change (a batch has a handful), not once per message.
    values_of: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    groups: dict[tuple[Any, ...], list[Message]] = defaultdict(list)
    for c in changes:
        what = (c.status, c.code, c.detail, c.raw_code, c.connector_id, c.parts_done)
        values = values_of.get(what)
        if values is None:
            values = values_of[what] = tuple(sorted(_new_values(c, now).items()))
        groups[values].append(c.message)
    for values, messages in groups.items():
        await repo.update_messages(session, [m.id for m in messages], **dict(values))
        for m in messages:
            for name, value in values:
                # Keep the loaded object in step with the row without marking it dirty: the
                # grouped UPDATE writes it, and a flush must not write it a second time.
                set_committed_value(m, name, value)


async def _settle(session: AsyncSession, changes: Sequence[Change]) -> None:
    by_tenant: dict[str, list[Change]] = defaultdict(list)
    for c in changes:
        if not c.message.test_mode and c.message.amount > 0:
            by_tenant[c.message.tenant_id].append(c)
    # Tenants in a fixed order: two workers settling the same tenants lock them alike.
    for tenant_id, items in sorted(by_tenant.items()):
        policy = await billing.charge_policy(session, tenant_id=tenant_id)
        confirm_on = "sent" if policy == "on_send" else "delivered"
        confirmed = [c.message.id for c in items if c.status == confirm_on]
        refunded = [
            (c.message.id, c.message.amount)
            for c in items
            if c.status in _NEVER_SENT
            or (policy == "on_delivery" and c.status in ("undelivered", "expired"))
        ]
        if confirmed or refunded:
            await billing.settle(
                session, tenant_id=tenant_id, confirmed=confirmed, refunded=refunded
            )
        elif policy == "on_delivery" and any(c.status == "sent" for c in items):
            # Nothing to settle yet, but their receipts may be applied later in this same
            # transaction (the early receipts of a batch just recorded) and settle then: lock
            # now, in tenant order as every transaction does, or two processes can deadlock.
            await billing.lock_account(session, tenant_id=tenant_id)


def event_payload(message: Message, now: datetime) -> dict[str, Any]:
    """What a status webhook carries about a message."""
    return {
        "id": message.id,
        "status": message.status,
        "to": message.msisdn,
        "sign": message.sign,
        "template": message.template_id,
        "out_id": message.out_id,
        "tag": message.tag,
        "segments": message.segments,
        "price": message.amount,
        "currency": message.currency,
        "error_code": message.error_code,
        "error_detail": message.error_detail,
        "raw_code": message.raw_code,
        "connector_id": message.connector_id,
        "at": now.isoformat().replace("+00:00", "Z"),
    }


async def _notify(
    session: AsyncSession, *, ctx: AppContext, changes: Sequence[Change], now: datetime
) -> None:
    wanted = await _wanted(session, ctx=ctx, changes=changes)
    events = [
        webhooks.EventIn(
            tenant_id=c.message.tenant_id,
            event=f"message.{c.status}",
            payload=event_payload(c.message, now),
            callback_url=c.message.callback_url,
        )
        for c in wanted
    ]
    if events:
        await webhooks.enqueue_many(session, ctx=ctx, events=events)


async def _wanted(
    session: AsyncSession, *, ctx: AppContext, changes: Sequence[Change]
) -> list[Change]:
    """The changes somebody may want a webhook for; the payload is built only for those.

    A message with a callback_url, or a tenant with an endpoint subscribed to the event
    (from the webhooks domain's cache). Most batches of most tenants have neither, and a
    payload per message was a good part of recording them; ``enqueue_many`` still decides
    where each event goes.
    """
    changes = [c for c in changes if c.status in _STAT_OF]
    tenant_ids = [c.message.tenant_id for c in changes if not c.message.callback_url]
    subs = await webhooks.subscriptions(session, ctx=ctx, tenant_ids=tenant_ids)
    return [
        c
        for c in changes
        if c.message.callback_url
        or any(s.wants(f"message.{c.status}") for s in subs.get(c.message.tenant_id, ()))
    ]
