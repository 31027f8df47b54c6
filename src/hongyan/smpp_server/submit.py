"""SMPP submits into the same pipeline as ``POST /v1/messages/batch``.

A whole message (its parts joined) becomes one recipient of a batch request: the text is
taken apart into sign, template and parameters (``matching``), or sent as free text where the
tenant may; the pipeline then runs every check of the HTTP API (sign, template, parameters,
number, compliance, suppression, price, balance, limits) and stores the message. Submits that
arrive together are accepted together: per tenant one transaction, per (template or text,
schedule, validity) one batch request, so a burst costs one commit, not one per PDU. What the
pipeline refuses comes back per message with its catalog error.

The accepted messages are marked as SMPP's (``message.channel``, ``receipt_requested``) and
their addresses kept in ``smpp_submit`` for the receipt, in the same transaction.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog

from hongyan import errors
from hongyan.accounts.auth import Principal
from hongyan.api.context import AppContext
from hongyan.errors import HongyanError
from hongyan.messages import repository as messages_repo
from hongyan.messages import service as messages
from hongyan.messages.schemas import MAX_BATCH, BatchRecipient, BatchRequest
from hongyan.models import utcnow
from hongyan.smpp.constants import REGISTERED_DELIVERY_ON_FAILURE, REGISTERED_DELIVERY_RECEIPT, Ton
from hongyan.smpp.pdu import DataSm, SubmitSm
from hongyan.smpp_server import repository as repo
from hongyan.smpp_server.matching import TemplateMatcher, matcher_for, split_sign
from hongyan.smpp_server.service import BoundCredential
from hongyan.smpp_server.timefmt import parse_smpp_time
from hongyan.worker import wakeup

log = structlog.get_logger("hongyan.smpp_server.submit")

__all__ = ["Outcome", "Submission", "accept", "submission_of"]

Submit = SubmitSm | DataSm
_MAX_VALIDITY_SECS = 7 * 86400  # what the sending API accepts
_MIN_VALIDITY_SECS = 60
_RECEIPT_BITS = 0x03  # registered_delivery bits 1-0: the SMSC delivery receipt request
_TEXT_MAX = 1000  # what the HTTP API accepts as free text


@dataclass(slots=True)
class Submission:
    """One whole message from one bind: its text and the fields of its (first) PDU."""

    credential: BoundCredential
    text: str
    source_addr: str
    source_addr_ton: int
    source_addr_npi: int
    destination_addr: str
    dest_addr_ton: int
    dest_addr_npi: int
    registered_delivery: int
    send_at: datetime | None = None
    validity_secs: int | None = None
    parts: int = 1

    @property
    def receipt_requested(self) -> bool:
        wanted = self.registered_delivery & _RECEIPT_BITS
        return wanted in (REGISTERED_DELIVERY_RECEIPT, REGISTERED_DELIVERY_ON_FAILURE)


@dataclass(frozen=True, slots=True)
class Outcome:
    """Hongyan's message id, or the refusal."""

    message_id: str | None = None
    error: HongyanError | None = None


# (template id or None, free text or None, send_at, validity): one batch request each.
_Key = tuple[str | None, str | None, datetime | None, int | None]


@dataclass(slots=True)
class _Planned:
    position: int
    recipient: BatchRecipient


def _number(sub: Submission) -> str:
    """The destination as the pipeline reads it: international TON means digits with '+'."""
    addr = sub.destination_addr.strip()
    if sub.dest_addr_ton == Ton.INTERNATIONAL and addr and not addr.startswith("+"):
        return "+" + addr
    return addr


