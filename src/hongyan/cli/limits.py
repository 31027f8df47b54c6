"""``hongyan limits ...``: tenants' frequency limits, caps and whitelists from the shell."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.table import Table

from hongyan.accounts import service as accounts
from hongyan.api.context import AppContext
from hongyan.cli.common import (
    DataDirOption,
    JsonOption,
    console,
    output,
    run_with_context,
    settings_for,
)
from hongyan.limits import service
from hongyan.limits.policy import KINDS, window_name
from hongyan.limits.schemas import LimitsOut, LimitsUpdate, WhitelistAdd, WhitelistEntryOut

app = typer.Typer(
    help="Per-number frequency limits, request rate, daily/monthly caps and whitelists.",
    no_args_is_help=True,
)
whitelist_app = typer.Typer(
    help="Numbers of a tenant exempt from per-number frequency limits.", no_args_is_help=True
)
app.add_typer(whitelist_app, name="whitelist")

RULES_HELP = (
    "WINDOW:MAX pairs, comma-separated, e.g. '1m:1,1h:5,1d:10' (units s, m, h, d; a bare "
    "number is seconds); 'default' for the defaults, 'none' for no per-number limit."
)
RulesOption = Annotated[str | None, typer.Option(help=RULES_HELP, show_default=False)]
LimitOption = Annotated[
    str | None, typer.Option(help="A whole number, or 'off'.", show_default=False)
]
_UNIT_SECS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_WINDOW = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*:\s*(\d+)\s*$")


def parse_rules(spec: str) -> list[dict[str, int]] | None:
    """Rules from '1m:1,1h:5,1d:10'; None for 'default', [] for 'none'."""
    text = spec.strip().lower()
    if text == "default":
        return None
    if text == "none":
        return []
    rules = []
    for part in text.split(","):
        match = _WINDOW.match(part)
        if match is None:
            raise typer.BadParameter(f"{part.strip()!r} is not WINDOW:MAX; {RULES_HELP}")
        count, unit, most = match.groups()
        rules.append({"window_secs": int(count) * _UNIT_SECS[unit], "max": int(most)})
    return rules


def parse_limit(value: str, name: str) -> int | None:
    """A positive whole number, or None for 'off'."""
    if value.strip().lower() in ("off", "none"):
        return None
    try:
        return int(value)
    except ValueError:
        raise typer.BadParameter("a whole number, or 'off'", param_hint=name) from None


def _rules_text(rules: list[dict[str, Any]]) -> str:
    if not rules:
        return "no limit"
    return ", ".join(f"{r['max']} per {window_name(r['window_secs'])[0]}" for r in rules)


def print_limits(out: LimitsOut, as_json: bool) -> None:
    """Print a tenant's limits as a table, or as JSON."""
    if as_json:
        typer.echo(out.model_dump_json(indent=2))
        return
    data = out.model_dump(mode="json")
    table = Table(title=f"Limits of {out.tenant_id} (revision {out.revision})")
    table.add_column("limit")
    table.add_column("value")
    for kind in KINDS:
        source = "set by operator" if kind in out.customized else "default"
        table.add_row(kind, f"{_rules_text(data['rules'][kind])} ({source})")
    table.add_row("rate_per_sec", str(out.rate_per_sec or "off"))
    table.add_row("daily_cap", f"{out.daily_cap or 'off'} (used today: {out.used_today})")
    month = f"{out.monthly_cap or 'off'} (used this month: {out.used_this_month})"
    table.add_row("monthly_cap", month)
    table.add_row("timezone", out.timezone)
    table.add_row("whitelisted numbers", str(out.whitelisted))
    console.print(table)


@app.command()
def show(tenant: str, as_json: bool = JsonOption, data_dir: Path | None = DataDirOption) -> None:
    """Show a tenant's limits, caps and usage."""

    async def action(ctx: AppContext) -> LimitsOut:
        async with ctx.db.session() as session:
            return await service.get_limits(session, ctx=ctx, tenant_id=tenant)

    print_limits(run_with_context(settings_for(data_dir), action), as_json)


