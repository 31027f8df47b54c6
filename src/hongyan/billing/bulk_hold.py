"""``hold_many``: ``billing.hold`` for the thousands of messages of a bulk chunk.

The same money and the same ledger as ``service.hold``: one conditional debit of the account
for the total (INSUFFICIENT_BALANCE changes nothing), then one ``hold`` entry per message with
the running ``balance_after``, which is what settlement (``service.settle``) confirms or refunds
per message, and the low-balance warning. What differs is the cost per entry: ids made in one
go (``ids.new_ids``), one timestamp for the chunk, and the rows written through the driver's
executemany (``kit.bulk_insert``) instead of the ORM's bulk insert.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from hongyan import errors
from hongyan.billing import repository as repo
from hongyan.billing import service
from hongyan.ids import new_ids
from hongyan.kit.bulk_insert import RowWriter
from hongyan.models import LedgerEntry, utcnow

_HOLDS = RowWriter(
    cast(Table, LedgerEntry.__table__),
    varying=("id", "amount", "balance_after", "message_id"),
    constant=("tenant_id", "kind", "currency", "note", "idempotency_key", "created_at"),
)


async def hold_many(
    session: AsyncSession, *, tenant_id: str, message_ids: Sequence[str], amounts: Sequence[int]
) -> None:
    """Hold ``amounts[i]`` for ``message_ids[i]`` (all > 0), in the caller's transaction."""
    if not message_ids:
        return
    if len(message_ids) != len(amounts) or any(amount <= 0 for amount in amounts):
        raise ValueError("one positive amount per message")
    total = sum(amounts)
    state = await repo.debit_if_covered(session, tenant_id, total)
    if state is None:
        account = await repo.get_account(session, tenant_id)
        raise errors.INSUFFICIENT_BALANCE(
            balance=account.balance if account else 0,
            currency=account.currency if account else service.DEFAULT_CURRENCY,
            needed=total,
        )
    running, rows = state.balance + total, []
    for entry_id, message_id, amount in zip(
        new_ids("led", len(amounts)), message_ids, amounts, strict=True
    ):
        running -= amount
        rows.append((entry_id, -amount, running, message_id))
    constants = {
        "tenant_id": tenant_id,
        "kind": "hold",
        "currency": state.currency,
        "note": None,
        "idempotency_key": None,
        "created_at": utcnow(),
    }
    await _HOLDS.write(session, constants=constants, rows=rows)
    service._warn_if_low(tenant_id, state, before=state.balance + total)