def _plan(sub: Submission, matcher: TemplateMatcher) -> tuple[_Key, BatchRecipient]:
    """Which batch the submission joins and as what recipient; or its refusal."""
    allowed = sub.credential.allowed_sources
    if allowed and sub.source_addr not in allowed:
        raise errors.SMPP_SOURCE_NOT_ALLOWED(field="source_addr", source=sub.source_addr)
    to = _number(sub)
    if not 3 <= len(to) <= 32:
        raise errors.NUMBER_INVALID(field="to", number=to, input=to)
    sign, rest = split_sign(sub.text)
    if not rest.strip():
        raise errors.FIELD_REQUIRED(field="short_message")
    found = matcher.match(rest)
    if found is not None:
        key: _Key = (found.template_id, None, sub.send_at, sub.validity_secs)
        return key, BatchRecipient(to=to, params=found.params, sign=sign)
    if not matcher.free_text_allowed:
        raise errors.SMPP_TEMPLATE_NOT_MATCHED(field="short_message")
    if len(rest) > _TEXT_MAX:
        raise errors.TOO_MANY_SEGMENTS(field="short_message", segments="?", max=_TEXT_MAX)
    return (None, rest, sub.send_at, sub.validity_secs), BatchRecipient(to=to, sign=sign)


def _request(key: _Key, recipients: list[BatchRecipient]) -> BatchRequest:
    template, body, send_at, validity = key
    return BatchRequest(
        template=template,
        body=body,
        send_at=send_at,
        validity=validity,
        recipients=recipients,
    )


def _principal(credential: BoundCredential) -> Principal:
    # The credential stands where an API key would: message.api_key_id names it.
    return Principal(
        key_id=credential.id,
        role="tenant",
        tenant_id=credential.tenant_id,
        scopes=frozenset({"send"}),
        test_mode=False,
    )


async def accept(ctx: AppContext, subs: Sequence[Submission]) -> list[Outcome]:
    """Run every submission through the pipeline; one outcome each, in order."""
    outcomes: list[Outcome] = [Outcome() for _ in subs]
    by_tenant: dict[str, list[int]] = defaultdict(list)
    for i, sub in enumerate(subs):
        by_tenant[sub.credential.tenant_id].append(i)
    for positions in by_tenant.values():
        chosen = [subs[i] for i in positions]
        try:
            results = await _accept_tenant(ctx, chosen)
        except HongyanError as exc:  # the tenant itself (suspended, deleted)
            results = [Outcome(error=exc)] * len(chosen)
        except Exception:
            log.exception("smpp submits failed", count=len(chosen))
            results = [Outcome(error=errors.SMPP_SERVER_BUSY())] * len(chosen)
        for i, result in zip(positions, results, strict=True):
            outcomes[i] = result
    wakeup.wake_local(ctx)
    return outcomes


async def _accept_tenant(ctx: AppContext, subs: Sequence[Submission]) -> list[Outcome]:
    matcher = await matcher_for(ctx, subs[0].credential.tenant_id)
    outcomes = [Outcome() for _ in subs]
    groups: dict[_Key, list[_Planned]] = defaultdict(list)
    for i, sub in enumerate(subs):
        try:
            key, recipient = _plan(sub, matcher)
        except HongyanError as exc:
            outcomes[i] = Outcome(error=exc)
            continue
        groups[key].append(_Planned(i, recipient))
    async with ctx.db.session() as session:
        for key, members in groups.items():
            for start in range(0, len(members), MAX_BATCH):
                chunk = members[start : start + MAX_BATCH]
                await _send_group(session, ctx, subs, key, chunk, outcomes)
        await _mark_smpp(session, subs, outcomes)
    return outcomes


async def _send_group(
    session: Any,
    ctx: AppContext,
    subs: Sequence[Submission],
    key: _Key,
    members: list[_Planned],
    outcomes: list[Outcome],
) -> None:
    principal = _principal(subs[members[0].position].credential)
    try:
        result = await messages.send_batch(
            session,
            ctx=ctx,
            principal=principal,
            req=_request(key, [m.recipient for m in members]),
        )
    except HongyanError as exc:  # a refusal of the whole request (template not approved...)
        for member in members:
            outcomes[member.position] = Outcome(error=exc)
        return
    refused = {item.index: error for item, error in result.rejected}
    kept = [m for index, m in enumerate(members) if index not in refused]
    for index, error in refused.items():
        outcomes[members[index].position] = Outcome(error=error)
    # The pipeline stores accepted recipients in request order, refused ones left out.
    for member, message in zip(kept, result.messages, strict=True):
        outcomes[member.position] = Outcome(message_id=message.id)


