"""``hongyan tenant ...``: the operator's tenant management from the shell."""

from __future__ import annotations

from pathlib import Path

import typer

from hongyan.accounts import service
from hongyan.accounts.api import tenant_out
from hongyan.accounts.schemas import TenantCreate
from hongyan.api.context import AppContext
from hongyan.cli.common import DataDirOption, JsonOption, output, run_with_context, settings_for

app = typer.Typer(help="Create, list, show, suspend and resume tenants.", no_args_is_help=True)

COLUMNS = ("id", "name", "status", "trusted", "free_text_allowed", "timezone", "created_at")


@app.command()
def create(
    name: str,
    trusted: bool = typer.Option(False, help="Templates passing automatic review are approved."),
    free_text: bool = typer.Option(False, help="Allow messages without a template."),
    email: str | None = typer.Option(None, help="Contact email."),
    timezone: str = typer.Option("Asia/Shanghai", help="IANA time zone."),
    as_json: bool = JsonOption,
    data_dir: Path | None = DataDirOption,
) -> None:
    """Create a tenant."""
    req = TenantCreate(
        name=name,
        trusted=trusted,
        free_text_allowed=free_text,
        contact_email=email,
        timezone=timezone,
    )

    async def action(ctx: AppContext) -> None:
        async with ctx.db.session() as session:
            tenant = await service.create_tenant(session, actor=service.CLI_ACTOR, req=req)
            out = tenant_out(tenant)
        output(out, as_json=as_json, columns=COLUMNS)

    run_with_context(settings_for(data_dir), action)


@app.command("list")
def list_(
    status: str | None = typer.Option(None, help="active or suspended"),
    limit: int = typer.Option(200, help="At most this many, newest first."),
    as_json: bool = JsonOption,
    data_dir: Path | None = DataDirOption,
) -> None:
    """List tenants, newest first."""

    async def action(ctx: AppContext) -> None:
        async with ctx.db.session() as session:
            rows = await service.list_tenants(session, limit=limit, before_id=None, status=status)
            outs = [tenant_out(t) for t in rows[:limit]]
        output(outs, as_json=as_json, columns=COLUMNS, title="Tenants")

    run_with_context(settings_for(data_dir), action)


@app.command()
def show(tenant_id: str, as_json: bool = JsonOption, data_dir: Path | None = DataDirOption) -> None:
    """Show one tenant."""

    async def action(ctx: AppContext) -> None:
        async with ctx.db.session() as session:
            out = tenant_out(await service.get_tenant(session, tenant_id))
        output(out, as_json=as_json, columns=(*COLUMNS, "contact_email", "verification"))

    run_with_context(settings_for(data_dir), action)


def _set_status(tenant_id: str, status: str, as_json: bool, data_dir: Path | None) -> None:
    async def action(ctx: AppContext) -> None:
        async with ctx.db.session() as session:
            tenant = await service.set_tenant_status(
                session, actor=service.CLI_ACTOR, tenant_id=tenant_id, status=status
            )
            out = tenant_out(tenant)
        output(out, as_json=as_json, columns=COLUMNS)

    run_with_context(settings_for(data_dir), action)


@app.command()
def suspend(
    tenant_id: str, as_json: bool = JsonOption, data_dir: Path | None = DataDirOption
) -> None:
    """Suspend a tenant: its keys stop working within seconds."""
    _set_status(tenant_id, "suspended", as_json, data_dir)


@app.command()
def resume(
    tenant_id: str, as_json: bool = JsonOption, data_dir: Path | None = DataDirOption
) -> None:
    """Resume a suspended tenant."""
    _set_status(tenant_id, "active", as_json, data_dir)
