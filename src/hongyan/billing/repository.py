"""All SQL of the billing domain: prices, accounts, the ledger and the price revision.

Balance changes are single UPDATE statements on the tenant's ``billing_account`` row. On
PostgreSQL the UPDATE takes the row lock (later writers of that tenant wait and then see the new
balance: the WHERE clause is evaluated again on the locked row), so a conditional debit can
never overdraw. SQLite has one writer at a time, which serializes them just the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from hongyan.models import BillingAccount, BillingRevision, LedgerEntry, Price, utcnow

# Ids per IN (...) list: well under both backends' limits on bound parameters.
_CHUNK = 5_000
_ACCOUNT = cast(Table, BillingAccount.__table__)
# Core, not the ORM's bulk insert: several times less Python per row for the same executemany.
_INSERT_ENTRY = insert(cast(Table, LedgerEntry.__table__))
_MESSAGE_KINDS = ("hold", "confirm", "refund")


@dataclass(frozen=True, slots=True)
class AccountState:
    """An account's figures as a statement left them."""

    balance: int
    held: int
    currency: str
    low_balance_threshold: int | None


def _upsert_insert(session: AsyncSession) -> Any:
    """The dialect's INSERT, which has ON CONFLICT on both backends."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def _state(row: Any) -> AccountState | None:
    return AccountState(row[0], row[1], row[2], row[3]) if row is not None else None


_RETURNING = (_ACCOUNT.c.balance, _ACCOUNT.c.held, _ACCOUNT.c.currency)


# --- accounts ---------------------------------------------------------------------------------


async def ensure_account(
    session: AsyncSession, tenant_id: str, *, currency: str, charge_policy: str
) -> None:
    """Create the tenant's account with a zero balance unless it exists."""
    now = utcnow()
    stmt = (
        _upsert_insert(session)(_ACCOUNT)
        .values(
            tenant_id=tenant_id,
            currency=currency,
            charge_policy=charge_policy,
            balance=0,
            held=0,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=[_ACCOUNT.c.tenant_id])
    )
    await session.execute(stmt)


async def get_account(
    session: AsyncSession, tenant_id: str, *, for_update: bool = False
) -> BillingAccount | None:
    stmt = select(BillingAccount).where(BillingAccount.tenant_id == tenant_id)
    if for_update:
        # Fresh figures even if this session loaded the row before a Core UPDATE changed it.
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_terms(session: AsyncSession, tenant_id: str) -> tuple[str, str] | None:
    """(currency, charge_policy) of an account, or None when the tenant has none yet."""
    stmt = select(BillingAccount.currency, BillingAccount.charge_policy).where(
        BillingAccount.tenant_id == tenant_id
    )
    row = (await session.execute(stmt)).one_or_none()
    return (row[0], row[1]) if row else None


