"""Writing a bulk chunk: its hold, message rows, first events and statistics.

The rows are those ``messages.service._store`` writes for a batch (the same columns and
values, ``queued`` or ``scheduled`` so the dispatcher takes them), written for thousands of
messages at a time: ids made in one go, values shared by the chunk converted once, the
driver's executemany (``kit.bulk_insert``), and one statistics row per key instead of one per
message. All in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession

from hongyan.billing.bulk_hold import hold_many
from hongyan.ids import new_ids
from hongyan.kit.bulk_insert import RowWriter
from hongyan.messages import repository as repo
from hongyan.messages import transitions
from hongyan.messages.bulk_draft import Bounded, Draft, Drafter
from hongyan.models import PRIORITY_OF, Message, MessageEvent, utcnow
from hongyan.worker import wakeup

_MESSAGES = RowWriter(
    cast(Table, Message.__table__),
    varying=(
        "id", "msisdn", "region", "carrier", "params", "text", "encoding", "segments", "amount",
        "currency", "out_id",
    ),
    constant=(
        "tenant_id", "api_key_id", "test_mode", "kind", "priority", "sign", "template_id",
        "status", "due_at", "validity_until", "callback_url", "tag", "connector_id", "attempts",
        "parts_done", "created_at", "updated_at",
    ),
)  # fmt: skip
_EVENTS = RowWriter(
    cast(Table, MessageEvent.__table__),
    varying=("message_id",),
    constant=("status", "code", "detail", "connector_id", "at"),
)


async def store(
    session: AsyncSession, drafter: Drafter, drafts: Sequence[Draft], params: Bounded[Any, Any]
) -> None:
    """Hold, messages, events and statistics of the drafts (``params``: bound JSON per set)."""
    if not drafts:
        return
    dialect = (await session.connection()).dialect
    now = utcnow()
    ids = new_ids("msg", len(drafts))
    held = [(message_id, d.amount) for message_id, d in zip(ids, drafts, strict=True) if d.amount]
    if held:
        await hold_many(
            session,
            tenant_id=drafter.tenant.id,
            message_ids=[message_id for message_id, _ in held],
            amounts=[amount for _, amount in held],
        )
    rows = [
        (message_id, d.msisdn, d.region, d.carrier, _json(dialect, params, d), d.info.text,
         d.info.encoding.value, d.info.segments, d.amount, d.currency, d.recipient.out_id)
        for message_id, d in zip(ids, drafts, strict=True)
    ]  # fmt: skip
    await _MESSAGES.write(session, constants=_constants(drafter, now), rows=rows)
    if drafter.status == "queued":
        await wakeup.notify_due(session)  # workers in other processes (PostgreSQL LISTEN)
    event = {"status": drafter.status, "code": None, "detail": None, "connector_id": None}
    await _EVENTS.write(session, constants={**event, "at": now}, rows=[(i,) for i in ids])
    await repo.bump_stats(session, _stat_rows(drafter, drafts, now))


def _json(dialect: Dialect, cache: Bounded[Any, Any], draft: Draft) -> Any:
    """The params column's value as the driver gets it, converted once per distinct set."""
    if not draft.params_key:
        return None  # as the batch path stores no params: NULL, not {}
    bound = cache.get(draft.params_key)
    if bound is None:
        bound = cache.put(
            draft.params_key, _MESSAGES.bind(dialect, "params", dict(draft.recipient.params))
        )
    return bound


def _constants(drafter: Drafter, now: Any) -> dict[str, Any]:
    req, template = drafter.req, drafter.template
    return {
        "tenant_id": drafter.tenant.id,
        "api_key_id": req.api_key_id,
        "test_mode": req.test_mode,
        "kind": drafter.kind,
        "priority": PRIORITY_OF[drafter.kind],
        "sign": drafter.sign.name if drafter.sign else None,
        "template_id": template.id if template else None,
        "status": drafter.status,
        "due_at": drafter.due_at,
        "validity_until": drafter.validity_until,
        "callback_url": req.callback_url,
        "tag": req.tag,
        "connector_id": None,
        "attempts": 0,
        "parts_done": 0,
        "created_at": now,
        "updated_at": now,
    }


def _stat_rows(drafter: Drafter, drafts: Sequence[Draft], now: Any) -> list[dict[str, Any]]:
    """One counter row per statistics key of the chunk: (region) within one sign and template."""
    sums: dict[str | None, list[int]] = {}
    for draft in drafts:
        counted = sums.setdefault(draft.region, [0, 0, 0])
        counted[0] += 1
        counted[1] += draft.info.segments
        counted[2] += draft.amount
    constants = _constants(drafter, now)
    return [
        transitions.stat_row(
            transitions.stat_key(
                Message(
                    tenant_id=constants["tenant_id"],
                    created_at=now,
                    sign=constants["sign"],
                    template_id=constants["template_id"],
                    region=region,
                )
            ),
            submitted=submitted,
            segments=segments,
            cost=cost,
        )
        for region, (submitted, segments, cost) in sums.items()
    ]
