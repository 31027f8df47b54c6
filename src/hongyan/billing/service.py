"""Rules of the billing domain: prices, quotes, holds, settlement, top-ups and adjustments.

The life of a message's money, in the caller's transaction (these functions never commit):

- ``quote`` prices it from the cached price table (no query on the hot path);
- ``hold`` takes the amount off the balance at acceptance (entry ``hold``, negative), all or
  nothing for a batch;
- ``settle`` finalizes it: ``confirm`` (an entry of amount 0: the hold is now spent) or
  ``refund`` (the held amount back). The tenant's charge policy says when: ``on_send`` confirms
  when sent and refunds what fails before; ``on_delivery`` confirms when delivered and refunds
  undelivered, failed, expired and canceled messages.

Test-mode messages are never billed: callers skip these functions for them.

The balance always equals the sum of the tenant's ledger entries, and never goes below zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from hongyan import errors
from hongyan.accounts import service as accounts
from hongyan.accounts.service import Actor, audit
from hongyan.api.context import AppContext
from hongyan.billing import prices
from hongyan.billing import repository as repo
from hongyan.billing.cache import TERMS, Terms, monotonic
from hongyan.billing.repository import AccountState
from hongyan.billing.schemas import BillingUpdate, ChargePolicy
from hongyan.ids import new_id
from hongyan.models import BillingAccount, LedgerEntry, utcnow
from hongyan.models.billing import ANY

log = structlog.get_logger(__name__)

# A tenant's account starts in this currency and policy; the operator changes them per tenant.
DEFAULT_CURRENCY = "CNY"
DEFAULT_POLICY: ChargePolicy = "on_send"


@dataclass(frozen=True, slots=True)
class Quote:
    """The price of one message: per segment, in total, and the currency of both."""

    unit_price: int
    amount: int
    currency: str


# --- pricing ----------------------------------------------------------------------------------


async def quote(
    session: AsyncSession,
    *,
    ctx: AppContext,
    tenant_id: str,
    region: str | None,
    kind: str,
    segments: int,
) -> Quote:
    """Price a message of ``segments`` to ``region``; PRICE_NOT_SET or CURRENCY_MISMATCH."""
    if segments < 0:
        raise ValueError("segments cannot be negative")
    country = region.upper() if region else None
    found = (await prices.price_table(session, ctx=ctx)).lookup(country, kind)
    if found is None:
        raise errors.PRICE_NOT_SET(field="to", country=country or "unknown", kind=kind)
    terms = await _terms(session, tenant_id)
    if found.currency != terms.currency:
        raise errors.CURRENCY_MISMATCH(
            country=country or ANY, price_currency=found.currency, currency=terms.currency
        )
    return Quote(found.unit_price, found.unit_price * segments, found.currency)


async def charge_policy(
    session: AsyncSession, *, tenant_id: str
) -> Literal["on_send", "on_delivery"]:
    """When the tenant is charged: ``on_send`` or ``on_delivery`` (cached)."""
    return cast(ChargePolicy, (await _terms(session, tenant_id)).charge_policy)


async def _terms(session: AsyncSession, tenant_id: str) -> Terms:
    now = monotonic()
    terms = TERMS.get(tenant_id, now)
    if terms is None:
        row = await repo.get_terms(session, tenant_id)
        terms = Terms(*row) if row else Terms(DEFAULT_CURRENCY, DEFAULT_POLICY)
        TERMS.put(tenant_id, terms, now)
    return terms


# --- the money of messages --------------------------------------------------------------------


async def available(session: AsyncSession, *, tenant_id: str) -> int:
    """What the tenant may still spend, in minor units (a snapshot: ``hold`` decides)."""
    return await repo.get_balance(session, tenant_id) or 0


async def hold(session: AsyncSession, *, tenant_id: str, items: Sequence[tuple[str, int]]) -> None:
    """Take each (message_id, amount) off the balance; INSUFFICIENT_BALANCE changes nothing."""
    if not items:
        return
    if len({message_id for message_id, _ in items}) != len(items):
        raise ValueError("a message is held once")
    if any(amount < 0 for _, amount in items):
        raise ValueError("a hold cannot be negative")
    total = sum(amount for _, amount in items)
    state = await repo.debit_if_covered(session, tenant_id, total)
    if state is None and total == 0:  # free messages of a tenant that never had an account
        await _ensure_account(session, tenant_id)
        state = await repo.debit_if_covered(session, tenant_id, total)
    if state is None:
        account = await repo.get_account(session, tenant_id)
        raise errors.INSUFFICIENT_BALANCE(
            balance=account.balance if account else 0,
            currency=account.currency if account else DEFAULT_CURRENCY,
            needed=total,
        )
    running = state.balance + total
    rows = []
    for message_id, amount in items:
        running -= amount
        rows.append(_entry_row(tenant_id, "hold", -amount, state.currency, running, message_id))
    await repo.insert_entries(session, rows)
    _warn_if_low(tenant_id, state, before=state.balance + total)


async def lock_account(session: AsyncSession, *, tenant_id: str) -> None:
    """Lock the tenant's account row until the transaction ends (callers lock in tenant order)."""
    await repo.lock_account(session, tenant_id)