async def get_balance(session: AsyncSession, tenant_id: str) -> int | None:
    stmt = select(BillingAccount.balance).where(BillingAccount.tenant_id == tenant_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def lock_account(session: AsyncSession, tenant_id: str) -> AccountState | None:
    """Lock the account row for this transaction (a no-op UPDATE) and read its figures.

    An UPDATE rather than SELECT ... FOR UPDATE so that SQLite, which has no row locks, takes its
    write lock here too, before the caller reads anything it will decide on.
    """
    stmt = (
        update(_ACCOUNT)
        .where(_ACCOUNT.c.tenant_id == tenant_id)
        .values(updated_at=utcnow())
        .returning(*_RETURNING, _ACCOUNT.c.low_balance_threshold)
    )
    return _state((await session.execute(stmt)).one_or_none())


async def debit_if_covered(
    session: AsyncSession, tenant_id: str, total: int
) -> AccountState | None:
    """Move ``total`` from balance to held if the balance covers it; None when it does not."""
    stmt = (
        update(_ACCOUNT)
        .where(_ACCOUNT.c.tenant_id == tenant_id, _ACCOUNT.c.balance >= total)
        .values(
            balance=_ACCOUNT.c.balance - total,
            held=_ACCOUNT.c.held + total,
            updated_at=utcnow(),
        )
        .returning(*_RETURNING, _ACCOUNT.c.low_balance_threshold)
    )
    return _state((await session.execute(stmt)).one_or_none())


async def change_account(
    session: AsyncSession, tenant_id: str, *, balance_delta: int, held_delta: int
) -> AccountState | None:
    """Add to balance and held; the caller holds the row lock and has checked the result."""
    stmt = (
        update(_ACCOUNT)
        .where(_ACCOUNT.c.tenant_id == tenant_id)
        .values(
            balance=_ACCOUNT.c.balance + balance_delta,
            held=_ACCOUNT.c.held + held_delta,
            updated_at=utcnow(),
        )
        .returning(*_RETURNING, _ACCOUNT.c.low_balance_threshold)
    )
    return _state((await session.execute(stmt)).one_or_none())


# --- the ledger -------------------------------------------------------------------------------


async def insert_entries(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """One INSERT for many entries (executemany), in the caller's transaction."""
    if rows:
        await session.execute(_INSERT_ENTRY, list(rows))


async def add_entry(session: AsyncSession, entry: LedgerEntry) -> None:
    session.add(entry)
    await session.flush()


async def message_entries(
    session: AsyncSession, tenant_id: str, message_ids: Sequence[str]
) -> list[tuple[str, str, int]]:
    """(message_id, kind, amount) of the hold, confirm and refund entries of these messages."""
    found: list[tuple[str, str, int]] = []
    for start in range(0, len(message_ids), _CHUNK):
        chunk = list(message_ids[start : start + _CHUNK])
        # The tenant is checked here, not in SQL: given it, both SQLite and PostgreSQL chose
        # the (tenant_id, id) index and read the tenant's whole ledger on every settle.
        stmt = select(
            LedgerEntry.tenant_id, LedgerEntry.message_id, LedgerEntry.kind, LedgerEntry.amount
        ).where(LedgerEntry.message_id.in_(chunk), LedgerEntry.kind.in_(_MESSAGE_KINDS))
        rows = (await session.execute(stmt)).all()
        found += [(m, k, a) for t, m, k, a in rows if m and t == tenant_id]
    return found


async def entry_by_key(session: AsyncSession, tenant_id: str, key: str) -> LedgerEntry | None:
    stmt = select(LedgerEntry).where(
        LedgerEntry.tenant_id == tenant_id, LedgerEntry.idempotency_key == key
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def list_entries(
    session: AsyncSession,
    *,
    tenant_id: str,
    limit: int,
    before_id: str | None,
    kind: str | None = None,
    message_id: str | None = None,
) -> list[LedgerEntry]:
    stmt = select(LedgerEntry).where(LedgerEntry.tenant_id == tenant_id)
    if kind:
        stmt = stmt.where(LedgerEntry.kind == kind)
    if message_id:
        stmt = stmt.where(LedgerEntry.message_id == message_id)
    if before_id:
        stmt = stmt.where(LedgerEntry.id < before_id)
    stmt = stmt.order_by(LedgerEntry.id.desc()).limit(limit + 1)
    return list((await session.execute(stmt)).scalars())


async def ledger_sums(session: AsyncSession, tenant_id: str) -> list[tuple[str, int, int]]:
    """(kind, number of entries, sum of amounts) per kind of a tenant's ledger."""
    stmt = (
        select(LedgerEntry.kind, func.count(), func.coalesce(func.sum(LedgerEntry.amount), 0))
        .where(LedgerEntry.tenant_id == tenant_id)
        .group_by(LedgerEntry.kind)
    )
    return [(k, int(n), int(s)) for k, n, s in (await session.execute(stmt)).all()]


# --- prices -----------------------------------------------------------------------------------


async def all_prices(session: AsyncSession) -> list[tuple[str, str, int, str]]:
    """(country, kind, unit_price, currency) of every price: what a process caches."""
    stmt = select(Price.country, Price.kind, Price.unit_price, Price.currency)
    return [(c, k, int(p), cur) for c, k, p, cur in (await session.execute(stmt)).all()]


async def get_price(
    session: AsyncSession, country: str, kind: str, *, for_update: bool = False
) -> Price | None:
    stmt = select(Price).where(Price.country == country, Price.kind == kind)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def list_prices(
    session: AsyncSession, *, limit: int, before_id: str | None, country: str | None = None
) -> list[Price]:
    stmt = select(Price)
    if country:
        stmt = stmt.where(Price.country == country)
    if before_id:
        stmt = stmt.where(Price.id < before_id)
    stmt = stmt.order_by(Price.id.desc()).limit(limit + 1)
    return list((await session.execute(stmt)).scalars())


async def add_price(session: AsyncSession, price: Price) -> None:
    session.add(price)
    await session.flush()


async def delete_price(session: AsyncSession, price: Price) -> None:
    await session.delete(price)
    await session.flush()


# --- the price revision -----------------------------------------------------------------------


async def get_revision(session: AsyncSession, scope: str) -> int:
    """The scope's revision; 0 when nothing was ever changed."""
    stmt = select(BillingRevision.revision).where(BillingRevision.scope == scope)
    return int((await session.execute(stmt)).scalar_one_or_none() or 0)


async def bump_revision(session: AsyncSession, scope: str) -> int:
    """Add one to a scope's revision (creating it at 1) and return the new value."""
    # One upsert: on PostgreSQL it also locks the revision row, so concurrent price changes run
    # one after the other and each committed change has a revision of its own.
    table = BillingRevision.__table__
    stmt = (
        _upsert_insert(session)(table)
        .values(scope=scope, revision=1, updated_at=utcnow())
        .on_conflict_do_update(
            index_elements=[table.c.scope],
            set_={"revision": table.c.revision + 1, "updated_at": utcnow()},
        )
        .returning(table.c.revision)
    )
    return int((await session.execute(stmt)).scalar_one())
