"""Rules of the limits domain: tenants' policies and whitelists, and the checks of the send path.

The messages domain calls ``acquire`` (re-exported here from ``check``) with a batch of
``LimitItem``; operators set a tenant's policy with ``set_limits``; tenants keep a whitelist of
numbers exempt from per-number limits (their own test phones, say). Caps and the request rate
apply to whitelisted numbers too: they protect the tenant's budget, not the recipient.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from hongyan import errors
from hongyan.accounts import service as accounts
from hongyan.accounts.service import Actor, audit
from hongyan.api.context import AppContext
from hongyan.ids import looks_like, new_id
from hongyan.limits import repository as repo
from hongyan.limits.backend import Limiter, get_limiter
from hongyan.limits.check import Acquired, LimitItem, acquire, cap_keys, zone_of
from hongyan.limits.policy import DEFAULT_RULES, KINDS, Kind, Policy, changed, load_policy
from hongyan.limits.schemas import (
    MAX_RULES_PER_KIND,
    LimitsOut,
    LimitsUpdate,
    Rule,
    WhitelistAdd,
)
from hongyan.models import LimitWhitelist
from hongyan.numbers.parse import parse_number

__all__ = [
    "DEFAULT_RULES",
    "WHITELIST_MAX",
    "Acquired",
    "LimitItem",
    "Limiter",
    "acquire",
    "add_whitelisted",
    "get_limiter",
    "get_limits",
    "list_whitelist",
    "remove_whitelisted",
    "set_limits",
    "usage",
]

# The whitelist is held in memory by every process (checked per message without a query), so
# it is bounded; it is meant for test phones and staff, not for customer lists.
WHITELIST_MAX = 10_000


# --- policies ---------------------------------------------------------------------------------


async def get_limits(session: AsyncSession, *, ctx: AppContext, tenant_id: str) -> LimitsOut:
    """A tenant's limits in force, with today's and this month's usage."""
    return await _view(ctx, await load_policy(session, tenant_id))


async def set_limits(
    session: AsyncSession, *, ctx: AppContext, actor: Actor, tenant_id: str, req: LimitsUpdate
) -> LimitsOut:
    """Replace a tenant's policy (audited); every process applies it within the refresh time."""
    await accounts.get_tenant(session, tenant_id)
    rules = _stored_rules(req)
    await repo.save_policy(
        session,
        tenant_id,
        rules=rules,
        rate_per_sec=req.rate_per_sec,
        daily_cap=req.daily_cap,
        monthly_cap=req.monthly_cap,
    )
    await changed(session, ctx=ctx, tenant_id=tenant_id)
    details = {
        "rules": rules,
        "rate_per_sec": req.rate_per_sec,
        "daily_cap": req.daily_cap,
        "monthly_cap": req.monthly_cap,
    }
    await audit(session, actor, "limits.set", tenant_id=tenant_id, details=details)
    return await _view(ctx, await load_policy(session, tenant_id))


def _stored_rules(req: LimitsUpdate) -> dict[str, Any]:
    """The rules to store: the kinds given, each checked and sorted by window."""
    stored: dict[str, Any] = {}
    for kind, rules in req.rules.items():
        if rules is None:
            continue
        if len(rules) > MAX_RULES_PER_KIND:
            raise errors.FIELD_INVALID(
                field=f"rules.{kind}", reason=f"at most {MAX_RULES_PER_KIND} windows per kind"
            )
        spans = [r.window_secs for r in rules]
        if len(set(spans)) != len(spans):
            raise errors.FIELD_INVALID(
                field=f"rules.{kind}", reason="each window_secs may appear once"
            )
        ordered = sorted(rules, key=lambda r: r.window_secs)
        stored[kind] = [{"window_secs": r.window_secs, "max": r.max} for r in ordered]
    return stored


async def usage(ctx: AppContext, policy: Policy, *, now: float | None = None) -> tuple[int, int]:
    """Messages counted today and this month (the tenant's time zone)."""
    local = datetime.fromtimestamp(time.time() if now is None else now, zone_of(policy.timezone))
    day, month = await get_limiter(ctx).counts(
        cap_keys(ctx.settings.limits_key_prefix, policy.tenant_id, local)
    )
    return day, month


