"""``hongyan words ...``: the sensitive-word lists (global, or a tenant's with --tenant)."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from hongyan.accounts import service as accounts
from hongyan.api.context import AppContext
from hongyan.cli.common import (
    DataDirOption,
    JsonOption,
    err_console,
    output,
    run_with_context,
    settings_for,
)
from hongyan.compliance import content, service
from hongyan.compliance.api import word_out
from hongyan.compliance.schemas import ContentCheck, ImportFormat, WordCreate, WordOut

app = typer.Typer(
    help="Sensitive words: the global list, or a tenant's own list with --tenant.",
    no_args_is_help=True,
)

COLUMNS = ("id", "word", "category", "action", "source", "created_at")
TenantOption = Annotated[
    str | None, typer.Option("--tenant", help="A tenant's own list instead of the global one.")
]
CategoryOption = Annotated[
    str,
    typer.Option(help="fraud, gambling, adult, political, drugs, spam, custom, or your own."),
]


class ActionChoice(StrEnum):
    """What a listed word does to a message."""

    block = "block"  # the message is refused
    review = "review"  # the message waits for an operator


ActionOption = Annotated[ActionChoice, typer.Option(help="block (refuse) or review.")]


async def _owner(session: AsyncSession, tenant: str | None) -> str | None:
    """The tenant whose list is meant, checked to exist; None for the global list."""
    if tenant is not None:
        await accounts.get_tenant(session, tenant)
    return tenant


@app.command("list")
def list_(
    tenant: TenantOption = None,
    category: Annotated[str | None, typer.Option(help="Only this category.")] = None,
    action: Annotated[ActionChoice | None, typer.Option(help="Only block or review.")] = None,
    search: Annotated[str | None, typer.Option(help="Words containing this.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 1000,
    as_json: bool = JsonOption,
    data_dir: Path | None = DataDirOption,
) -> None:
    """List the words of a list, newest first."""

    async def action_(ctx: AppContext) -> list[WordOut]:
        async with ctx.db.session() as session:
            rows = await service.list_words(
                session,
                tenant_id=await _owner(session, tenant),
                limit=limit,
                before_id=None,
                category=category,
                action=action.value if action else None,
                q=search,
            )
            return [word_out(r) for r in rows[:limit]]

    rows = run_with_context(settings_for(data_dir), action_)
    title = f"Sensitive words of {tenant}" if tenant else "Global sensitive words"
    output(rows, as_json=as_json, columns=COLUMNS, title=title)


@app.command()
def add(
    word: str,
    category: CategoryOption = "custom",
    action: ActionOption = ActionChoice.block,
    tenant: TenantOption = None,
    as_json: bool = JsonOption,
    data_dir: Path | None = DataDirOption,
) -> None:
    """Add one word."""

    async def action_(ctx: AppContext) -> WordOut:
        async with ctx.db.session() as session:
            # Checked by the service (WORD_INVALID, CATEGORY_INVALID), so built unvalidated.
            req = WordCreate.model_construct(word=word, category=category, action=action.value)
            row = await service.add_word(
                session,
                ctx=ctx,
                actor=accounts.CLI_ACTOR,
                tenant_id=await _owner(session, tenant),
                req=req,
            )
            return word_out(row)

    output(run_with_context(settings_for(data_dir), action_), as_json=as_json, columns=COLUMNS)


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    category: CategoryOption = "custom",
    action: ActionOption = ActionChoice.block,
    tenant: TenantOption = None,
    fmt: Annotated[
        str, typer.Option("--format", help="auto, text (one word per line) or csv.")
    ] = "auto",
    as_json: bool = JsonOption,
    data_dir: Path | None = DataDirOption,
) -> None:
    """Merge a word file (text or CSV) into a list: all of it, or nothing at a bad line."""
    if fmt not in ("auto", "text", "csv"):
        raise typer.BadParameter("auto, text or csv", param_hint="--format")
    text = _read_text(file)
    chosen: ImportFormat = fmt  # type: ignore[assignment]  # checked just above

    async def action_(ctx: AppContext) -> service.MergeResult:
        async with ctx.db.session() as session:
            return await service.import_words(
                session,
                ctx=ctx,
                actor=accounts.CLI_ACTOR,
                tenant_id=await _owner(session, tenant),
                content=text,
                fmt=chosen,
                category=category,
                action=action.value,
            )

    with err_console.status(f"importing {file.name}"):
        result = run_with_context(settings_for(data_dir), action_)
    _print_result(result, as_json)


@app.command("import-defaults")
def import_defaults(as_json: bool = JsonOption, data_dir: Path | None = DataDirOption) -> None:
    """Merge the shipped default lists into the global list again (removed ones come back)."""

    async def action_(ctx: AppContext) -> service.MergeResult:
        async with ctx.db.session() as session:
            return await service.import_defaults(session, ctx=ctx, actor=accounts.CLI_ACTOR)

    _print_result(run_with_context(settings_for(data_dir), action_), as_json)


def _read_text(file: Path) -> str:
    data = file.read_bytes()
    # Excel and Windows editors in China save GBK; GB18030 reads it (and is a superset).
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise typer.BadParameter("the file is neither UTF-8 nor GB18030", param_hint="FILE")


def _print_result(result: service.MergeResult, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(result.as_dict()))
    else:
        typer.echo(f"added {result.added}, updated {result.updated}, unchanged {result.unchanged}")


@app.command()
def export(
    tenant: TenantOption = None,
    out: Annotated[
        Path | None, typer.Option("--output", "-o", help="CSV file to write (default: stdout).")
    ] = None,
    data_dir: Path | None = DataDirOption,
) -> None:
    """Write a list as CSV (word,category,action), the format 'import' reads back."""

    async def action_(ctx: AppContext) -> str:
        async with ctx.db.session() as session:
            return await service.export_csv(session, tenant_id=await _owner(session, tenant))

    csv_text = run_with_context(settings_for(data_dir), action_)
    if out is None:
        typer.echo(csv_text, nl=False)
        return
    out.write_text(csv_text, encoding="utf-8")
    err_console.print(f"{csv_text.count(chr(10)) - 1} words written to {out}")


@app.command()
def remove(
    words: Annotated[list[str] | None, typer.Argument(help="Words to remove.")] = None,
    category: Annotated[str | None, typer.Option(help="Only (or all) of this category.")] = None,
    defaults: Annotated[bool, typer.Option(help="Only (or all) the shipped defaults.")] = False,
    tenant: TenantOption = None,
    data_dir: Path | None = DataDirOption,
) -> None:
    """Remove words: those named, narrowed (or chosen) by --category and --defaults."""
    if not words and category is None and not defaults:
        raise typer.BadParameter("name words, or give --category or --defaults")

    async def action_(ctx: AppContext) -> int:
        async with ctx.db.session() as session:
            return await service.remove_words(
                session,
                ctx=ctx,
                actor=accounts.CLI_ACTOR,
                tenant_id=await _owner(session, tenant),
                words=words,
                category=category,
                defaults_only=defaults,
            )

    typer.echo(f"removed {run_with_context(settings_for(data_dir), action_)}")


@app.command()
def check(
    text: str,
    tenant: Annotated[
        str | None, typer.Option("--tenant", help="Also apply this tenant's list.")
    ] = None,
    sign: Annotated[str | None, typer.Option(help="Sign name shown as 【sign】.")] = None,
    data_dir: Path | None = DataDirOption,
) -> None:
    """Check a text as POST /v1/content/check does and print the result as JSON."""

    async def action_(ctx: AppContext) -> str:
        async with ctx.db.session() as session:
            req = ContentCheck(text=text, sign=sign)
            result = await content.check_content(
                session, ctx=ctx, tenant_id=await _owner(session, tenant), req=req
            )
            return result.model_dump_json(indent=2)

    typer.echo(run_with_context(settings_for(data_dir), action_))
