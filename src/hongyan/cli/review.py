"""``hongyan review ...``: the operator's review queue of signs and templates."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from hongyan.accounts.service import CLI_ACTOR
from hongyan.api.context import AppContext
from hongyan.cli.common import (
    DataDirOption,
    JsonOption,
    console,
    output,
    run_with_context,
    settings_for,
)
from hongyan.reviews import queue
from hongyan.reviews.schemas import ReviewOut, review_out

app = typer.Typer(
    help="Review signs and templates: list the queue, approve, reject.", no_args_is_help=True
)

COLUMNS = ("id", "subject_kind", "subject_id", "tenant_id", "version", "status", "decided_at")


def _subject_text(review: ReviewOut) -> str:
    snap = review.snapshot
    if review.subject_kind == "sign":
        files = ", ".join(f["filename"] for f in snap.get("files", [])) or "no files"
        return f"{snap.get('name')} ({snap.get('purpose')}, {snap.get('source')}; {files})"
    flags = " international" if snap.get("international") else ""
    return f"[{snap.get('kind')}{flags}] {snap.get('name')}: {snap.get('content')}"


def _queue_table(rows: list[ReviewOut]) -> Table:
    table = Table(title="Reviews, oldest first")
    for col in ("id", "kind", "tenant", "v", "submitted", "subject", "findings"):
        table.add_column(col)
    for r in rows:
        findings = "\n".join(f"{f.severity}: {f.code}: {f.message}" for f in r.findings) or "-"
        table.add_row(
            r.id,
            r.subject_kind,
            r.tenant_id,
            str(r.version),
            r.created_at.strftime("%Y-%m-%d %H:%M"),
            _subject_text(r),
            findings,
        )
    return table


@app.command("list")
def list_(
    kind: str | None = typer.Option(None, help="sign or template"),
    status: str = typer.Option("pending", help="pending, approved, rejected or superseded"),
    tenant: str | None = typer.Option(None, help="Only this tenant's."),
    limit: int = typer.Option(200, help="At most this many."),
    as_json: bool = JsonOption,
    data_dir: Path | None = DataDirOption,
) -> None:
    """List reviews across tenants, oldest first, with the automatic findings."""

    async def action(ctx: AppContext) -> None:
        async with ctx.db.session() as session:
            rows = await queue.queue(
                session, status=status, subject_kind=kind, tenant_id=tenant, limit=limit
            )
            outs = [review_out(r) for r in rows[:limit]]
        if as_json:
            output(outs, as_json=True, columns=COLUMNS)
        else:
            console.print(_queue_table(outs))

    run_with_context(settings_for(data_dir), action)


def _decide(
    review_id: str, approve: bool, reason: str | None, as_json: bool, data_dir: Path | None
) -> None:
    async def action(ctx: AppContext) -> None:
        async with ctx.db.session() as session:
            review = await queue.decide(
                session, actor=CLI_ACTOR, review_id=review_id, approve=approve, reason=reason
            )
            out = review_out(review)
        output(out, as_json=as_json, columns=(*COLUMNS, "reason"))

    run_with_context(settings_for(data_dir), action)


@app.command()
def approve(
    review_id: str, as_json: bool = JsonOption, data_dir: Path | None = DataDirOption
) -> None:
    """Approve a pending sign or template."""
    _decide(review_id, True, None, as_json, data_dir)


@app.command()
def reject(
    review_id: str,
    reason: str = typer.Option(..., "--reason", help="Shown to the tenant."),
    as_json: bool = JsonOption,
    data_dir: Path | None = DataDirOption,
) -> None:
    """Reject a pending sign or template with a reason the tenant sees."""
    _decide(review_id, False, reason, as_json, data_dir)
