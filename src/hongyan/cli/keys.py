"""``hongyan key ...``: API keys for tenants and operators."""

from __future__ import annotations

from pathlib import Path

import typer

from hongyan.accounts import service
from hongyan.accounts.api import created_out, key_out
from hongyan.accounts.schemas import KeyCreate, Scope
from hongyan.api.context import AppContext
from hongyan.cli.common import (
    DataDirOption,
    JsonOption,
    console,
    output,
    run_with_context,
    settings_for,
)

app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)

COLUMNS = (
    "id",
    "tenant_id",
    "role",
    "name",
    "scopes",
    "test_mode",
    "status",
    "secret_hint",
    "last_used_at",
)


def _owner(tenant: str | None, operator: bool) -> str | None:
    if operator == (tenant is not None):
        raise typer.BadParameter("give exactly one of --tenant ID or --operator")
    return tenant


@app.command()
def create(
    name: str = typer.Option(..., help="A name to recognize the key by."),
    tenant: str | None = typer.Option(None, help="The tenant the key acts for."),
    operator: bool = typer.Option(False, help="An operator key, acting across tenants."),
    scope: list[str] = typer.Option(["send", "read", "manage"], help="send, read or manage."),
    test: bool = typer.Option(False, help="Test mode: simulator only, never billed."),
    as_json: bool = JsonOption,
    data_dir: Path | None = DataDirOption,
) -> None:
    """Create a key; its secret is printed once."""
    tenant_id = _owner(tenant, operator)
    scopes: list[Scope] = []
    for item in scope:
        if item not in ("send", "read", "manage"):
            raise typer.BadParameter(f"unknown scope {item!r}", param_hint="--scope")
        scopes.append(item)  # type: ignore[arg-type]
    req = KeyCreate(name=name, scopes=scopes, test_mode=test)

    async def action(ctx: AppContext) -> None:
        async with ctx.db.session() as session:
            created = await service.create_key(
                session, actor=service.CLI_ACTOR, box=ctx.box, tenant_id=tenant_id, req=req
            )
            out = created_out(created)
        output(out, as_json=as_json, columns=(*COLUMNS[:-2], "secret"))
        if not as_json:
            console.print("[yellow]The secret is shown only this once: store it now.[/yellow]")

    run_with_context(settings_for(data_dir), action)


@app.command("list")
def list_(
    tenant: str | None = typer.Option(None, help="List this tenant's keys."),
    operator: bool = typer.Option(False, help="List the operator keys."),
    as_json: bool = JsonOption,
    data_dir: Path | None = DataDirOption,
) -> None:
    """List the keys of a tenant or of the operator (never their secrets)."""
    tenant_id = _owner(tenant, operator)

    async def action(ctx: AppContext) -> None:
        async with ctx.db.session() as session:
            if tenant_id:
                await service.get_tenant(session, tenant_id)
            rows = await service.list_keys(session, tenant_id=tenant_id, limit=1000, before_id=None)
            outs = [key_out(k) for k in rows]
        output(outs, as_json=as_json, columns=COLUMNS, title="API keys")

    run_with_context(settings_for(data_dir), action)


@app.command()
def revoke(
    key_id: str,
    tenant: str | None = typer.Option(None, help="The tenant owning the key."),
    operator: bool = typer.Option(False, help="The key is an operator key."),
    as_json: bool = JsonOption,
    data_dir: Path | None = DataDirOption,
) -> None:
    """Revoke a key: it stops working within seconds on every process."""
    tenant_id = _owner(tenant, operator)

    async def action(ctx: AppContext) -> None:
        async with ctx.db.session() as session:
            key = await service.revoke_key(
                session, actor=service.CLI_ACTOR, tenant_id=tenant_id, key_id=key_id
            )
            out = key_out(key)
        output(out, as_json=as_json, columns=COLUMNS)

    run_with_context(settings_for(data_dir), action)
