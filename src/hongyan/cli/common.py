"""What every CLI command shares: settings, the database, output as tables or JSON."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from hongyan import errors
from hongyan.api.context import AppContext
from hongyan.config import Settings
from hongyan.kit import logging as hy_logging

T = TypeVar("T")

console = Console()
err_console = Console(stderr=True)

JsonOption = typer.Option(False, "--json", help="Print JSON for scripts instead of a table.")
DataDirOption = typer.Option(
    None, "--data-dir", envvar="HONGYAN_DATA_DIR", help="Where the embedded database lives."
)


def settings_for(data_dir: Path | None = None, **overrides: Any) -> Settings:
    values = {k: v for k, v in overrides.items() if v is not None}
    if data_dir is not None:
        values["data_dir"] = data_dir.resolve()
    settings = Settings(**values)
    hy_logging.configure(
        fmt=settings.log_format, level=settings.log_level, mask_numbers=settings.log_mask_numbers
    )
    return settings


def run_with_context(settings: Settings, action: Callable[[AppContext], Awaitable[T]]) -> T:
    """Run one async action with a context whose database is migrated; errors exit cleanly."""

    async def main() -> T:
        ctx = AppContext.build(settings)
        try:
            await ensure_schema(ctx)
            return await action(ctx)
        finally:
            await ctx.db.dispose()

    try:
        return asyncio.run(main())
    except errors.HongyanError as exc:
        err_console.print(f"[red]{exc.code}[/red]: {exc.message()}\n{exc.action('en')}")
        raise typer.Exit(1) from None


async def ensure_schema(ctx: AppContext) -> None:
    """SQLite (one process) migrates itself; PostgreSQL must be upgraded on purpose."""
    if ctx.db.is_sqlite:
        await ctx.db.upgrade()
        return
    applied, heads = await ctx.db.migration_state()
    if applied != heads:
        err_console.print(
            "[red]The database schema is not at head.[/red] Run 'hongyan db upgrade' first."
        )
        raise typer.Exit(2)


def output(
    rows: Sequence[BaseModel] | BaseModel,
    *,
    as_json: bool,
    columns: Iterable[str],
    title: str | None = None,
) -> None:
    """Print models as a rich table, or as JSON when asked."""
    items = [rows] if isinstance(rows, BaseModel) else list(rows)
    if as_json:
        data: Any = [r.model_dump(mode="json") for r in items]
        if isinstance(rows, BaseModel):
            data = data[0]
        sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
        return
    cols = list(columns)
    table = Table(title=title)
    for col in cols:
        table.add_column(col)
    for item in items:
        dumped = item.model_dump(mode="json")
        table.add_row(*(_cell(dumped.get(col)) for col in cols))
    console.print(table)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)
