"""Rules of the webhooks domain for endpoints and signing secrets.

Each endpoint has its own secret (``whsec_...``), shown when it is created or rotated. Deliveries
to per-message ``callback_url`` addresses are signed with the tenant's callback secret instead:
one per tenant, created on first use (by ``GET /v1/webhooks/secret`` or the first callback
delivery) and readable again with the ``manage`` scope, since a tenant may need it before it ever
asked for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session as SyncSession

from hongyan import errors
from hongyan.accounts.service import Actor, audit
from hongyan.api.context import AppContext
from hongyan.ids import new_id
from hongyan.kit.crypto import SecretBox, new_secret
from hongyan.models import WebhookCallbackSecret, WebhookEndpoint, utcnow
from hongyan.webhooks import repository as repo
from hongyan.webhooks.cache import cache_of
from hongyan.webhooks.schemas import ALL_EVENTS, EVENTS, EndpointCreate, EndpointUpdate
from hongyan.webhooks.urls import validate_url

SECRET_PREFIX = "whsec"  # noqa: S105 - the prefix of generated secrets, not a secret
DISABLED_ERROR = "endpoint disabled"


@dataclass(frozen=True, slots=True)
class CreatedEndpoint:
    endpoint: WebhookEndpoint
    secret: str  # shown once to the caller, never logged


def _expire_after_commit(session: AsyncSession, ctx: AppContext, tenant_id: str) -> None:
    """This process sees an endpoint change as soon as it is committed."""
    cache = cache_of(ctx.caches, ctx.settings.webhook_endpoint_cache_secs)
    sync: SyncSession = session.sync_session

    def on_commit(_: SyncSession) -> None:
        cache.expire(tenant_id)

    sa_event.listen(sync, "after_commit", on_commit, once=True)


# --- endpoints --------------------------------------------------------------------------------


def normalize_events(events: Sequence[str], *, field: str = "events") -> list[str]:
    """Known events without repeats, or ["*"] when "*" is among them."""
    for name in events:
        if name != ALL_EVENTS and name not in EVENTS:
            raise errors.WEBHOOK_EVENT_UNKNOWN(field=field, event=name)
    return [ALL_EVENTS] if ALL_EVENTS in events else list(dict.fromkeys(events))


def _rotate(row: WebhookEndpoint | WebhookCallbackSecret, box: SecretBox, keep_secs: int) -> str:
    """Give the row a new secret, keeping the old one signing for ``keep_secs``; the new one."""
    secret = new_secret(SECRET_PREFIX)
    if keep_secs > 0:
        row.previous_secret_encrypted = row.secret_encrypted
        row.previous_secret_expires_at = utcnow() + timedelta(seconds=keep_secs)
    else:
        row.previous_secret_encrypted = None
        row.previous_secret_expires_at = None
    row.secret_encrypted = box.encrypt(secret)
    row.secret_hint = secret[-4:]
    return secret


def signing_secrets(
    row: WebhookEndpoint | WebhookCallbackSecret, box: SecretBox, now: datetime
) -> list[str]:
    """The secrets a delivery is signed with now: the current one, and a rotated-out one."""
    secrets = [box.decrypt(row.secret_encrypted)]
    expires = row.previous_secret_expires_at
    if row.previous_secret_encrypted and expires is not None and expires > now:
        secrets.append(box.decrypt(row.previous_secret_encrypted))
    return secrets


async def create_endpoint(
    session: AsyncSession, *, ctx: AppContext, actor: Actor, tenant_id: str, req: EndpointCreate
) -> CreatedEndpoint:
    """A new endpoint; its signing secret is returned this once."""
    url = validate_url(req.url, allow_private=ctx.settings.webhook_allow_private_hosts)
    events = normalize_events(req.events)
    limit = ctx.settings.webhook_max_endpoints
    if await repo.count_endpoints(session, tenant_id) >= limit:
        raise errors.WEBHOOK_LIMIT_REACHED(limit=limit)
    endpoint = WebhookEndpoint(
        id=new_id("whk"),
        tenant_id=tenant_id,
        url=url,
        events=events,
        description=req.description,
        enabled=True,
        consecutive_failures=0,
    )
    secret = _rotate(endpoint, ctx.box, 0)
    await repo.add(session, endpoint)
    await audit(
        session,
        actor,
        "webhook.create",
        tenant_id=tenant_id,
        target_id=endpoint.id,
        details={"url": url, "events": events},
    )
    _expire_after_commit(session, ctx, tenant_id)
    return CreatedEndpoint(endpoint, secret)


async def get_endpoint(
    session: AsyncSession, *, tenant_id: str | None, endpoint_id: str
) -> WebhookEndpoint:
    """An endpoint of this tenant (any tenant's when tenant_id is None); 404 for others'."""
    endpoint = await repo.get_endpoint(session, endpoint_id)
    if endpoint is None or (tenant_id is not None and endpoint.tenant_id != tenant_id):
        raise errors.WEBHOOK_NOT_FOUND(field="id", id=endpoint_id)
    return endpoint


async def list_endpoints(
    session: AsyncSession, *, tenant_id: str, limit: int, before_id: str | None
) -> list[WebhookEndpoint]:
    """The tenant's endpoints, newest first (limit+1 rows, for the cursor)."""
    return await repo.list_endpoints(session, tenant_id=tenant_id, limit=limit, before_id=before_id)


async def update_endpoint(
    session: AsyncSession,
    *,
    ctx: AppContext,
    actor: Actor,
    tenant_id: str,
    endpoint_id: str,
    req: EndpointUpdate,
) -> WebhookEndpoint:
    """Change an endpoint; disabling it dead-letters its pending deliveries (replayable)."""
    endpoint = await get_endpoint(session, tenant_id=tenant_id, endpoint_id=endpoint_id)
    changes = req.model_dump(exclude_unset=True)
    # null means "no change", except for the description, which it clears.
    changes = {k: v for k, v in changes.items() if v is not None or k == "description"}
    if "url" in changes:
        allow = ctx.settings.webhook_allow_private_hosts
        changes["url"] = validate_url(changes["url"], allow_private=allow)
    if "events" in changes:
        changes["events"] = normalize_events(changes["events"])
    if changes.get("url", endpoint.url) != endpoint.url or (
        changes.get("enabled") and not endpoint.enabled
    ):
        # A new address, or switched back on: whatever made it fail may be fixed.
        endpoint.consecutive_failures, endpoint.paused_until = 0, None
    if changes.get("enabled") is False and endpoint.enabled:
        await repo.kill_pending(session, endpoint.id, error=DISABLED_ERROR)
    for name, value in changes.items():
        setattr(endpoint, name, value)
    await session.flush()
    await audit(
        session,
        actor,
        "webhook.update",
        tenant_id=tenant_id,
        target_id=endpoint.id,
        details=changes,
    )
    _expire_after_commit(session, ctx, tenant_id)
    return endpoint


async def delete_endpoint(
    session: AsyncSession, *, ctx: AppContext, actor: Actor, tenant_id: str, endpoint_id: str
) -> None:
    """Delete an endpoint with its delivery log; nothing more is sent to it."""
    endpoint = await get_endpoint(session, tenant_id=tenant_id, endpoint_id=endpoint_id)
    await repo.delete_endpoint(session, endpoint.id)
    await audit(
        session,
        actor,
        "webhook.delete",
        tenant_id=tenant_id,
        target_id=endpoint_id,
        details={"url": endpoint.url},
    )
    session.expunge(endpoint)
    _expire_after_commit(session, ctx, tenant_id)


async def rotate_endpoint_secret(
    session: AsyncSession,
    *,
    ctx: AppContext,
    actor: Actor,
    tenant_id: str,
    endpoint_id: str,
    keep_previous_secs: int = 0,
) -> CreatedEndpoint:
    """A new signing secret for an endpoint, returned this once."""
    endpoint = await get_endpoint(session, tenant_id=tenant_id, endpoint_id=endpoint_id)
    secret = _rotate(endpoint, ctx.box, keep_previous_secs)
    await session.flush()
    await audit(
        session,
        actor,
        "webhook.rotate_secret",
        tenant_id=tenant_id,
        target_id=endpoint.id,
        details={"keep_previous_secs": keep_previous_secs},
    )
    return CreatedEndpoint(endpoint, secret)


# --- the callback secret ----------------------------------------------------------------------


async def ensure_callback_secrets(
    session: AsyncSession, *, box: SecretBox, tenant_ids: Sequence[str]
) -> dict[str, WebhookCallbackSecret]:
    """The callback secrets of these tenants, created for those that have none yet."""
    found = {s.tenant_id: s for s in await repo.callback_secrets(session, tenant_ids)}
    missing = [t for t in dict.fromkeys(tenant_ids) if t not in found]
    if missing:
        rows = []
        for tenant_id in missing:
            secret = new_secret(SECRET_PREFIX)
            rows.append(
                {
                    "tenant_id": tenant_id,
                    "secret_encrypted": box.encrypt(secret),
                    "secret_hint": secret[-4:],
                    "created_at": utcnow(),
                }
            )
        await repo.insert_callback_secrets(session, rows)
        found.update({s.tenant_id: s for s in await repo.callback_secrets(session, missing)})
    return found


async def callback_secret(
    session: AsyncSession, *, ctx: AppContext, tenant_id: str
) -> tuple[WebhookCallbackSecret, str]:
    """The tenant's callback secret row and the secret itself (created on first use)."""
    rows = await ensure_callback_secrets(session, box=ctx.box, tenant_ids=[tenant_id])
    row = rows[tenant_id]
    return row, ctx.box.decrypt(row.secret_encrypted)


async def rotate_callback_secret(
    session: AsyncSession, *, ctx: AppContext, actor: Actor, tenant_id: str, keep_previous_secs: int
) -> tuple[WebhookCallbackSecret, str]:
    """Replace the tenant's callback secret; the new one is returned."""
    await ensure_callback_secrets(session, box=ctx.box, tenant_ids=[tenant_id])
    row = await repo.get_callback_secret(session, tenant_id, for_update=True)
    assert row is not None
    secret = _rotate(row, ctx.box, keep_previous_secs)
    row.rotated_at = utcnow()
    await session.flush()
    await audit(
        session,
        actor,
        "webhook.rotate_callback_secret",
        tenant_id=tenant_id,
        details={"keep_previous_secs": keep_previous_secs},
    )
    return row, secret
