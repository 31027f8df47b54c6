"""Rules of the webhooks domain: enqueueing events, the delivery log, replay.

Where an event goes: to every enabled endpoint of the tenant subscribed to it, unless the
event carries a ``callback_url`` (a message sent with one). Then it goes to that URL only, signed
with the tenant's callback secret: a per-message callback replaces the endpoints (as Twilio's
per-message StatusCallback stands on its own), so a tenant never gets one status twice.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import structlog
from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session as SyncSession

from hongyan import errors
from hongyan.accounts.service import Actor, audit
from hongyan.api.context import AppContext
from hongyan.ids import new_id
from hongyan.models import WebhookDelivery, utcnow
from hongyan.models.webhooks import URL_MAX_LENGTH
from hongyan.webhooks import repository as repo
from hongyan.webhooks.cache import Subscription, cache_of, monotonic
from hongyan.webhooks.endpoints import get_endpoint
from hongyan.webhooks.schemas import EVENTS, TEST_EVENT

log = structlog.get_logger("hongyan.webhooks")


@dataclass(frozen=True, slots=True)
class EventIn:
    """One event to enqueue (see ``enqueue``)."""

    tenant_id: str
    event: str
    payload: dict[str, Any]
    callback_url: str | None = None


# --- enqueueing (called by other domains inside their transaction) ----------------------------


async def enqueue(
    session: AsyncSession,
    *,
    ctx: AppContext,
    tenant_id: str,
    event: str,
    payload: dict[str, Any],
    callback_url: str | None = None,
) -> int:
    """Queue one event for the tenant's subscribed endpoints (or its callback_url only).

    Runs in the caller's transaction and never commits, so the event exists exactly when the
    change it reports does. Returns how many deliveries were queued.
    """
    item = EventIn(tenant_id, event, payload, callback_url)
    return await enqueue_many(session, ctx=ctx, events=[item])


async def enqueue_many(session: AsyncSession, *, ctx: AppContext, events: Sequence[EventIn]) -> int:
    """Queue many events: one endpoint lookup per uncached tenant and one insert for all."""
    for item in events:
        if item.event not in EVENTS:
            raise errors.WEBHOOK_EVENT_UNKNOWN(field="event", event=item.event)
    tenant_ids = [e.tenant_id for e in events if not e.callback_url]
    subs = await subscriptions(session, ctx=ctx, tenant_ids=tenant_ids)
    now = utcnow()
    rows: list[dict[str, Any]] = []
    for item in events:
        targets = _targets(item, subs.get(item.tenant_id, ()))
        if not targets:
            continue
        event_id, payload = new_id("evt"), _jsonable(item.payload)
        rows += [
            _delivery_row(item.tenant_id, endpoint_id, url, event_id, item.event, payload, now)
            for endpoint_id, url in targets
        ]
    await repo.insert_deliveries(session, rows)
    if rows:
        _wake_worker_after_commit(session, ctx)
    return len(rows)


def _targets(item: EventIn, subs: Sequence[Subscription]) -> list[tuple[str | None, str]]:
    if item.callback_url:
        if len(item.callback_url) > URL_MAX_LENGTH:
            # Never fail the caller's status change over a webhook: drop it, loudly.
            log.warning("callback_url too long, event not queued", tenant_id=item.tenant_id)
            return []
        return [(None, item.callback_url)]
    return [(s.endpoint_id, s.url) for s in subs if s.wants(item.event)]


def _delivery_row(
    tenant_id: str,
    endpoint_id: str | None,
    url: str,
    event_id: str,
    event_type: str,
    payload: dict[str, Any],
    now: datetime,
) -> dict[str, Any]:
    return {
        "id": new_id("whd"),
        "tenant_id": tenant_id,
        "endpoint_id": endpoint_id,
        "event_id": event_id,
        "event_type": event_type,
        "payload": payload,
        "url": url,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }


async def subscriptions(
    session: AsyncSession, *, ctx: AppContext, tenant_ids: Sequence[str]
) -> dict[str, tuple[Subscription, ...]]:
    """The enabled endpoints of these tenants, from the process cache where it is fresh."""
    cache = cache_of(ctx.caches, ctx.settings.webhook_endpoint_cache_secs)
    tenants = list(dict.fromkeys(tenant_ids))
    now = monotonic()
    missing = cache.missing(tenants, now)
    if missing:
        grouped: dict[str, list[Subscription]] = defaultdict(list)
        for tenant_id, endpoint_id, url, events in await repo.subscriptions(session, missing):
            grouped[tenant_id].append(Subscription(endpoint_id, url, frozenset(events)))
        for tenant_id in missing:
            cache.put(tenant_id, tuple(grouped.get(tenant_id, ())), now)
    return {t: cache.get(t) for t in tenants}


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _jsonable(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload as plain JSON values (times as RFC 3339, decimals as strings)."""
    result: dict[str, Any] = json.loads(json.dumps(payload, default=_json_default))
    return result


