"""Accepting messages: every check in order, then one transaction per request.

Checks, in order, each refusal with its catalog code and nothing written: sign and template
approved and matching (scene), params valid, number valid and sendable, content compliant, not
suppressed, price known, balance, per-number frequency limits and tenant caps. A batch is
accepted partially: one bad recipient never fails the others.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy.ext.asyncio import AsyncSession

from hongyan import errors
from hongyan.accounts import service as accounts
from hongyan.accounts.auth import Principal
from hongyan.api.context import AppContext
from hongyan.billing import service as billing
from hongyan.compliance import service as compliance
from hongyan.errors import HongyanError, Lang
from hongyan.ids import new_id
from hongyan.kit.segments import SegmentInfo, analyze
from hongyan.limits import service as limits
from hongyan.messages import repository as repo
from hongyan.messages import transitions
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
    shared = await _shared(session, ctx=ctx, principal=principal, req=req, lang=lang)
    result = Accepted()
    drafts = []
    for item in items:
        try:
            drafts.append(await _draft(session, ctx=ctx, shared=shared, item=item))
        except HongyanError as exc:
            result.rejected.append((item, exc))
    drafts = await _drop_suppressed(session, shared, drafts, result)
    drafts = await _price(session, ctx, shared, drafts, result)
    drafts = await _within_balance(session, shared, drafts, result)
    acquired = await limits.acquire(
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
            for d in drafts
        ],
    )
    kept = []
    for index, draft in enumerate(drafts):
        refused = acquired.rejected.get(index)
        if refused is None:
            kept.append(draft)
        else:
            result.rejected.append((draft.item, refused))
    try:
        result.messages = await _store(session, ctx=ctx, shared=shared, drafts=kept)
    except BaseException:
        await acquired.release()
        raise
    result.rejected.sort(key=lambda pair: pair[0].index)
    return result


async def _shared(
    session: AsyncSession,
    *,
    ctx: AppContext,
    principal: Principal,
    req: SendRequest | BatchRequest,
    lang: Lang,
) -> _Request:
    assert principal.tenant_id
    tenant = await accounts.get_tenant(session, principal.tenant_id)
    template = None
    if req.template is not None:
        try:
            template = await templates.get_approved(
                session, tenant_id=tenant.id, template_id=req.template
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
    sign = await _sign(session, shared, item.sign)
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


async def _sign(session: AsyncSession, shared: _Request, name: str | None) -> Sign | None:
    if not name:
        return None
    sign = shared.signs.get(name)
    if sign is None:
        sign = await signs.get_approved(session, tenant_id=shared.tenant.id, name=name)
        shared.signs[name] = sign
    signs.check_sign_for_template(sign, shared.kind)
    return sign


async def _check_free_text(
    session: AsyncSession, ctx: AppContext, shared: _Request, text: str
) -> None:
    for hit in await compliance.scan(session, ctx=ctx, tenant_id=shared.tenant.id, text=text):
        if hit.action == "block":
            raise errors.CONTENT_BLOCKED(field="body", word=hit.word, category=hit.category)


async def _drop_suppressed(
    session: AsyncSession, shared: _Request, drafts: list[Draft], result: Accepted
) -> list[Draft]:
    suppressed = await repo.suppressed_among(session, shared.tenant.id, [d.msisdn for d in drafts])
    kept = []
    for draft in drafts:
        if draft.msisdn in suppressed:
            result.rejected.append(
                (draft.item, errors.NUMBER_SUPPRESSED(field="to", msisdn=draft.msisdn))
            )
        else:
            kept.append(draft)
    return kept


async def _price(
    session: AsyncSession, ctx: AppContext, shared: _Request, drafts: list[Draft], result: Accepted
) -> list[Draft]:
    kept = []
    for draft in drafts:
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
            result.rejected.append((draft.item, exc))
            continue
        draft.currency = quote.currency
        draft.amount = 0 if shared.principal.test_mode else quote.amount
        kept.append(draft)
    return kept


async def _within_balance(
    session: AsyncSession, shared: _Request, drafts: list[Draft], result: Accepted
) -> list[Draft]:
    """Keep the prefix of the batch the balance covers; refuse the rest."""
    needed = sum(d.amount for d in drafts)
    if needed == 0:
        return drafts
    available = await billing.available(session, tenant_id=shared.tenant.id)
    kept, total = [], 0
    for draft in drafts:
        if total + draft.amount <= available:
            total += draft.amount
            kept.append(draft)
        else:
            result.rejected.append(
                (
                    draft.item,
                    errors.INSUFFICIENT_BALANCE(
                        balance=available, needed=total + draft.amount, currency=draft.currency
                    ),
                )
            )
    return kept


async def _store(
    session: AsyncSession, *, ctx: AppContext, shared: _Request, drafts: Sequence[Draft]
) -> list[Message]:
    """Messages, their hold, first event and statistics: all in the caller's transaction."""
    if not drafts:
        return []
    now = utcnow()
    rows = [_row(shared, d, now) for d in drafts]
    holds = [(r["id"], r["amount"]) for r in rows if r["amount"] > 0]
    if holds:
        await billing.hold(session, tenant_id=shared.tenant.id, items=holds)
    await repo.insert_messages(session, rows)
    if shared.status == "queued":
        await wakeup.notify_due(session)  # workers in other processes (PostgreSQL LISTEN)
    await repo.insert_events(
        session, [{"message_id": r["id"], "status": r["status"], "at": now} for r in rows]
    )
    messages = [Message(**r) for r in rows]
    await repo.bump_stats(
        session,
        [
            transitions.stat_row(
                transitions.stat_key(m), submitted=1, segments=m.segments, cost=m.amount
            )
            for m in messages
        ],
    )
    return messages


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