@app.command("set")
def set_(
    tenant: str,
    verification: RulesOption = None,
    notification: RulesOption = None,
    marketing: RulesOption = None,
    rate: LimitOption = None,
    daily_cap: LimitOption = None,
    monthly_cap: LimitOption = None,
    reset: Annotated[
        bool, typer.Option("--reset", help="Start from the defaults instead of the current.")
    ] = False,
    as_json: bool = JsonOption,
    data_dir: Path | None = DataDirOption,
) -> None:
    """Change a tenant's limits; what is not given stays as it is (or default with --reset)."""
    changes: dict[str, Any] = {}
    for kind, spec in zip(KINDS, (verification, notification, marketing), strict=True):
        if spec is not None:
            changes.setdefault("rules", {})[kind] = parse_rules(spec)
    for name, value in (
        ("rate_per_sec", rate),
        ("daily_cap", daily_cap),
        ("monthly_cap", monthly_cap),
    ):
        if value is not None:
            changes[name] = parse_limit(value, "--" + name.replace("_", "-"))

    async def action(ctx: AppContext) -> LimitsOut:
        async with ctx.db.session() as session:
            current = await service.get_limits(session, ctx=ctx, tenant_id=tenant)
            req = _merged(current, changes, reset=reset)
            return await service.set_limits(
                session, ctx=ctx, actor=accounts.CLI_ACTOR, tenant_id=tenant, req=req
            )

    print_limits(run_with_context(settings_for(data_dir), action), as_json)


def _merged(current: LimitsOut, changes: dict[str, Any], *, reset: bool) -> LimitsUpdate:
    """The full policy to store: the current one (or none) with the changes applied."""
    base: dict[str, Any] = {"rules": {}}
    if not reset:
        dumped = current.model_dump(mode="json")
        base = {
            "rules": {k: dumped["rules"][k] for k in current.customized},
            "rate_per_sec": current.rate_per_sec,
            "daily_cap": current.daily_cap,
            "monthly_cap": current.monthly_cap,
        }
    base["rules"].update(changes.pop("rules", {}))
    base.update(changes)
    try:
        return LimitsUpdate.model_validate(base)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise typer.BadParameter(f"{where}: {first['msg']}") from None


# --- the whitelist ----------------------------------------------------------------------------

WHITELIST_COLUMNS = ("id", "msisdn", "note", "created_at")


@whitelist_app.command("list")
def whitelist_list(
    tenant: str,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 1000,
    as_json: bool = JsonOption,
    data_dir: Path | None = DataDirOption,
) -> None:
    """List a tenant's whitelisted numbers, newest first."""

    async def action(ctx: AppContext) -> list[WhitelistEntryOut]:
        async with ctx.db.session() as session:
            await accounts.get_tenant(session, tenant)
            rows = await service.list_whitelist(
                session, tenant_id=tenant, limit=limit, before_id=None
            )
            return [WhitelistEntryOut.model_validate(r) for r in rows[:limit]]

    rows = run_with_context(settings_for(data_dir), action)
    output(rows, as_json=as_json, columns=WHITELIST_COLUMNS, title=f"Whitelist of {tenant}")


@whitelist_app.command("add")
def whitelist_add(
    tenant: str,
    number: str,
    note: Annotated[str | None, typer.Option(help="Why it is exempt.")] = None,
    region: Annotated[str, typer.Option(help="Region of a number without '+'.")] = "CN",
    as_json: bool = JsonOption,
    data_dir: Path | None = DataDirOption,
) -> None:
    """Exempt a number from the tenant's per-number limits."""
    try:
        req = WhitelistAdd(msisdn=number, note=note, region=region)
    except ValidationError as exc:
        raise typer.BadParameter(str(exc.errors()[0]["msg"])) from None

    async def action(ctx: AppContext) -> WhitelistEntryOut:
        async with ctx.db.session() as session:
            row = await service.add_whitelisted(
                session, ctx=ctx, actor=accounts.CLI_ACTOR, tenant_id=tenant, req=req
            )
            return WhitelistEntryOut.model_validate(row)

    out = run_with_context(settings_for(data_dir), action)
    output(out, as_json=as_json, columns=WHITELIST_COLUMNS)


@whitelist_app.command("remove")
def whitelist_remove(
    tenant: str,
    entry: Annotated[str, typer.Argument(help="The number, or the entry id (lwl_...).")],
    as_json: bool = JsonOption,
    data_dir: Path | None = DataDirOption,
) -> None:
    """Take a number off the tenant's whitelist."""

    async def action(ctx: AppContext) -> WhitelistEntryOut:
        async with ctx.db.session() as session:
            await accounts.get_tenant(session, tenant)
            row = await service.remove_whitelisted(
                session, ctx=ctx, actor=accounts.CLI_ACTOR, tenant_id=tenant, entry=entry
            )
            return WhitelistEntryOut.model_validate(row)

    out = run_with_context(settings_for(data_dir), action)
    if as_json:
        typer.echo(json.dumps(out.model_dump(mode="json")))
    else:
        typer.echo(f"removed {out.msisdn}")
