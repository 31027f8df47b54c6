"""``hongyan smpp ...``: tenants' SMPP credentials, the SMPP server, carrier SMPP connectors."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel

from hongyan import runtime
from hongyan.accounts.service import CLI_ACTOR
from hongyan.api.context import AppContext
from hongyan.cli.common import (
    DataDirOption,
    JsonOption,
    console,
    ensure_schema,
    output,
    run_with_context,
    settings_for,
)
from hongyan.cli.connectors import checked
from hongyan.cli.server import _refuse_sqlite, _wait_for_signal
from hongyan.models import SmppCredential
from hongyan.routing import service as routing
from hongyan.routing.api import connector_out
from hongyan.smpp_server import service
from hongyan.smpp_server.schemas import (
    CredentialCreate,
    CredentialCreated,
    CredentialOut,
    CredentialRotate,
    CredentialUpdate,
)
from hongyan.smpp_server.server import SmppServer

app = typer.Typer(
    help="SMPP: tenants' SMPP credentials, the SMPP server for tenants, carrier connectors.",
    no_args_is_help=True,
)
credentials = typer.Typer(help="SMPP credentials tenants bind with.", no_args_is_help=True)
connectors = typer.Typer(help="Carrier connectors of kind smpp.", no_args_is_help=True)
app.add_typer(credentials, name="credentials")
app.add_typer(connectors, name="connectors")

COLUMNS = (
    "id",
    "tenant_id",
    "system_id",
    "enabled",
    "binds",
    "max_binds",
    "messages_per_sec",
    "allowed_sources",
    "ip_allowlist",
)
SourceOption = Annotated[
    list[str] | None,
    typer.Option("--source", help="An allowed source_addr (repeatable); none given: any."),
]
IpOption = Annotated[
    list[str] | None,
    typer.Option("--allow-ip", help="A CIDR binds may come from (repeatable); none given: any."),
]
MaxBindsOption = Annotated[int | None, typer.Option(help="Binds open at once [default: 4].")]
RateOption = Annotated[
    float | None, typer.Option("--mps", help="submit_sm per second [default: 50].")
]
MoOption = Annotated[
    bool | None, typer.Option("--mo/--no-mo", help="Deliver inbound messages [default: yes].")
]
NoteOption = Annotated[str | None, typer.Option(help="A note for operators.")]
PasswordOption = Annotated[
    str | None,
    typer.Option(help="6-8 characters; leave out to have one generated (recommended)."),
]


def _limits(**given: Any) -> dict[str, Any]:
    renamed = {"allowed_sources": given.pop("source"), "ip_allowlist": given.pop("allow_ip")}
    return {k: v for k, v in {**given, **renamed}.items() if v is not None}


def _show(
    rows: list[CredentialOut] | BaseModel, as_json: bool, columns: tuple[str, ...] = COLUMNS
) -> None:
    output(rows, as_json=as_json, columns=columns, title="SMPP credentials")


async def _view(ctx: AppContext, session: Any, row: SmppCredential) -> CredentialOut:
    (view,) = await service.views(session, ctx=ctx, rows=[row])
    return view


def _print_password(created: CredentialCreated, as_json: bool) -> None:
    _show(created, as_json, (*COLUMNS[:3], "password"))
    if not as_json:
        console.print("[yellow]The password is shown only this once: hand it over now.[/yellow]")


@credentials.command()
def create(
    tenant: Annotated[str, typer.Option(help="The tenant (ten_...) the credential is for.")],
    system_id: Annotated[str, typer.Option(help="What the tenant binds with (max 15).")],
    password: PasswordOption = None,
    source: SourceOption = None,
    allow_ip: IpOption = None,
    max_binds: MaxBindsOption = None,
    mps: RateOption = None,
    mo: MoOption = None,
    note: NoteOption = None,
    disabled: Annotated[bool, typer.Option(help="Create it disabled.")] = False,
    as_json: bool = JsonOption,
    data_dir: Path | None = DataDirOption,
) -> None:
    """Issue an SMPP credential to a tenant; its password is printed once."""
    fields = _limits(
        source=source, allow_ip=allow_ip, max_binds=max_binds, messages_per_sec=mps,
        deliver_mo=mo, note=note,
    )  # fmt: skip
    base = {"tenant_id": tenant, "system_id": system_id, "password": password}
    req = checked(CredentialCreate, {**base, **fields, "enabled": not disabled})

    async def action(ctx: AppContext) -> CredentialCreated:
        async with ctx.db.session() as session:
            issued = await service.create(session, actor=CLI_ACTOR, req=req)
            view = await _view(ctx, session, issued.credential)
        return CredentialCreated.model_validate({**view.model_dump(), "password": issued.password})

    _print_password(run_with_context(settings_for(data_dir), action), as_json)


@credentials.command("list")
def list_(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's.")] = None,
    as_json: bool = JsonOption,
    data_dir: Path | None = DataDirOption,
) -> None:
    """List SMPP credentials, newest first, with the binds open now."""

    async def action(ctx: AppContext) -> list[CredentialOut]:
        async with ctx.db.session() as session:
            rows = await service.list_credentials(
                session, tenant_id=tenant, limit=10_000, before_id=None
            )
            return await service.views(session, ctx=ctx, rows=rows)

    _show(run_with_context(settings_for(data_dir), action), as_json)


@credentials.command()
def show(ref: str, as_json: bool = JsonOption, data_dir: Path | None = DataDirOption) -> None:
    """Show one credential (by id or system_id)."""

    async def action(ctx: AppContext) -> CredentialOut:
        async with ctx.db.session() as session:
            return await _view(ctx, session, await service.get(session, ref))

    out = run_with_context(settings_for(data_dir), action)
    _show(out, as_json, (*COLUMNS, "deliver_mo", "note", "last_bind_at", "password_changed_at"))


def _update(ref: str, req: CredentialUpdate, as_json: bool, data_dir: Path | None) -> None:
    async def action(ctx: AppContext) -> CredentialOut:
        async with ctx.db.session() as session:
            row = await service.update(session, actor=CLI_ACTOR, ref=ref, req=req)
            return await _view(ctx, session, row)

    _show(run_with_context(settings_for(data_dir), action), as_json)


@credentials.command("set")
def set_(
    ref: str,
    source: SourceOption = None,
    allow_ip: IpOption = None,
    max_binds: MaxBindsOption = None,
    mps: RateOption = None,
    mo: MoOption = None,
    note: NoteOption = None,
    as_json: bool = JsonOption,
    data_dir: Path | None = DataDirOption,
) -> None:
    """Change limits (options given replace the stored values; open binds keep theirs)."""
    fields = _limits(
        source=source, allow_ip=allow_ip, max_binds=max_binds, messages_per_sec=mps,
        deliver_mo=mo, note=note,
    )  # fmt: skip
    if not fields:
        raise typer.BadParameter("nothing to change")
    _update(ref, checked(CredentialUpdate, fields), as_json, data_dir)


@credentials.command()
def disable(ref: str, as_json: bool = JsonOption, data_dir: Path | None = DataDirOption) -> None:
    """Disable a credential: new binds are refused, open ones closed within seconds."""
    _update(ref, CredentialUpdate(enabled=False), as_json, data_dir)


@credentials.command()
def enable(ref: str, as_json: bool = JsonOption, data_dir: Path | None = DataDirOption) -> None:
    """Enable a credential again."""
    _update(ref, CredentialUpdate(enabled=True), as_json, data_dir)


@credentials.command()
def rotate(
    ref: str,
    password: PasswordOption = None,
    as_json: bool = JsonOption,
    data_dir: Path | None = DataDirOption,
) -> None:
    """Set a new password (printed once); the old one stops working for new binds."""
    req = checked(CredentialRotate, {"password": password})

    async def action(ctx: AppContext) -> CredentialCreated:
        async with ctx.db.session() as session:
            issued = await service.rotate(session, actor=CLI_ACTOR, ref=ref, req=req)
            view = await _view(ctx, session, issued.credential)
        return CredentialCreated.model_validate({**view.model_dump(), "password": issued.password})

    _print_password(run_with_context(settings_for(data_dir), action), as_json)


@credentials.command()
def delete(ref: str, data_dir: Path | None = DataDirOption) -> None:
    """Delete a credential and its undelivered receipts (disable it to keep them)."""

    async def action(ctx: AppContext) -> str:
        async with ctx.db.session() as session:
            return (await service.delete(session, actor=CLI_ACTOR, ref=ref)).system_id

    typer.echo(f"deleted {run_with_context(settings_for(data_dir), action)}")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="[default: smpp_server_host]")] = None,
    port: Annotated[int | None, typer.Option(help="[default: smpp_server_port]")] = None,
    data_dir: Path | None = DataDirOption,
) -> None:
    """Run the SMPP server for tenants alone (PostgreSQL; beside 'hongyan serve' and workers)."""
    settings = settings_for(data_dir)
    _refuse_sqlite(settings, "smpp serve")

    async def main() -> None:
        ctx = AppContext.build(settings)
        await ensure_schema(ctx)
        runtime.start(ctx)
        server = SmppServer(ctx, host=host, port=port)
        await server.start()
        console.print(f"SMPP server for tenants on {server.host}:{server.port}")
        try:
            await _wait_for_signal()
        finally:
            await runtime.stop(ctx)  # stops the SMPP server first

    asyncio.run(main())


@connectors.command("list")
def list_connectors(as_json: bool = JsonOption, data_dir: Path | None = DataDirOption) -> None:
    """List carrier connectors of kind smpp (manage them with 'hongyan connector')."""

    async def action(ctx: AppContext) -> list[Any]:
        async with ctx.db.session() as session:
            rows = await routing.list_connectors(session, limit=10_000, before_id=None)
            return [connector_out(r) for r in rows if r.kind == "smpp"]

    rows = run_with_context(settings_for(data_dir), action)
    output(
        rows,
        as_json=as_json,
        columns=("id", "name", "enabled", "settings", "updated_at"),
        title="SMPP connectors",
    )
