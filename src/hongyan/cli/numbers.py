"""``hongyan numbers``: clean a CSV list of phone numbers from the command line."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from hongyan import errors
from hongyan.numbers.clean import CleanSummary, clean_csv

app = typer.Typer(help="Phone numbers: validate and clean lists.", no_args_is_help=True)


class LangChoice(StrEnum):
    """Language of carrier names and messages."""

    en = "en"
    zh = "zh"


@app.callback()
def _group() -> None:
    """Phone numbers: validate and clean lists."""
    # A callback keeps this a command group even while it has one command, so
    # "hongyan numbers clean ..." reads the same whether mounted or invoked directly.


def _default_rejects(output: Path) -> Path:
    return output.with_name(f"{output.stem}.rejects{output.suffix or '.csv'}")


def _summary_table(summary: CleanSummary, output: Path, rejects: Path) -> Table:
    table = Table(title="Number cleaning")
    table.add_column("outcome")
    table.add_column("rows", justify="right")
    table.add_row("read", f"{summary.rows:,}")
    table.add_row(f"written to {output}", f"{summary.written:,}")
    table.add_row(f"rejected to {rejects}", f"{summary.rejected:,}")
    for reason, count in sorted(summary.reasons.items(), key=lambda item: -item[1]):
        table.add_row(f"  {reason}", f"{count:,}")
    return table


def _run_with_progress(
    input_path: Path, output: Path, rejects: Path, *, column: str, region: str, lang: LangChoice
) -> CleanSummary:
    # The bar follows the byte position in the input, so the file is read once, not counted
    # first; it goes to stderr so --json output on stdout stays parseable.
    columns = (
        TextColumn("cleaning"),
        BarColumn(),
        TaskProgressColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("clean", total=input_path.stat().st_size)
        return clean_csv(
            input_path,
            output,
            rejects,
            column=column,
            region=region,
            lang=lang.value,
            progress=lambda done: bar.update(task, completed=done),
        )


@app.command()
def clean(
    input_path: Annotated[
        Path, typer.Argument(metavar="INPUT", exists=True, dir_okay=False, readable=True)
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Cleaned CSV to write.")],
    column: Annotated[str, typer.Option(help="Header of the phone number column.")] = "phone",
    region: Annotated[str, typer.Option(help="Region for numbers without '+'.")] = "CN",
    rejects: Annotated[
        Path | None, typer.Option(help="Rejected rows (default: OUTPUT.rejects.csv).")
    ] = None,
    lang: Annotated[
        LangChoice, typer.Option(help="Language of carrier names and messages.")
    ] = LangChoice.en,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Write valid numbers in E.164 to OUTPUT, deduplicated; refused rows to the rejects file."""
    rejects_path = rejects or _default_rejects(output)
    try:
        summary = _run_with_progress(
            input_path, output, rejects_path, column=column, region=region, lang=lang
        )
    except errors.HongyanError as exc:
        # Text, not markup: messages quote user input such as column names with brackets.
        err = Console(stderr=True, soft_wrap=True)
        err.print(Text.assemble((exc.code, "bold red"), ": ", exc.message(lang.value)))
        err.print(Text(exc.spec.action(lang.value)))
        raise typer.Exit(2) from exc
    if as_json:
        typer.echo(json.dumps(summary.as_dict(), ensure_ascii=False))
    else:
        Console().print(_summary_table(summary, output, rejects_path))