def _wake_worker_after_commit(session: AsyncSession, ctx: AppContext) -> None:
    """Rouse this process's worker when the caller commits, rather than at its next poll."""
    worker = ctx.caches.get("worker")
    wake = getattr(worker, "wake", None)
    sync: SyncSession = session.sync_session
    if wake is None or sync.info.get("webhooks.wake"):
        return
    sync.info["webhooks.wake"] = True

    def on_commit(_: SyncSession) -> None:
        sync.info.pop("webhooks.wake", None)
        wake.set()

    sa_event.listen(sync, "after_commit", on_commit, once=True)


# --- the delivery log -------------------------------------------------------------------------


async def get_delivery(
    session: AsyncSession, *, tenant_id: str | None, delivery_id: str, for_update: bool = False
) -> WebhookDelivery:
    """A delivery of this tenant (any tenant's when tenant_id is None); 404 for others'."""
    row = await repo.get_delivery(session, delivery_id, for_update=for_update)
    if row is None or (tenant_id is not None and row.tenant_id != tenant_id):
        raise errors.DELIVERY_NOT_FOUND(field="id", id=delivery_id)
    return row


async def list_deliveries(
    session: AsyncSession,
    *,
    tenant_id: str | None,
    limit: int,
    before_id: str | None,
    endpoint_id: str | None = None,
    callbacks_only: bool = False,
    status: str | None = None,
    event_id: str | None = None,
) -> list[WebhookDelivery]:
    """Deliveries newest first (limit+1 rows); an endpoint_id must belong to the tenant."""
    if endpoint_id is not None:
        await get_endpoint(session, tenant_id=tenant_id, endpoint_id=endpoint_id)
    return await repo.list_deliveries(
        session,
        tenant_id=tenant_id,
        endpoint_id=endpoint_id,
        callbacks_only=callbacks_only,
        status=status,
        event_id=event_id,
        limit=limit,
        before_id=before_id,
    )


async def replay(
    session: AsyncSession, *, ctx: AppContext, actor: Actor, tenant_id: str | None, delivery_id: str
) -> WebhookDelivery:
    """Send a delivered or dead delivery again, as a fresh series of attempts (same event id)."""
    row = await get_delivery(session, tenant_id=tenant_id, delivery_id=delivery_id, for_update=True)
    if row.status == "pending":
        raise errors.DELIVERY_NOT_REPLAYABLE(id=delivery_id, status=row.status)
    if row.endpoint_id is not None:
        endpoint = await repo.get_endpoint(session, row.endpoint_id)
        if endpoint is not None:
            # Someone asking for a replay has usually just fixed the endpoint: try it now.
            endpoint.consecutive_failures, endpoint.paused_until = 0, None
    now = utcnow()
    row.status, row.attempts, row.next_attempt_at = "pending", 0, now
    row.first_attempt_at = row.delivered_at = row.lease_token = None
    row.last_status_code = row.last_error = None
    await session.flush()
    await audit(session, actor, "webhook.replay", tenant_id=row.tenant_id, target_id=row.id)
    _wake_worker_after_commit(session, ctx)
    return row


async def send_test(
    session: AsyncSession, *, ctx: AppContext, tenant_id: str, endpoint_id: str
) -> WebhookDelivery:
    """Queue a ``webhook.test`` event to one endpoint, whatever it subscribes to."""
    endpoint = await get_endpoint(session, tenant_id=tenant_id, endpoint_id=endpoint_id)
    now = utcnow()
    payload = {"endpoint_id": endpoint.id, "message": "A test event from Hongyan."}
    row = _delivery_row(
        tenant_id, endpoint.id, endpoint.url, new_id("evt"), TEST_EVENT, payload, now
    )
    await repo.insert_deliveries(session, [row])
    _wake_worker_after_commit(session, ctx)
    return await get_delivery(session, tenant_id=tenant_id, delivery_id=row["id"])
