"""``hongyan webhook ...``: the operator's view of tenants' webhook endpoints and deliveries."""

from __future__ import annotations

from pathlib import Path

import typer

from hongyan.accounts import service as accounts
from hongyan.api.context import AppContext
from hongyan.cli.common import DataDirOption, JsonOption, output, run_with_context, settings_for
from hongyan.webhooks import endpoints, service
from hongyan.webhooks.api import delivery_out, endpoint_out

app = typer.Typer(
    help="List tenants' webhook endpoints and deliveries; replay a delivery.", no_args_is_help=True
)

ENDPOINT_COLUMNS = (
    "id",
    "url",
    "events",
    "enabled",
    "consecutive_failures",
    "paused_until",
    "created_at",
)
DELIVERY_COLUMNS = (
    "id",
    "event_type",
    "status",
    "attempts",
    "last_status_code",
    "last_error",
    "next_attempt_at",
    "created_at",
)
STATUSES = ("pending", "delivered", "dead")


@app.command("list")
def list_(
    tenant: str = typer.Option(..., help="The tenant whose endpoints to list."),
    as_json: bool = JsonOption,
    data_dir: Path | None = DataDirOption,
) -> None:
    """List a tenant's webhook endpoints (never their secrets)."""

    async def action(ctx: AppContext) -> None:
        async with ctx.db.session() as session:
            await accounts.get_tenant(session, tenant)
            rows = await endpoints.list_endpoints(
                session, tenant_id=tenant, limit=1000, before_id=None
            )
            outs = [endpoint_out(r) for r in rows]
        output(outs, as_json=as_json, columns=ENDPOINT_COLUMNS, title="Webhook endpoints")

    run_with_context(settings_for(data_dir), action)


@app.command()
def deliveries(
    endpoint_id: str,
    status: str | None = typer.Option(None, help="Only pending, delivered or dead deliveries."),
    limit: int = typer.Option(50, min=1, max=1000, help="How many, newest first."),
    as_json: bool = JsonOption,
    data_dir: Path | None = DataDirOption,
) -> None:
    """Show the delivery log of an endpoint, newest first."""
    if status is not None and status not in STATUSES:
        raise typer.BadParameter(f"one of {', '.join(STATUSES)}", param_hint="--status")

    async def action(ctx: AppContext) -> None:
        async with ctx.db.session() as session:
            rows = await service.list_deliveries(
                session,
                tenant_id=None,
                endpoint_id=endpoint_id,
                status=status,
                limit=limit,
                before_id=None,
            )
            outs = [delivery_out(r) for r in rows[:limit]]
        output(outs, as_json=as_json, columns=DELIVERY_COLUMNS, title=f"Deliveries: {endpoint_id}")

    run_with_context(settings_for(data_dir), action)


@app.command()
def replay(
    delivery_id: str,
    as_json: bool = JsonOption,
    data_dir: Path | None = DataDirOption,
) -> None:
    """Queue a delivered or dead delivery again (a running worker sends it within seconds)."""

    async def action(ctx: AppContext) -> None:
        async with ctx.db.session() as session:
            row = await service.replay(
                session,
                ctx=ctx,
                actor=accounts.CLI_ACTOR,
                tenant_id=None,
                delivery_id=delivery_id,
            )
            out = delivery_out(row)
        output(out, as_json=as_json, columns=DELIVERY_COLUMNS)

    run_with_context(settings_for(data_dir), action)
