"""``hongyan billing ...``: prices, top-ups, adjustments, balances and ledgers from the shell.

Amounts are integers of minor units (fen, cents): ``hongyan billing topup ten_... 10000`` adds
100.00 in the tenant's currency.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from hongyan.accounts import service as accounts
from hongyan.api.context import AppContext
from hongyan.billing import prices, service
from hongyan.billing.api import account_out
from hongyan.billing.schemas import AccountOut, BillingUpdate, LedgerEntryOut, PriceOut
from hongyan.cli.common import DataDirOption, JsonOption, output, run_with_context, settings_for

app = typer.Typer(help="Prices, tenants' balances and the ledger.", no_args_is_help=True)
price_app = typer.Typer(help="Prices per destination country and message kind.")
app.add_typer(price_app, name="price", no_args_is_help=True)

PRICE_COLUMNS = ("id", "country", "kind", "unit_price", "currency", "updated_at")
ENTRY_COLUMNS = ("id", "kind", "amount", "currency", "balance_after", "message_id", "note")
ACCOUNT_COLUMNS = (
    "tenant_id",
    "balance",
    "held",
    "currency",
    "charge_policy",
    "low_balance_threshold",
    "low_balance",
)
# Negative amounts (adjust TENANT -500) are arguments, not unknown options.
_NUMBERS = {"ignore_unknown_options": True}


class KindChoice(StrEnum):
    """The message kind a price applies to."""

    any = "*"
    verification = "verification"
    notification = "notification"
    marketing = "marketing"


class EntryChoice(StrEnum):
    """A kind of ledger entry."""

    topup = "topup"
    hold = "hold"
    confirm = "confirm"
    refund = "refund"
    adjustment = "adjustment"


class PolicyChoice(StrEnum):
    """When a tenant is charged."""

    on_send = "on_send"
    on_delivery = "on_delivery"


KindOption = Annotated[KindChoice, typer.Option("--kind", help="A message kind, or * for any.")]
AmountArg = Annotated[int, typer.Argument(help="Minor units (fen, cents).")]


@price_app.command("set")
def price_set(
    country: Annotated[str, typer.Argument(help="ISO 3166-1 alpha-2 (CN, US...), or *.")],
    amount: Annotated[int, typer.Argument(help="Minor units per segment.")],
    kind: KindOption = KindChoice.any,
    currency: Annotated[str, typer.Option(help="ISO 4217 code.")] = "CNY",
    as_json: bool = JsonOption,
    data_dir: Path | None = DataDirOption,
) -> None:
    """Set the price of one segment to COUNTRY (replacing any price it had)."""

    async def action(ctx: AppContext) -> PriceOut:
        async with ctx.db.session() as session:
            price = await prices.set_price(
                session,
                ctx=ctx,
                actor=accounts.CLI_ACTOR,
                country=country,
                kind=kind.value,
                unit_price=amount,
                currency=currency,
            )
            return PriceOut.model_validate(price)

    out = run_with_context(settings_for(data_dir), action)
    output(out, as_json=as_json, columns=PRICE_COLUMNS)


@price_app.command("list")
def price_list(
    country: Annotated[str | None, typer.Option(help="Only this country.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 1000,
    as_json: bool = JsonOption,
    data_dir: Path | None = DataDirOption,
) -> None:
    """List prices, ordered by country and kind."""

    async def action(ctx: AppContext) -> list[PriceOut]:
        async with ctx.db.session() as session:
            rows = await prices.list_prices(session, limit=limit, before_id=None, country=country)
            return [PriceOut.model_validate(p) for p in rows[:limit]]

    rows = run_with_context(settings_for(data_dir), action)
    rows.sort(key=lambda p: (p.country, p.kind))
    output(rows, as_json=as_json, columns=PRICE_COLUMNS, title="Prices")


@price_app.command("remove")
def price_remove(
    country: Annotated[str, typer.Argument(help="ISO 3166-1 alpha-2, or *.")],
    kind: KindOption = KindChoice.any,
    data_dir: Path | None = DataDirOption,
) -> None:
    """Remove the price of (COUNTRY, --kind)."""

    async def action(ctx: AppContext) -> None:
        async with ctx.db.session() as session:
            await prices.remove_price(
                session, ctx=ctx, actor=accounts.CLI_ACTOR, country=country, kind=kind.value
            )

    run_with_context(settings_for(data_dir), action)
    typer.echo(f"removed the price of {country.upper()} ({kind.value})")


@app.command(context_settings=_NUMBERS)
def topup(
    tenant: str,
    amount: AmountArg,
    note: Annotated[str | None, typer.Option(help="Kept in the ledger.")] = None,
    as_json: bool = JsonOption,
    data_dir: Path | None = DataDirOption,
) -> None:
    """Add AMOUNT to a tenant's balance."""
    _credit(tenant, amount, note, as_json, data_dir, adjustment=False)