async def settle(
    session: AsyncSession,
    *,
    tenant_id: str,
    confirmed: Sequence[str],
    refunded: Sequence[tuple[str, int]],
) -> None:
    """Confirm these messages' holds and refund those; a message already settled is skipped.

    The refund gives back what the ledger holds for the message; a different amount given by
    the caller is logged, not paid. Messages without a hold (never billed) are skipped.
    """
    ids = list(dict.fromkeys([*confirmed, *(message_id for message_id, _ in refunded)]))
    if not ids:
        return
    state = await repo.lock_account(session, tenant_id)
    if state is None:
        return  # no account: nothing was ever held for this tenant
    held: dict[str, int] = {}
    done: set[str] = set()
    for message_id, kind, amount in await repo.message_entries(session, tenant_id, ids):
        if kind == "hold":
            held[message_id] = -amount
        else:
            done.add(message_id)
    rows = _settlement(tenant_id, state, held, done, confirmed, refunded)
    if rows:
        refunds = sum(r["amount"] for r in rows)  # confirms are 0
        released = sum(held[r["message_id"]] for r in rows)
        await repo.insert_entries(session, rows)
        await repo.change_account(session, tenant_id, balance_delta=refunds, held_delta=-released)


def _settlement(
    tenant_id: str,
    state: AccountState,
    held: dict[str, int],
    done: set[str],
    confirmed: Sequence[str],
    refunded: Sequence[tuple[str, int]],
) -> list[dict[str, Any]]:
    """The confirm and refund entries for the messages held and not yet settled."""
    rows, balance = [], state.balance
    for message_id in confirmed:
        if message_id in held and message_id not in done:
            done.add(message_id)
            rows.append(_entry_row(tenant_id, "confirm", 0, state.currency, balance, message_id))
    for message_id, amount in refunded:
        if message_id in held and message_id not in done:
            done.add(message_id)
            if amount != held[message_id]:
                log.warning("billing.refund_amount_differs", message_id=message_id, asked=amount)
            balance += held[message_id]
            rows.append(
                _entry_row(
                    tenant_id, "refund", held[message_id], state.currency, balance, message_id
                )
            )
    return rows


def _entry_row(
    tenant_id: str, kind: str, amount: int, currency: str, balance_after: int, message_id: str
) -> dict[str, Any]:
    return {
        "id": new_id("led"),
        "tenant_id": tenant_id,
        "kind": kind,
        "amount": amount,
        "currency": currency,
        "balance_after": balance_after,
        "message_id": message_id,
        "created_at": utcnow(),
    }


def _warn_if_low(tenant_id: str, state: AccountState, *, before: int) -> None:
    """Log once when the balance crosses below the tenant's low-balance threshold."""
    threshold = state.low_balance_threshold
    if threshold is not None and state.balance < threshold <= before:
        log.warning(
            "billing.low_balance",
            tenant_id=tenant_id,
            balance=state.balance,
            threshold=threshold,
            currency=state.currency,
        )


# --- top-ups and adjustments ------------------------------------------------------------------


async def topup(
    session: AsyncSession,
    *,
    actor: Actor,
    tenant_id: str,
    amount: int,
    note: str | None,
    idempotency_key: str | None = None,
) -> LedgerEntry:
    """Credit a tenant's balance (audited); the same idempotency key is applied once."""
    if amount <= 0:
        raise errors.FIELD_INVALID(field="amount", reason="a top-up is a positive amount")
    return await _credit(session, actor, tenant_id, "topup", amount, note, idempotency_key)


async def adjust(
    session: AsyncSession,
    *,
    actor: Actor,
    tenant_id: str,
    amount: int,
    note: str | None,
    idempotency_key: str | None = None,
) -> LedgerEntry:
    """Correct a balance up or down (audited); it never goes below zero."""
    if amount == 0:
        raise errors.FIELD_INVALID(field="amount", reason="an adjustment of zero changes nothing")
    return await _credit(session, actor, tenant_id, "adjustment", amount, note, idempotency_key)


