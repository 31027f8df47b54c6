"""``hongyan connector ...``: the operator's connectors (simulator, SMPP links, HTTP vendors)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import BaseModel, ValidationError

from hongyan.accounts.service import CLI_ACTOR
from hongyan.api.context import AppContext
from hongyan.cli.common import DataDirOption, JsonOption, output, run_with_context, settings_for
from hongyan.connectors import registry
from hongyan.routing import service
from hongyan.routing.api import connector_out
from hongyan.routing.health_store import connector_health
from hongyan.routing.schemas import ConnectorCreate, ConnectorKindOut, ConnectorOut, ConnectorUpdate

app = typer.Typer(
    help="Connectors: where messages leave Hongyan (simulator, SMPP, HTTP vendors).",
    no_args_is_help=True,
)

COLUMNS = ("id", "name", "kind", "enabled", "simulated", "updated_at")
SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="KEY=VALUE, repeatable; VALUE is read as JSON when it parses (200, true, [...]).",
    ),
]
SettingsOption = Annotated[
    str | None,
    typer.Option("--settings", help="All settings as a JSON object, or @file.json."),
]


def parse_settings(pairs: list[str] | None, settings_json: str | None) -> dict[str, Any] | None:
    """Settings from --settings (JSON or @file) overlaid with --set KEY=VALUE pairs."""
    if pairs is None and settings_json is None:
        return None
    settings: dict[str, Any] = {}
    if settings_json is not None:
        raw = (
            Path(settings_json[1:]).read_text("utf-8")
            if settings_json[:1] == "@"
            else settings_json
        )
        try:
            loaded = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise typer.BadParameter(f"not JSON: {exc}", param_hint="--settings") from None
        if not isinstance(loaded, dict):
            raise typer.BadParameter("must be a JSON object", param_hint="--settings")
        settings.update(loaded)
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--set")
        try:
            settings[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            settings[key.strip()] = value  # a plain string
    return settings


M = TypeVar("M", bound=BaseModel)


def checked(model: type[M], data: dict[str, Any]) -> M:
    """The request model, or a usage error naming the bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise typer.BadParameter(f"{where}: {first['msg']}") from None


@app.command("list")
def list_(
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 200,
    as_json: bool = JsonOption,
    data_dir: Path | None = DataDirOption,
) -> None:
    """List connectors, newest first."""

    async def action(ctx: AppContext) -> list[ConnectorOut]:
        async with ctx.db.session() as session:
            rows = await service.list_connectors(session, limit=limit, before_id=None)
            return [connector_out(r) for r in rows[:limit]]

    rows = run_with_context(settings_for(data_dir), action)
    output(rows, as_json=as_json, columns=COLUMNS, title="Connectors")


@app.command()
def add(
    name: str,
    kind: Annotated[str, typer.Option(help="simulator, or another registered kind.")] = "simulator",
    settings: SetOption = None,
    settings_json: SettingsOption = None,
    disabled: Annotated[bool, typer.Option(help="Create it disabled.")] = False,
    as_json: bool = JsonOption,
    data_dir: Path | None = DataDirOption,
) -> None:
    """Add a connector (secrets given in settings are encrypted at rest)."""
    given = parse_settings(settings, settings_json) or {}
    req = checked(
        ConnectorCreate, {"name": name, "kind": kind, "settings": given, "enabled": not disabled}
    )

    async def action(ctx: AppContext) -> ConnectorOut:
        async with ctx.db.session() as session:
            return connector_out(
                await service.create_connector(session, ctx=ctx, actor=CLI_ACTOR, req=req)
            )

    output(run_with_context(settings_for(data_dir), action), as_json=as_json, columns=COLUMNS)


@app.command()
def show(ref: str, as_json: bool = JsonOption, data_dir: Path | None = DataDirOption) -> None:
    """Show one connector (by id or name) with its settings and recent health."""

    async def action(ctx: AppContext) -> ConnectorOut:
        async with ctx.db.session() as session:
            row = await service.get_connector(session, ref)
            return connector_out(row, await connector_health(ctx, session, connector_id=row.id))

    out = run_with_context(settings_for(data_dir), action)
    output(out, as_json=as_json, columns=(*COLUMNS, "max_segments", "settings", "health"))


@app.command("set")
def set_(
    ref: str,
    settings: SetOption = None,
    settings_json: SettingsOption = None,
    name: Annotated[str | None, typer.Option(help="A new name.")] = None,
    enabled: Annotated[
        bool | None, typer.Option("--enable/--disable", help="Turn on or off.")
    ] = None,
    as_json: bool = JsonOption,
    data_dir: Path | None = DataDirOption,
) -> None:
    """Change a connector: settings given replace those keys; running workers pick it up."""
    changes: dict[str, Any] = {}
    given = parse_settings(settings, settings_json)
    if given is not None:
        changes["settings"] = given
    if name is not None:
        changes["name"] = name
    if enabled is not None:
        changes["enabled"] = enabled
    if not changes:
        raise typer.BadParameter("nothing to change: give --set, --settings, --name or --enable")
    req = checked(ConnectorUpdate, changes)

    async def action(ctx: AppContext) -> ConnectorOut:
        async with ctx.db.session() as session:
            row = await service.update_connector(
                session, ctx=ctx, actor=CLI_ACTOR, ref=ref, req=req
            )
            return connector_out(row)

    output(run_with_context(settings_for(data_dir), action), as_json=as_json, columns=COLUMNS)


@app.command()
def remove(ref: str, data_dir: Path | None = DataDirOption) -> None:
    """Remove a connector that no route uses (disable it with 'set --disable' otherwise)."""

    async def action(ctx: AppContext) -> None:
        async with ctx.db.session() as session:
            await service.delete_connector(session, ctx=ctx, actor=CLI_ACTOR, ref=ref)

    run_with_context(settings_for(data_dir), action)
    typer.echo(f"removed {ref}")


@app.command()
def kinds(as_json: bool = JsonOption) -> None:
    """List the connector kinds this installation knows, with their secret settings."""
    rows = [
        ConnectorKindOut.model_validate(registry.describe(k)) for k in sorted(registry.REGISTRY)
    ]
    output(
        rows,
        as_json=as_json,
        columns=("kind", "max_segments", "rate_per_sec", "simulated", "secret_settings"),
    )