@app.command(context_settings=_NUMBERS)
def adjust(
    tenant: str,
    amount: Annotated[int, typer.Argument(help="Minor units, negative to debit.")],
    note: Annotated[str, typer.Option(help="Why (required; kept in the ledger).")],
    as_json: bool = JsonOption,
    data_dir: Path | None = DataDirOption,
) -> None:
    """Correct a tenant's balance up or down (it never goes below zero)."""
    _credit(tenant, amount, note, as_json, data_dir, adjustment=True)


def _credit(
    tenant: str,
    amount: int,
    note: str | None,
    as_json: bool,
    data_dir: Path | None,
    *,
    adjustment: bool,
) -> None:
    change = service.adjust if adjustment else service.topup

    async def action(ctx: AppContext) -> LedgerEntryOut:
        async with ctx.db.session() as session:
            entry = await change(
                session, actor=accounts.CLI_ACTOR, tenant_id=tenant, amount=amount, note=note
            )
            return LedgerEntryOut.model_validate(entry)

    out = run_with_context(settings_for(data_dir), action)
    output(out, as_json=as_json, columns=ENTRY_COLUMNS)


@app.command()
def balance(tenant: str, as_json: bool = JsonOption, data_dir: Path | None = DataDirOption) -> None:
    """Show a tenant's balance, held amount, currency and charge policy."""

    async def action(ctx: AppContext) -> AccountOut:
        async with ctx.db.session() as session:
            return account_out(await service.get_account(session, tenant_id=tenant))

    output(
        run_with_context(settings_for(data_dir), action), as_json=as_json, columns=ACCOUNT_COLUMNS
    )


@app.command("set")
def set_terms(
    tenant: str,
    currency: Annotated[str | None, typer.Option(help="ISO 4217; only at zero balance.")] = None,
    policy: Annotated[PolicyChoice | None, typer.Option(help="When to charge.")] = None,
    low_balance_threshold: Annotated[
        int | None, typer.Option(help="Minor units; -1 turns the warning off.")
    ] = None,
    as_json: bool = JsonOption,
    data_dir: Path | None = DataDirOption,
) -> None:
    """Change a tenant's currency, charge policy or low-balance threshold."""
    changes: dict[str, object] = {}
    if currency is not None:
        changes["currency"] = currency
    if policy is not None:
        changes["charge_policy"] = policy.value
    if low_balance_threshold is not None:
        changes["low_balance_threshold"] = (
            None if low_balance_threshold < 0 else low_balance_threshold
        )
    try:
        req = BillingUpdate.model_validate(changes)
    except ValidationError as exc:
        raise typer.BadParameter(exc.errors()[0]["msg"]) from None

    async def action(ctx: AppContext) -> AccountOut:
        async with ctx.db.session() as session:
            account = await service.update_account(
                session, actor=accounts.CLI_ACTOR, tenant_id=tenant, req=req
            )
            return account_out(account)

    output(
        run_with_context(settings_for(data_dir), action), as_json=as_json, columns=ACCOUNT_COLUMNS
    )


@app.command()
def ledger(
    tenant: str,
    kind: Annotated[EntryChoice | None, typer.Option(help="Only entries of this kind.")] = None,
    message: Annotated[str | None, typer.Option(help="Only entries of this message.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 100,
    as_json: bool = JsonOption,
    data_dir: Path | None = DataDirOption,
) -> None:
    """List a tenant's ledger entries, newest first."""

    async def action(ctx: AppContext) -> list[LedgerEntryOut]:
        async with ctx.db.session() as session:
            rows = await service.list_ledger(
                session,
                tenant_id=tenant,
                limit=limit,
                before_id=None,
                kind=kind.value if kind else None,
                message_id=message,
                check_tenant=True,
            )
            return [LedgerEntryOut.model_validate(e) for e in rows[:limit]]

    rows = run_with_context(settings_for(data_dir), action)
    output(rows, as_json=as_json, columns=ENTRY_COLUMNS, title=f"Ledger of {tenant}")