async def _credit(
    session: AsyncSession,
    actor: Actor,
    tenant_id: str,
    kind: str,
    amount: int,
    note: str | None,
    key: str | None,
) -> LedgerEntry:
    await accounts.get_tenant(session, tenant_id)
    await _ensure_account(session, tenant_id)
    state = await repo.lock_account(session, tenant_id)
    assert state is not None
    if key is not None and (first := await repo.entry_by_key(session, tenant_id, key)):
        if (first.kind, first.amount, first.note) != (kind, amount, note):
            raise errors.LEDGER_KEY_REUSED(field="Idempotency-Key", key=key, kind=first.kind)
        return first
    if state.balance + amount < 0:
        raise errors.INSUFFICIENT_BALANCE(
            field="amount", balance=state.balance, currency=state.currency, needed=-amount
        )
    after = await repo.change_account(session, tenant_id, balance_delta=amount, held_delta=0)
    assert after is not None
    entry = LedgerEntry(
        id=new_id("led"),
        tenant_id=tenant_id,
        kind=kind,
        amount=amount,
        currency=state.currency,
        balance_after=after.balance,
        note=note,
        idempotency_key=key,
    )
    await repo.add_entry(session, entry)
    details = {"amount": amount, "currency": state.currency, "note": note}
    await audit(
        session, actor, f"billing.{kind}", tenant_id=tenant_id, target_id=entry.id, details=details
    )
    return entry


async def _ensure_account(session: AsyncSession, tenant_id: str) -> None:
    await repo.ensure_account(
        session, tenant_id, currency=DEFAULT_CURRENCY, charge_policy=DEFAULT_POLICY
    )


# --- accounts ---------------------------------------------------------------------------------


async def get_account(session: AsyncSession, *, tenant_id: str) -> BillingAccount:
    """The tenant's account; one never used reads as empty with the defaults (nothing written)."""
    account = await repo.get_account(session, tenant_id)
    if account is None:
        await accounts.get_tenant(session, tenant_id)  # TENANT_NOT_FOUND (an account implies one)
        account = BillingAccount(
            tenant_id=tenant_id,
            currency=DEFAULT_CURRENCY,
            charge_policy=DEFAULT_POLICY,
            balance=0,
            held=0,
            low_balance_threshold=None,
        )
    return account


async def update_account(
    session: AsyncSession, *, actor: Actor, tenant_id: str, req: BillingUpdate
) -> BillingAccount:
    """Change currency, charge policy or low-balance threshold (audited)."""
    await accounts.get_tenant(session, tenant_id)
    await _ensure_account(session, tenant_id)
    account = await repo.get_account(session, tenant_id, for_update=True)
    assert account is not None
    changes = req.model_dump(exclude_unset=True)
    if changes.get("currency"):
        changes["currency"] = changes["currency"].upper()
    elif "currency" in changes:
        del changes["currency"]  # null: leave it as it is
    if changes.get("charge_policy") is None:
        changes.pop("charge_policy", None)
    currency = changes.get("currency")
    if currency and currency != account.currency and (account.balance or account.held):
        raise errors.CURRENCY_LOCKED(
            field="currency", balance=account.balance, held=account.held, currency=account.currency
        )
    for name, value in changes.items():
        setattr(account, name, value)
    await session.flush()
    await audit(
        session, actor, "billing.update", tenant_id=tenant_id, target_id=tenant_id, details=changes
    )
    prices.after_commit(session, f"terms:{tenant_id}", lambda: TERMS.expire(tenant_id))
    return account


def is_low(account: BillingAccount) -> bool:
    """Whether the balance is below the account's low-balance threshold."""
    threshold = account.low_balance_threshold
    return threshold is not None and account.balance < threshold


async def list_ledger(
    session: AsyncSession,
    *,
    tenant_id: str,
    limit: int,
    before_id: str | None,
    kind: str | None = None,
    message_id: str | None = None,
    check_tenant: bool = False,
) -> list[LedgerEntry]:
    """A tenant's ledger entries, newest first (limit + 1 rows, for the next cursor)."""
    if check_tenant:
        await accounts.get_tenant(session, tenant_id)
    return await repo.list_entries(
        session,
        tenant_id=tenant_id,
        limit=limit,
        before_id=before_id,
        kind=kind,
        message_id=message_id,
    )


async def ledger_summary(session: AsyncSession, *, tenant_id: str) -> dict[str, tuple[int, int]]:
    """Kind -> (entries, sum of amounts) of a tenant's ledger; the sums add up to the balance."""
    return {
        kind: (count, total) for kind, count, total in await repo.ledger_sums(session, tenant_id)
    }