async def _mark_smpp(session: Any, subs: Sequence[Submission], outcomes: list[Outcome]) -> None:
    """Mark accepted messages as SMPP's and keep their addresses, in the same transaction."""
    now = utcnow()
    rows = []
    with_receipt: list[str] = []
    without: list[str] = []
    for sub, outcome in zip(subs, outcomes, strict=True):
        if outcome.message_id is None:
            continue
        (with_receipt if sub.receipt_requested else without).append(outcome.message_id)
        rows.append(
            {
                "message_id": outcome.message_id,
                "credential_id": sub.credential.id,
                "source_addr": sub.source_addr[:21],
                "source_addr_ton": sub.source_addr_ton,
                "source_addr_npi": sub.source_addr_npi,
                "destination_addr": sub.destination_addr[:21],
                "dest_addr_ton": sub.dest_addr_ton,
                "dest_addr_npi": sub.dest_addr_npi,
                "registered_delivery": sub.registered_delivery,
                "parts": sub.parts,
                "created_at": now,
            }
        )
    await messages_repo.update_messages(
        session, with_receipt, channel="smpp", receipt_requested=True
    )
    await messages_repo.update_messages(session, without, channel="smpp")
    await repo.insert_submits(session, rows)


# --- from PDUs to a submission ---------------------------------------------------------------


def submission_of(credential: BoundCredential, pdus: list[Submit], text: str) -> Submission:
    """The submission of a whole message from its PDUs (fields of the first) and its text."""
    first = pdus[0]
    send_at, validity = None, None
    if isinstance(first, SubmitSm):
        send_at, validity = _schedule(first)
    elif first.tlvs.qos_time_to_live:
        validity = _clamp_validity(first.tlvs.qos_time_to_live)
    return Submission(
        credential=credential,
        text=text,
        source_addr=first.source_addr,
        source_addr_ton=first.source_addr_ton,
        source_addr_npi=first.source_addr_npi,
        destination_addr=first.destination_addr,
        dest_addr_ton=first.dest_addr_ton,
        dest_addr_npi=first.dest_addr_npi,
        registered_delivery=max(p.registered_delivery & 0x03 for p in pdus)
        | (first.registered_delivery & ~0x03),
        send_at=send_at,
        validity_secs=validity,
        parts=len(pdus),
    )


def _clamp_validity(secs: float) -> int:
    return int(min(max(secs, _MIN_VALIDITY_SECS), _MAX_VALIDITY_SECS))


def _schedule(pdu: SubmitSm) -> tuple[datetime | None, int | None]:
    """(send_at, validity seconds) of a submit_sm; the catalog refusal when unreadable."""
    now = utcnow()
    try:
        send_at = parse_smpp_time(pdu.schedule_delivery_time, now=now)
    except ValueError:
        raise errors.SEND_AT_INVALID(field="schedule_delivery_time", max_days=30) from None
    if send_at is not None and send_at <= now + timedelta(seconds=1):
        send_at = None  # due already: send now
    try:
        until = parse_smpp_time(pdu.validity_period, now=now)
    except ValueError:
        raise errors.SMPP_VALIDITY_INVALID(value=pdu.validity_period) from None
    if until is None:
        return send_at, None
    secs = (until - (send_at or now)).total_seconds()
    if secs <= 0:
        raise errors.SMPP_VALIDITY_INVALID(value=pdu.validity_period)
    return send_at, _clamp_validity(secs)