async def _view(ctx: AppContext, policy: Policy) -> LimitsOut:
    used_today, used_this_month = await usage(ctx, policy)
    rules: dict[Kind, list[Rule]] = {
        kind: [Rule(window_secs=r.window_secs, max=r.max) for r in policy.rules[kind]]
        for kind in KINDS
    }
    return LimitsOut(
        tenant_id=policy.tenant_id,
        rules=rules,
        customized=[k for k in KINDS if k in policy.customized],
        rate_per_sec=policy.rate_per_sec,
        daily_cap=policy.daily_cap,
        monthly_cap=policy.monthly_cap,
        timezone=policy.timezone,
        used_today=used_today,
        used_this_month=used_this_month,
        whitelisted=len(policy.whitelist),
        revision=policy.revision,
        updated_at=policy.updated_at,
    )


# --- the whitelist ----------------------------------------------------------------------------


async def list_whitelist(
    session: AsyncSession, *, tenant_id: str, limit: int, before_id: str | None
) -> list[LimitWhitelist]:
    """One page of a tenant's whitelist, newest first (limit + 1 rows)."""
    return await repo.list_whitelist(session, tenant_id=tenant_id, limit=limit, before_id=before_id)


async def add_whitelisted(
    session: AsyncSession, *, ctx: AppContext, actor: Actor, tenant_id: str, req: WhitelistAdd
) -> LimitWhitelist:
    """Exempt a number from the tenant's per-number limits (audited)."""
    await accounts.get_tenant(session, tenant_id)
    msisdn = _e164(req.msisdn, req.region)
    # Bumping first takes the policy row's lock on PostgreSQL, so two concurrent adds cannot
    # both see room for one more number.
    await repo.bump_revision(session, tenant_id)
    if await repo.count_whitelist(session, tenant_id) >= WHITELIST_MAX:
        raise errors.WHITELIST_FULL(limit=WHITELIST_MAX)
    row = LimitWhitelist(id=new_id("lwl"), tenant_id=tenant_id, msisdn=msisdn, note=req.note)
    if not await repo.add_whitelisted(session, row):
        raise errors.WHITELIST_ENTRY_EXISTS(field="msisdn", msisdn=msisdn)
    await changed(session, ctx=ctx, tenant_id=tenant_id)
    await audit(
        session,
        actor,
        "limits.whitelist_add",
        tenant_id=tenant_id,
        target_id=row.id,
        details={"msisdn": msisdn},
    )
    return row


async def remove_whitelisted(
    session: AsyncSession, *, ctx: AppContext, actor: Actor, tenant_id: str, entry: str
) -> LimitWhitelist:
    """Take a number (given as entry id or as the number) off the whitelist (audited)."""
    if looks_like(entry, "lwl"):
        row = await repo.find_whitelisted(session, tenant_id=tenant_id, entry_id=entry)
    else:
        info = parse_number(entry, region="CN")
        row = None
        if info.e164 is not None:
            row = await repo.find_whitelisted(session, tenant_id=tenant_id, msisdn=info.e164)
    if row is None:
        raise errors.WHITELIST_ENTRY_NOT_FOUND(field="id", id=entry)
    await repo.bump_revision(session, tenant_id)
    await repo.delete_whitelisted(session, row)
    await changed(session, ctx=ctx, tenant_id=tenant_id)
    await audit(
        session,
        actor,
        "limits.whitelist_remove",
        tenant_id=tenant_id,
        target_id=row.id,
        details={"msisdn": row.msisdn},
    )
    return row


def _e164(raw: str, region: str) -> str:
    """The number in E.164, or the numbers domain's refusal naming the field."""
    info = parse_number(raw, region=region)
    if info.e164 is None or info.reason is not None:
        spec = errors.CATALOG[info.reason or errors.NUMBER_INVALID.code]
        raise spec(field="msisdn", number=raw, number_type=info.number_type)
    return info.e164
