"""Rows for tests that need messages without going through the API (dispatcher, receipts)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hongyan.api.context import AppContext
from hongyan.ids import new_id
from hongyan.messages import repository as repo
from hongyan.messages import transitions
from hongyan.models import PRIORITY_OF, Message, utcnow


def message_row(tenant_id: str, **overrides: Any) -> dict[str, Any]:
    """A queued, due, priced notification to a CN mobile; override any column."""
    now = utcnow()
    kind = overrides.get("kind", "notification")
    row: dict[str, Any] = {
        "id": new_id("msg"),
        "tenant_id": tenant_id,
        "api_key_id": None,
        "test_mode": False,
        "msisdn": "+8613800138000",
        "region": "CN",
        "carrier": "China Mobile",
        "kind": kind,
        "priority": PRIORITY_OF[kind],
        "sign": "鸿雁",
        "template_id": None,
        "params": None,
        "text": "【鸿雁】您的订单已发货",
        "encoding": "ucs2",
        "segments": 1,
        "amount": 0,
        "currency": "CNY",
        "status": "queued",
        "due_at": now - timedelta(seconds=1),
        "validity_until": None,
        "out_id": None,
        "callback_url": None,
        "tag": None,
        "connector_id": None,
        "attempts": 0,
        "parts_done": 0,
        "created_at": now,
        "updated_at": now,
    }
    row.update(overrides)
    return row


async def make_messages(
    ctx: AppContext, tenant_id: str, count: int = 1, **overrides: Any
) -> list[Message]:
    """Insert ``count`` messages (with their accept event and statistics) and return them."""
    rows = [message_row(tenant_id, **overrides) for _ in range(count)]
    async with ctx.db.session() as session:
        await repo.insert_messages(session, rows)
        await repo.insert_events(
            session,
            [{"message_id": r["id"], "status": r["status"], "at": r["created_at"]} for r in rows],
        )
        messages = await repo.get_many(session, [r["id"] for r in rows])
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
