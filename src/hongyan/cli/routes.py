"""``hongyan route ...``: routes (filters -> a connector, with priority and weight)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from hongyan.accounts.service import CLI_ACTOR
from hongyan.api.context import AppContext
from hongyan.cli.common import DataDirOption, JsonOption, output, run_with_context, settings_for
from hongyan.cli.connectors import checked
from hongyan.connectors.base import OutboundSms
from hongyan.numbers.parse import parse_number
from hongyan.routing import service
from hongyan.routing.schemas import ResolvedConnector, RouteCreate, RouteOut

app = typer.Typer(
    help="Routes: which connector carries which messages, by priority and weight.",
    no_args_is_help=True,
)

COLUMNS = (
    "id",
    "name",
    "priority",
    "weight",
    "connector_id",
    "countries",
    "prefixes",
    "carriers",
    "kinds",
    "tenant_ids",
    "enabled",
)


def _many(help_text: str) -> Any:
    return typer.Option(None, help=f"{help_text} Repeatable; leave out to match any.")


@app.command("list")
def list_(
    connector: Annotated[str | None, typer.Option(help="Only routes to this connector.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 200,
    as_json: bool = JsonOption,
    data_dir: Path | None = DataDirOption,
) -> None:
    """List routes, newest first."""

    async def action(ctx: AppContext) -> list[RouteOut]:
        async with ctx.db.session() as session:
            rows = await service.list_routes(
                session, limit=limit, before_id=None, connector=connector
            )
            return [RouteOut.model_validate(r) for r in rows[:limit]]

    rows = run_with_context(settings_for(data_dir), action)
    output(rows, as_json=as_json, columns=COLUMNS, title="Routes")


@app.command()
def add(
    name: str,
    connector: Annotated[str, typer.Option(help="The connector's id or name.")],
    priority: Annotated[int, typer.Option(help="Lower is tried first.")] = 100,
    weight: Annotated[int, typer.Option(help="Share of traffic within one priority.")] = 1,
    country: list[str] | None = _many("ISO country code such as CN."),
    prefix: list[str] | None = _many("E.164 number prefix such as +86139."),
    carrier: list[str] | None = _many("Carrier name such as 'China Mobile'."),
    kind: list[str] | None = _many("verification, notification or marketing."),
    tenant: list[str] | None = _many("Tenant id."),
    disabled: Annotated[bool, typer.Option(help="Create it disabled.")] = False,
    as_json: bool = JsonOption,
    data_dir: Path | None = DataDirOption,
) -> None:
    """Add a route to a connector."""
    req = checked(
        RouteCreate,
        {
            "name": name,
            "connector_id": connector,
            "priority": priority,
            "weight": weight,
            "countries": country or None,
            "prefixes": prefix or None,
            "carriers": carrier or None,
            "kinds": kind or None,
            "tenant_ids": tenant or None,
            "enabled": not disabled,
        },
    )

    async def action(ctx: AppContext) -> RouteOut:
        async with ctx.db.session() as session:
            row = await service.create_route(session, ctx=ctx, actor=CLI_ACTOR, req=req)
            return RouteOut.model_validate(row)

    output(run_with_context(settings_for(data_dir), action), as_json=as_json, columns=COLUMNS)


@app.command()
def remove(ref: str, data_dir: Path | None = DataDirOption) -> None:
    """Remove a route (by id or name)."""

    async def action(ctx: AppContext) -> None:
        async with ctx.db.session() as session:
            await service.delete_route(session, ctx=ctx, actor=CLI_ACTOR, ref=ref)

    run_with_context(settings_for(data_dir), action)
    typer.echo(f"removed {ref}")


@app.command()
def resolve(
    number: str,
    kind: Annotated[str, typer.Option(help="verification, notification or marketing.")] = (
        "notification"
    ),
    tenant: Annotated[str | None, typer.Option(help="The sending tenant's id.")] = None,
    region: Annotated[str, typer.Option(help="Region of numbers given without +.")] = "CN",
    as_json: bool = JsonOption,
    data_dir: Path | None = DataDirOption,
) -> None:
    """Show the connectors a message to NUMBER would try, in order (sends nothing)."""
    if kind not in ("verification", "notification", "marketing"):
        raise typer.BadParameter("verification, notification or marketing", param_hint="--kind")
    info = parse_number(number, region=region)
    if not info.valid or info.e164 is None:
        raise typer.BadParameter(f"{number!r} is not a valid number ({info.reason})")
    msg = OutboundSms(
        message_id="msg_resolve",
        tenant_id=tenant or "",
        msisdn=info.e164,
        text="",
        encoding="gsm7",
        segments=1,
        kind=kind,  # type: ignore[arg-type]  # checked above
        region=info.region,
    )

    async def action(ctx: AppContext) -> list[ResolvedConnector]:
        async with ctx.db.session() as session:
            ids = await service.candidates(ctx, session, msg=msg, carrier=info.carrier)
            rows = [await service.get_connector(session, cid) for cid in ids]
        # This process sends nothing, so it knows no breaker: see the API for live health.
        return [
            ResolvedConnector(id=r.id, name=r.name, kind=r.kind, breaker="closed") for r in rows
        ]

    found = run_with_context(settings_for(data_dir), action)
    title = f"{info.e164} ({info.region}, {info.carrier or 'carrier unknown'})"
    output(found, as_json=as_json, columns=("id", "name", "kind"), title=title)
