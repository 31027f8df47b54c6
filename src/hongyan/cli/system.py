"""``hongyan db ...``, ``hongyan errors`` and ``hongyan docs``."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import typer
from rich.table import Table

from hongyan import docs_gen, errors
from hongyan.cli.common import DataDirOption, JsonOption, console, settings_for
from hongyan.db import Database

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)


@db_app.command()
def upgrade(data_dir: Path | None = DataDirOption) -> None:
    """Apply every migration not yet applied (safe to run again)."""
    settings = settings_for(data_dir)

    async def main() -> tuple[set[str], set[str]]:
        db = Database.from_settings(settings)
        try:
            await db.upgrade()
            return await db.migration_state()
        finally:
            await db.dispose()

    applied, _ = asyncio.run(main())
    console.print(f"Database at head: {', '.join(sorted(applied))}")


@db_app.command()
def status(data_dir: Path | None = DataDirOption) -> None:
    """Say whether the schema is at head."""
    settings = settings_for(data_dir)

    async def main() -> tuple[set[str], set[str]]:
        db = Database.from_settings(settings)
        try:
            return await db.migration_state()
        finally:
            await db.dispose()

    applied, heads = asyncio.run(main())
    console.print(f"applied: {sorted(applied) or 'nothing'}; head: {sorted(heads)}")
    if applied != heads:
        raise typer.Exit(1)


def errors_command(
    markdown: bool = typer.Option(False, "--markdown", help="Print docs/reference/errors.md."),
    as_json: bool = JsonOption,
) -> None:
    """List every error code with its status, messages and what to do."""
    if markdown:
        sys.stdout.write(docs_gen.errors_markdown())
        return
    if as_json:
        data = [spec.as_dict() for spec in errors.CATALOG.values()]
        sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
        return
    table = Table(title="Error catalog")
    for col in ("code", "HTTP", "message", "what to do"):
        table.add_column(col)
    for spec in errors.CATALOG.values():
        table.add_row(spec.code, str(spec.status), spec.message_en, spec.action_en)
    console.print(table)


def docs_command(
    root: Path = typer.Option(Path("."), help="The repository root."),
) -> None:
    """Regenerate docs/reference/errors.md and docs/reference/openapi.json."""
    for path in docs_gen.write_all(root):
        console.print(f"wrote {path}")
