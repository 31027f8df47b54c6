"""Accepting messages: every check in order, then the write, in the caller's transaction.

Checks, in order, each refusal with its catalog code and nothing written: sign and template
approved and matching (scene), params valid, number valid and sendable, content compliant, not
suppressed, price known, balance, per-number frequency limits and tenant caps. A batch is
accepted partially: one bad recipient never fails the others.

Two steps, so that single sends can be written together (``messages.group``): ``prepare`` runs
the checks that read only what seldom changes (the tenant, sign, template and word lists come
from caches) and ``finish`` the rest, which read what concurrent sends change (suppression,
balance, limits), then writes; ``finish`` takes several prepared requests and answers each.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import configure_mappers

from hongyan import errors
from hongyan.accounts.auth import Principal
from hongyan.api.context import AppContext
from hongyan.billing import service as billing
from hongyan.compliance import service as compliance
from hongyan.errors import HongyanError, Lang
from hongyan.ids import new_id
from hongyan.kit.segments import SegmentInfo, analyze
from hongyan.limits import service as limits
from hongyan.messages import lookups, transitions
from hongyan.messages import repository as repo
from hongyan.messages.schemas import BatchRequest, Kind, SendRequest
from hongyan.models import PRIORITY_OF, Message, Sign, Template, Tenant, utcnow
from hongyan.numbers.parse import NumberInfo
from hongyan.numbers.service import parser_of
from hongyan.signs import service as signs
from hongyan.templates import service as templates
from hongyan.templates.render import render
from hongyan.webhooks.urls import validate_url
from hongyan.worker import wakeup

MAX_SCHEDULE_DAYS = 30


@dataclass(frozen=True, slots=True)
class Item:
    """One recipient as asked."""

    index: int
    to: str
    sign: str | None
    params: dict[str, str]
    out_id: str | None


@dataclass(slots=True)
class Draft:
    """A recipient that passed the content checks: what will be stored."""

    item: Item
    number: NumberInfo
    sign: str | None
    text: str
    segments: SegmentInfo
    amount: int = 0
    currency: str = "CNY"

    @property
    def msisdn(self) -> str:
        assert self.number.e164
        return self.number.e164


@dataclass(slots=True)
class Accepted:
    messages: list[Message] = field(default_factory=list)
    rejected: list[tuple[Item, HongyanError]] = field(default_factory=list)


@dataclass(slots=True)
class _Request:
    """What one request shares between its recipients."""

    tenant: Tenant
    principal: Principal
    template: Template | None
    body: str | None
    kind: Kind
    region: str
    lang: Lang
    status: str
    due_at: datetime
    validity_until: datetime | None
    callback_url: str | None
    tag: str | None
    signs: dict[str, Sign] = field(default_factory=dict)


@dataclass(slots=True)
class Pending:
    """One request between ``prepare`` and ``finish``: its drafts and what it got so far."""

    shared: _Request
    drafts: list[Draft]
    result: Accepted
    acquired: limits.Acquired | None = None

    def again(self) -> Pending:
        """The request as ``prepare`` left it, for another ``finish`` (a group written alone)."""
        return Pending(
            self.shared, list(self.drafts), Accepted(rejected=list(self.result.rejected))
        )


async def send(
    session: AsyncSession,
    *,
    ctx: AppContext,
    principal: Principal,
    req: SendRequest,
    lang: Lang = "en",
) -> Message:
    """Accept one message, or raise the catalog error of the first check it fails."""
    item = Item(0, req.to, req.sign, req.params, req.out_id)
    result = await _accept(session, ctx=ctx, principal=principal, req=req, items=[item], lang=lang)
    if result.rejected:
        raise result.rejected[0][1]
    return result.messages[0]


async def send_batch(
    session: AsyncSession,
    *,
    ctx: AppContext,
    principal: Principal,
    req: BatchRequest,
    lang: Lang = "en",
) -> Accepted:
    """Accept what can be accepted; the rest comes back with index and catalog error."""
    items = [
        Item(i, r.to, r.sign or req.sign, r.params, r.out_id) for i, r in enumerate(req.recipients)
    ]
    return await _accept(session, ctx=ctx, principal=principal, req=req, items=items, lang=lang)


async def _accept(
    session: AsyncSession,
    *,
    ctx: AppContext,
    principal: Principal,
    req: SendRequest | BatchRequest,
    items: Sequence[Item],
    lang: Lang,
) -> Accepted:
    pending = await prepare(session, ctx=ctx, principal=principal, req=req, items=items, lang=lang)
    await finish(session, ctx=ctx, group=[pending])
    return pending.result


async def prepare(
    session: AsyncSession,
    *,
    ctx: AppContext,
    principal: Principal,
    req: SendRequest | BatchRequest,
    items: Sequence[Item],
    lang: Lang,
) -> Pending:
    """The request-wide checks, then each recipient's up to its content; nothing written.

    A request-wide refusal (template, free text, send_at, callback_url) is raised; a recipient's
    is kept in ``result.rejected``.
    """
    shared = await _shared(session, ctx=ctx, principal=principal, req=req, lang=lang)
    pending = Pending(shared, [], Accepted())
    for item in items:
        try:
            pending.drafts.append(await _draft(session, ctx=ctx, shared=shared, item=item))
        except HongyanError as exc:
            pending.result.rejected.append((item, exc))
    return pending


async def finish(session: AsyncSession, *, ctx: AppContext, group: Sequence[Pending]) -> None:
    """Suppression, price, balance and limits of prepared requests, then their rows.

    In the caller's transaction, in order of the group (a request's drafts see the balance and
    limits the earlier ones took). Each request's refusals go to its ``result.rejected``, its
    messages to ``result.messages``. If this raises, the limits counted are given back.
    """
    await _drop_suppressed(session, group)
    for pending in group:
        pending.drafts = await _price(session, ctx, pending)
    await _within_balance(session, group)
    try:
        for pending in group:
            await _acquire_limits(session, ctx, pending)
        await _store(session, ctx=ctx, group=group)
    except BaseException:
        await release(group)
        raise
    for pending in group:
        pending.result.rejected.sort(key=lambda pair: pair[0].index)


async def release(group: Sequence[Pending]) -> None:
    """Give back the limits counted for these requests (their write did not commit)."""
    for pending in group:
        if pending.acquired is not None:
            await pending.acquired.release()


async def _acquire_limits(session: AsyncSession, ctx: AppContext, pending: Pending) -> None:
    shared = pending.shared
    pending.acquired = acquired = await limits.acquire(
        ctx,
        session,
        tenant_id=shared.tenant.id,
        items=[
            limits.LimitItem(
                msisdn=d.msisdn,
                kind=shared.kind,
                sign=d.sign or "",
                template_id=shared.template.id if shared.template else "",
            )
            for d in pending.drafts
        ],
    )
    kept = []
    for index, draft in enumerate(pending.drafts):
        refused = acquired.rejected.get(index)
        if refused is None:
            kept.append(draft)
        else:
            pending.result.rejected.append((draft.item, refused))
    pending.drafts = kept


async def _shared(
    session: AsyncSession,
    *,
    ctx: AppContext,
    principal: Principal,
    req: SendRequest | BatchRequest,
    lang: Lang,
) -> _Request:
    assert principal.tenant_id
    tenant = await lookups.tenant(session, ctx=ctx, tenant_id=principal.tenant_id)
    template = None
    if req.template is not None:
        try:
            template = await lookups.approved_template(
                session, ctx=ctx, tenant_id=tenant.id, template_id=req.template
            )
        except HongyanError as exc:
            exc.field = "template"  # the request's field, not the template's own "id"
            raise
    elif not tenant.free_text_allowed:
        raise errors.FREE_TEXT_NOT_ALLOWED(field="body")
    now = utcnow()
    due_at, status = now, "queued"
    if req.send_at is not None:
        send_at = req.send_at
        if send_at.tzinfo is None or not now < send_at <= now + timedelta(MAX_SCHEDULE_DAYS):
            raise errors.SEND_AT_INVALID(field="send_at", max_days=MAX_SCHEDULE_DAYS)
        due_at, status = send_at, "scheduled"
    if req.callback_url is not None:
        validate_url(
            req.callback_url,
            allow_private=ctx.settings.webhook_allow_private_hosts,
            field="callback_url",
        )
    return _Request(
        tenant=tenant,
        principal=principal,
        template=template,
        body=req.body,
        kind=cast(Kind, template.kind) if template else (req.kind or "notification"),
        region=(req.region or "CN").upper(),
        lang=lang,
        status=status,
        due_at=due_at,
        validity_until=due_at + timedelta(seconds=req.validity) if req.validity else None,
        callback_url=req.callback_url,
        tag=req.tag,
    )


async def _draft(session: AsyncSession, *, ctx: AppContext, shared: _Request, item: Item) -> Draft:
    sign = await _sign(session, ctx, shared, item.sign)
    template = shared.template
    if template is not None:  # params first, so their errors come before the number's
        render(template, item.params, allowed_domains=ctx.settings.link_allowed_domains)
    number = parser_of(ctx).parse(item.to, region=shared.region, lang=shared.lang)
    if not number.sendable or number.e164 is None:
        spec = errors.CATALOG.get(number.reason or "", errors.NUMBER_INVALID)
        raise spec(field="to", number=item.to, input=item.to, type=number.number_type)
    if template is not None:
        rendered = await templates.render_checked(
            session, ctx=ctx, tenant_id=shared.tenant.id, template=template, params=item.params
        )
        text, international = rendered.text, template.international
    else:
        assert shared.body is not None
        text, international = shared.body, False
        await _check_free_text(session, ctx, shared, text)
    mainland = number.region == "CN" and not international
    if mainland and sign is None:
        raise errors.SIGN_REQUIRED(field="sign")
    info = analyze(text, sign=sign.name if sign else None, mainland=mainland)
    limit = ctx.settings.messages_max_segments
    if info.segments > limit:
        raise errors.TOO_MANY_SEGMENTS(
            field="params" if template else "body", segments=info.segments, max=limit
        )
    return Draft(
        item=item, number=number, sign=sign.name if sign else None, text=info.text, segments=info
    )


async def _sign(
    session: AsyncSession, ctx: AppContext, shared: _Request, name: str | None
) -> Sign | None:
    if not name:
        return None
    sign = shared.signs.get(name)
    if sign is None:
        sign = await lookups.approved_sign(session, ctx=ctx, tenant_id=shared.tenant.id, name=name)
        shared.signs[name] = sign
    signs.check_sign_for_template(sign, shared.kind)
    return sign


async def _check_free_text(
    session: AsyncSession, ctx: AppContext, shared: _Request, text: str
) -> None:
    for hit in await compliance.scan(session, ctx=ctx, tenant_id=shared.tenant.id, text=text):
        if hit.action == "block":
            raise errors.CONTENT_BLOCKED(field="body", word=hit.word, category=hit.category)


async def _drop_suppressed(session: AsyncSession, group: Sequence[Pending]) -> None:
    """One query per tenant of the group for all its numbers."""
    by_tenant: dict[str, set[str]] = {}
    for pending in group:
        by_tenant.setdefault(pending.shared.tenant.id, set()).update(
            d.msisdn for d in pending.drafts
        )
    suppressed = {
        tenant_id: await repo.suppressed_among(session, tenant_id, sorted(msisdns))
        for tenant_id, msisdns in by_tenant.items()
    }
    for pending in group:
        numbers = suppressed[pending.shared.tenant.id] if pending.drafts else set()
        kept = []
        for draft in pending.drafts:
            if draft.msisdn in numbers:
                refused = errors.NUMBER_SUPPRESSED(field="to", msisdn=draft.msisdn)
                pending.result.rejected.append((draft.item, refused))
            else:
                kept.append(draft)
        pending.drafts = kept


async def _price(session: AsyncSession, ctx: AppContext, pending: Pending) -> list[Draft]:
    shared, kept = pending.shared, []
    for draft in pending.drafts:
        try:
            quote = await billing.quote(
                session,
                ctx=ctx,
                tenant_id=shared.tenant.id,
                region=draft.number.region,
                kind=shared.kind,
                segments=draft.segments.segments,
            )
        except HongyanError as exc:
            pending.result.rejected.append((draft.item, exc))
            continue
        draft.currency = quote.currency
        draft.amount = 0 if shared.principal.test_mode else quote.amount
        kept.append(draft)
    return kept


async def _within_balance(session: AsyncSession, group: Sequence[Pending]) -> None:
    """Keep what the balance covers, drafts in order; each request sees what earlier ones took.

    A snapshot (one query per tenant that pays for something): the hold in ``_store`` decides.
    """
    left: dict[str, int] = {}
    for pending in group:
        needed = sum(d.amount for d in pending.drafts)
        if needed == 0:
            continue
        tenant_id = pending.shared.tenant.id
        if tenant_id not in left:
            left[tenant_id] = await billing.available(session, tenant_id=tenant_id)
        available = left[tenant_id]
        kept, total = [], 0
        for draft in pending.drafts:
            if total + draft.amount <= available:
                total += draft.amount
                kept.append(draft)
            else:
                refused = errors.INSUFFICIENT_BALANCE(
                    balance=available, needed=total + draft.amount, currency=draft.currency
                )
                pending.result.rejected.append((draft.item, refused))
        pending.drafts = kept
        left[tenant_id] = available - total


async def _store(session: AsyncSession, *, ctx: AppContext, group: Sequence[Pending]) -> None:
    """Messages, their holds, first events and statistics: all in the caller's transaction.

    One statement per kind of row for the whole group; holds per tenant, tenants in order (so
    two groups on PostgreSQL lock accounts in the same order).
    """
    now = utcnow()
    rows_of = [[_row(p.shared, d, now) for d in p.drafts] for p in group]
    rows = [row for batch in rows_of for row in batch]
    if not rows:
        return
    holds: dict[str, list[tuple[str, int]]] = {}
    for row in rows:
        if row["amount"] > 0:
            holds.setdefault(row["tenant_id"], []).append((row["id"], row["amount"]))
    for tenant_id in sorted(holds):
        await billing.hold(session, tenant_id=tenant_id, items=holds[tenant_id])
    await repo.insert_messages(session, rows)
    if any(row["status"] == "queued" for row in rows):
        await wakeup.notify_due(session)  # workers in other processes (PostgreSQL LISTEN)
    await repo.insert_events(
        session, [{"message_id": r["id"], "status": r["status"], "at": now} for r in rows]
    )
    for pending, pending_rows in zip(group, rows_of, strict=True):
        pending.result.messages = [_message(r) for r in pending_rows]
    messages = [m for p in group for m in p.result.messages]
    await repo.bump_stats(session, _stat_rows(messages))


def _message(row: dict[str, Any]) -> Message:
    """The stored row as a transient Message (read by the caller, never added to a session).

    Filled without the ORM's attribute events: ``Message(**row)`` fires one per column and was
    a fifth of the time of writing a group of sends.
    """
    mapper = inspect(Message)
    if not mapper.configured:
        configure_mappers()
    message: Message = mapper.class_manager.new_instance()
    message.__dict__.update(row)
    return message


def _stat_rows(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """The statistics of newly accepted messages, one row per counter key."""
    totals: dict[tuple[Any, ...], dict[str, Any]] = {}
    for m in messages:
        key = transitions.stat_key(m)
        row = totals.setdefault(tuple(key.values()), transitions.stat_row(key))
        row["submitted"] += 1
        row["segments"] += m.segments
        row["cost"] += m.amount
    return list(totals.values())


def _row(shared: _Request, draft: Draft, now: datetime) -> dict[str, Any]:
    template = shared.template
    return {
        "id": new_id("msg"),
        "tenant_id": shared.tenant.id,
        "api_key_id": shared.principal.key_id,
        "test_mode": shared.principal.test_mode,
        "msisdn": draft.msisdn,
        "region": draft.number.region,
        "carrier": draft.number.carrier,
        "kind": shared.kind,
        "priority": PRIORITY_OF[shared.kind],
        "sign": draft.sign,
        "template_id": template.id if template else None,
        "params": draft.item.params or None,
        "text": draft.text,
        "encoding": str(draft.segments.encoding),
        "segments": draft.segments.segments,
        "amount": draft.amount,
        "currency": draft.currency,
        "status": shared.status,
        "due_at": shared.due_at,
        "validity_until": shared.validity_until,
        "out_id": draft.item.out_id,
        "callback_url": shared.callback_url,
        "tag": shared.tag,
        "connector_id": None,
        "attempts": 0,
        "parts_done": 0,
        "created_at": now,
        "updated_at": now,
    }


async def cancel(
    session: AsyncSession, *, ctx: AppContext, tenant_id: str, message_id: str
) -> Message:
    """Cancel a scheduled message; its hold is refunded."""
    message = await repo.get(session, tenant_id, message_id, for_update=True)
    if message is None:
        raise errors.MESSAGE_NOT_FOUND(field="id", id=message_id)
    if message.status != "scheduled":
        raise errors.MESSAGE_NOT_CANCELABLE(status=message.status)
    await transitions.apply(
        session,
        ctx=ctx,
        changes=[
            transitions.Change(message, "canceled", code=None, detail="canceled by the tenant")
        ],
    )
    return message


async def get(session: AsyncSession, *, tenant_id: str, message_id: str) -> Message:
    message = await repo.get(session, tenant_id, message_id)
    if message is None:
        raise errors.MESSAGE_NOT_FOUND(field="id", id=message_id)
    return message
