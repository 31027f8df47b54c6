"""Inbound (MO) messages and the suppression list they feed.

An inbound message belongs to the tenant of the **last outbound message to its sender** (the
last conversation): long numbers and extension codes shared by several tenants cannot say more
today. One with no such message is stored with no tenant, for the operator to see.

A message that is exactly an opt-out keyword (``inbound_opt_out_keywords``: 退订, TD, T, N,
STOP, ... — compared trimmed, ignoring case and full-width forms) adds its sender to the
tenant's suppression list (source ``opt_out``); an opt-in keyword (START, UNSTOP, YES) removes
an ``opt_out`` suppression again. Suppressions the tenant added itself (``manual``, ``import``,
``complaint``) are never removed by a reply. Every matched message goes to the tenant's
``inbound.received`` webhooks, with ``optout``/``optin`` flags.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import structlog
from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession

from hongyan import errors
from hongyan.accounts.service import Actor, audit
from hongyan.api.context import AppContext
from hongyan.connectors.base import InboundSms
from hongyan.ids import new_id
from hongyan.inbound import repository as repo
from hongyan.models import InboundMessage, Suppression, utcnow
from hongyan.numbers.parse import parse_number
from hongyan.smpp_server import outbox as smpp_outbox
from hongyan.webhooks import service as webhooks

log = structlog.get_logger(__name__)

INBOUND = Counter(
    "hongyan_inbound_messages_total",
    "Inbound messages stored, by whether a tenant matched and what keyword they were",
    ["matched", "opt_action"],
)

# Stripped around a keyword: spaces (also ideographic) and the punctuation people add to it.
_TRIM = " \t\r\n\u3000.。!！?？,，;；~～"
# Sender addresses without '+' are read as dialled in this region (SMPP MO often drops it).
DEFAULT_REGION = "CN"


@dataclass(slots=True)
class ReceiveResult:
    """What a batch of inbound messages did."""

    stored: int = 0
    duplicates: int = 0  # handed over again by the connector: stored once
    unmatched: int = 0  # no outbound message to the sender: stored without a tenant
    opted_out: int = 0  # numbers newly added to a suppression list
    opted_in: int = 0  # opt_out suppressions removed


def keyword_of(text: str) -> str:
    """The text as compared with keywords: NFKC, trimmed, case-folded."""
    return unicodedata.normalize("NFKC", text).strip(_TRIM).casefold()


@lru_cache(maxsize=8)
def _keyword_sets(
    opt_out: tuple[str, ...], opt_in: tuple[str, ...]
) -> tuple[frozenset[str], frozenset[str]]:
    return frozenset(map(keyword_of, opt_out)), frozenset(map(keyword_of, opt_in))


def opt_action(text: str, *, opt_out: Sequence[str], opt_in: Sequence[str]) -> str | None:
    """``opt_out``, ``opt_in`` or None: whether the whole message is one of the keywords."""
    outs, ins = _keyword_sets(tuple(opt_out), tuple(opt_in))
    word = keyword_of(text)
    return "opt_out" if word in outs else "opt_in" if word in ins else None


def normalize_sender(raw: str) -> str:
    """E.164 where the address is a valid number (with or without '+'), else as given."""
    text = raw.strip()
    if text.startswith("+"):
        return text
    if text.startswith("00"):
        return "+" + text[2:]
    info = parse_number(text, region=DEFAULT_REGION)
    return info.e164 or text


async def receive(ctx: AppContext, items: Sequence[InboundSms]) -> ReceiveResult:
    """Store inbound messages from a connector in one transaction, then act on keywords."""
    result = ReceiveResult()
    if not items:
        return result
    now = utcnow()
    async with ctx.db.session() as session:
        rows = [_row(item, now, ctx) for item in items]
        owners = await repo.last_outbound(session, [r["msisdn"] for r in rows])
        for row in rows:
            row["tenant_id"], row["message_id"] = owners.get(row["msisdn"], (None, None))
        stored_ids = await repo.insert_inbound(session, rows)
        stored = [r for r in rows if r["id"] in stored_ids]
        result.stored, result.duplicates = len(stored), len(rows) - len(stored)
        result.unmatched = sum(1 for r in stored if r["tenant_id"] is None)
        matched = [r for r in stored if r["tenant_id"] is not None]
        await _apply_keywords(session, matched, result)
        await webhooks.enqueue_many(session, ctx=ctx, events=[_event(r) for r in matched])
        await smpp_outbox.queue_inbound(session, ctx=ctx, rows=matched)
    for r in stored:
        INBOUND.labels(str(r["tenant_id"] is not None).lower(), r["opt_action"] or "none").inc()
    return result


def _row(item: InboundSms, now: datetime, ctx: AppContext) -> dict[str, Any]:
    settings = ctx.settings
    action = opt_action(
        item.text,
        opt_out=settings.inbound_opt_out_keywords,
        opt_in=settings.inbound_opt_in_keywords,
    )
    return {
        "id": new_id("inb"),
        "connector_id": item.connector_id,
        # Longer than the column: kept without it (stored, but not deduplicated).
        "upstream_id": item.upstream_id if len(item.upstream_id or "") <= 100 else None,
        "msisdn": normalize_sender(item.msisdn)[:20],
        "to": item.to[:32],
        "text": item.text,
        "opt_action": action,
        "received_at": item.received_at or now,
        "created_at": now,
    }


async def _apply_keywords(
    session: AsyncSession, rows: Sequence[dict[str, Any]], result: ReceiveResult
) -> None:
    # The last keyword of a number in the batch wins: STOP then START leaves it opted in.
    last: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        if r["opt_action"]:
            last[(r["tenant_id"], r["msisdn"])] = r
    outs = [
        {
            "tenant_id": tenant_id,
            "msisdn": msisdn,
            "source": "opt_out",
            "note": f"replied {r['text'].strip()[:40]!r} ({r['id']})",
            "created_at": r["created_at"],
        }
        for (tenant_id, msisdn), r in last.items()
        if r["opt_action"] == "opt_out"
    ]
    result.opted_out += await repo.add_suppressions(session, outs)
    ins: dict[str, list[str]] = {}
    for (tenant_id, msisdn), r in last.items():
        if r["opt_action"] == "opt_in":
            ins.setdefault(tenant_id, []).append(msisdn)
    for tenant_id, msisdns in ins.items():
        result.opted_in += await repo.remove_opt_outs(session, tenant_id, msisdns)
    if outs or ins:
        log.info("inbound keywords applied", opted_out=len(outs), opted_in=len(ins))


def _event(row: dict[str, Any]) -> webhooks.EventIn:
    return webhooks.EventIn(
        tenant_id=row["tenant_id"],
        event="inbound.received",
        payload={
            "id": row["id"],
            "msisdn": row["msisdn"],
            "to": row["to"],
            "text": row["text"],
            "connector_id": row["connector_id"],
            "in_reply_to": row["message_id"],
            "received_at": row["received_at"],
            "optout": row["opt_action"] == "opt_out",
            "optin": row["opt_action"] == "opt_in",
        },
    )


# --- the tenant's view --------------------------------------------------------------------------


async def get_inbound(session: AsyncSession, *, tenant_id: str | None, id_: str) -> InboundMessage:
    """One inbound message of the tenant (any tenant's for the operator: tenant_id None)."""
    row = await repo.get_inbound(session, tenant_id, id_)
    if row is None:
        raise errors.INBOUND_NOT_FOUND(id=id_)
    return row


async def list_inbound(
    session: AsyncSession,
    *,
    tenant_id: str | None,
    limit: int,
    before_id: str | None,
    msisdn: str | None = None,
    opt_action: str | None = None,
    unmatched: bool = False,
) -> list[InboundMessage]:
    """Newest first; limit+1 rows so the caller can tell whether a next page exists."""
    return await repo.list_inbound(
        session,
        tenant_id=tenant_id,
        unmatched=unmatched,
        limit=limit,
        before_id=before_id,
        msisdn=msisdn,
        opt_action=opt_action,
    )


# --- suppressions -----------------------------------------------------------------------------


def parse_msisdn(raw: str, *, region: str = DEFAULT_REGION, field: str = "msisdn") -> str:
    """The E.164 form of a number given by a tenant, or its catalog error."""
    info = parse_number(raw, region=region)
    if info.e164 is None:
        spec = errors.CATALOG[info.reason or errors.NUMBER_INVALID.code]
        raise spec(field=field, number=raw)
    return info.e164


async def get_suppression(session: AsyncSession, *, tenant_id: str, msisdn: str) -> Suppression:
    """One suppressed number of the tenant, or SUPPRESSION_NOT_FOUND."""
    row = await repo.get_suppression(session, tenant_id, msisdn)
    if row is None:
        raise errors.SUPPRESSION_NOT_FOUND(msisdn=msisdn)
    return row


async def add_suppression(
    session: AsyncSession,
    *,
    actor: Actor,
    tenant_id: str,
    msisdn: str,
    source: str = "manual",
    note: str | None = None,
) -> tuple[Suppression, bool]:
    """Suppress a number for the tenant; (the row, whether it is new). An existing row stays."""
    existing = await repo.get_suppression(session, tenant_id, msisdn)
    if existing is not None:
        return existing, False
    row = {"tenant_id": tenant_id, "msisdn": msisdn, "source": source, "note": note}
    await repo.add_suppressions(session, [{**row, "created_at": utcnow()}])
    await audit(
        session,
        actor,
        "suppression.add",
        tenant_id=tenant_id,
        target_id=msisdn,
        details={"source": source},
    )
    return await get_suppression(session, tenant_id=tenant_id, msisdn=msisdn), True


async def remove_suppression(
    session: AsyncSession, *, actor: Actor, tenant_id: str, msisdn: str
) -> None:
    """Let the tenant message a number again, or SUPPRESSION_NOT_FOUND."""
    if not await repo.delete_suppression(session, tenant_id, msisdn):
        raise errors.SUPPRESSION_NOT_FOUND(msisdn=msisdn)
    await audit(session, actor, "suppression.remove", tenant_id=tenant_id, target_id=msisdn)


async def list_suppressions(
    session: AsyncSession,
    *,
    tenant_id: str,
    limit: int,
    after: tuple[datetime, str] | None,
    source: str | None = None,
) -> list[Suppression]:
    """Newest first; limit+1 rows so the caller can tell whether a next page exists."""
    return await repo.list_suppressions(
        session, tenant_id=tenant_id, limit=limit, after=after, source=source
    )
