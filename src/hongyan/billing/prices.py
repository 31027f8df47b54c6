"""The price table: the operator's prices per destination country and kind, and the cache.

Prices are read through a per-process cache checked against a revision counter (see ``cache``),
so pricing a message costs no query. Every change bumps the revision in its own transaction.
"""

from __future__ import annotations

from collections.abc import Callable

import phonenumbers
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session as SyncSession

from hongyan import errors
from hongyan.accounts.service import Actor, audit
from hongyan.api.context import AppContext
from hongyan.billing import repository as repo
from hongyan.billing.cache import PriceTable, monotonic, price_cache_of
from hongyan.ids import new_id
from hongyan.models import Price
from hongyan.models.billing import ANY

PRICES = "prices"  # billing_revision.scope of the price table
KINDS = frozenset({"verification", "notification", "marketing", ANY})


async def price_table(session: AsyncSession, *, ctx: AppContext) -> PriceTable:
    """The cached price table; its revision is checked at most once per refresh interval."""
    cache = price_cache_of(ctx.caches, ctx.settings.billing_refresh_secs)
    now = monotonic()
    if cache.due(now):
        # The revision is read BEFORE the prices: a change committed in between leaves the table
        # labelled older than it is, which costs one extra reload, never a stale table kept.
        revision = await repo.get_revision(session, PRICES)
        table = cache.table
        if table is None or table.revision != revision:
            table = PriceTable.build(revision, await repo.all_prices(session))
        cache.put(table, now)
    assert cache.table is not None
    return cache.table


def normalize_country(country: str) -> str:
    """Upper-case ISO 3166-1 alpha-2, or "*"; NUMBER_REGION_UNKNOWN for anything else."""
    code = country.strip().upper()
    if code != ANY and code not in phonenumbers.SUPPORTED_REGIONS:
        raise errors.NUMBER_REGION_UNKNOWN(field="country", region=country)
    return code


async def list_prices(
    session: AsyncSession, *, limit: int, before_id: str | None, country: str | None = None
) -> list[Price]:
    """Prices, newest first (limit + 1 rows, for the next cursor)."""
    code = normalize_country(country) if country else None
    return await repo.list_prices(session, limit=limit, before_id=before_id, country=code)


async def set_price(
    session: AsyncSession,
    *,
    ctx: AppContext,
    actor: Actor,
    country: str,
    kind: str,
    unit_price: int,
    currency: str,
) -> Price:
    """Create or replace the price of (country, kind) (audited)."""
    if unit_price < 0:
        raise errors.FIELD_INVALID(field="unit_price", reason="a price cannot be negative")
    if kind not in KINDS:
        raise errors.FIELD_INVALID(
            field="kind", reason="verification, notification, marketing or *"
        )
    code, currency = normalize_country(country), currency.strip().upper()
    if not (len(currency) == 3 and currency.isascii() and currency.isalpha()):
        raise errors.FIELD_INVALID(field="currency", reason="an ISO 4217 code such as CNY")
    await _prices_changed(session, ctx)  # first: serializes concurrent price changes
    price = await repo.get_price(session, code, kind, for_update=True)
    if price is None:
        price = Price(
            id=new_id("prc"), country=code, kind=kind, unit_price=unit_price, currency=currency
        )
        await repo.add_price(session, price)
    else:
        price.unit_price, price.currency = unit_price, currency
        await session.flush()
    details = {"country": code, "kind": kind, "unit_price": unit_price, "currency": currency}
    await audit(
        session, actor, "billing.price_set", tenant_id=None, target_id=price.id, details=details
    )
    return price


async def remove_price(
    session: AsyncSession, *, ctx: AppContext, actor: Actor, country: str, kind: str
) -> None:
    """Delete the price of (country, kind) (audited); PRICE_NOT_FOUND when there is none."""
    code = normalize_country(country)
    await _prices_changed(session, ctx)
    price = await repo.get_price(session, code, kind, for_update=True)
    if price is None:
        raise errors.PRICE_NOT_FOUND(field="country", country=code, kind=kind)
    await repo.delete_price(session, price)
    details = {"country": code, "kind": kind}
    await audit(
        session, actor, "billing.price_remove", tenant_id=None, target_id=price.id, details=details
    )


async def _prices_changed(session: AsyncSession, ctx: AppContext) -> None:
    """Bump the price revision in this transaction; this process reloads once it commits."""
    await repo.bump_revision(session, PRICES)
    cache = price_cache_of(ctx.caches, ctx.settings.billing_refresh_secs)
    after_commit(session, "prices", cache.expire)


def after_commit(session: AsyncSession, key: str, action: Callable[[], None]) -> None:
    """Run ``action`` once this session's transaction commits (never on rollback)."""
    sync: SyncSession = session.sync_session
    pending: dict[str, Callable[[], None]] = sync.info.setdefault("billing.after_commit", {})
    if not pending:

        def run(_: SyncSession) -> None:
            for callback in sync.info.pop("billing.after_commit", {}).values():
                callback()

        event.listen(sync, "after_commit", run, once=True)
    pending[key] = action
