"""Health, readiness, metrics and the error catalog."""

from __future__ import annotations

import html
from typing import Any

from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from fastapi import APIRouter, Response
from fastapi.responses import HTMLResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from sqlalchemy import text

from hongyan import errors
from hongyan.api.deps import Ctx
from hongyan.db import alembic_config

router = APIRouter()


class Health(BaseModel):
    status: str
    checks: dict[str, str] = {}


@router.get("/healthz", tags=["system"], summary="The process is alive")
async def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    tags=["system"],
    summary="The database answers and migrations are at head",
    responses={503: {"description": "Not ready"}},
)
async def readyz(ctx: Ctx) -> Health:
    try:
        async with ctx.db.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        applied, heads = await ctx.db.migration_state()
    except Exception as exc:  # any failure to reach the database means not ready
        raise errors.NOT_READY(reason=f"database unreachable ({type(exc).__name__})") from exc
    if applied == heads:
        return Health(status="ok", checks={"database": "ok", "migrations": "head"})
    if _newer_than_this_code(applied):
        # A rolling upgrade: the next release migrated the database (additively, see
        # docs/how-to/deploy.md) while this process still serves; taking it out of the load
        # balancer now would leave no process to serve until the new ones start.
        return Health(status="ok", checks={"database": "ok", "migrations": "ahead"})
    raise errors.NOT_READY(reason="migrations are not at head; run 'hongyan db upgrade'")


def _newer_than_this_code(applied: set[str]) -> bool:
    """Whether every revision the database is at is unknown to this code's migrations."""
    scripts = ScriptDirectory.from_config(alembic_config())
    for revision in applied:
        try:
            scripts.get_revision(revision)
        except CommandError:
            continue
        return False
    return bool(applied)


@router.get("/metrics", tags=["system"], summary="Prometheus metrics", response_class=Response)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


class CatalogEntry(BaseModel):
    code: str
    http_status: int
    domain: str
    message: dict[str, str]
    action: dict[str, str]


class Catalog(BaseModel):
    data: list[CatalogEntry]


@router.get("/docs/errors", include_in_schema=False, response_class=HTMLResponse)
async def errors_page() -> HTMLResponse:
    """The catalog as a page, so the ``doc`` link of every error body leads somewhere."""
    rows = "".join(
        f'<tr id="{s.code}"><td><code>{s.code}</code></td><td>{s.status}</td>'
        f"<td>{html.escape(s.message_en)}<br>{html.escape(s.message_zh)}</td>"
        f"<td>{html.escape(s.action_en)}<br>{html.escape(s.action_zh)}</td></tr>"
        for s in errors.CATALOG.values()
    )
    return HTMLResponse(
        "<!doctype html><meta charset=utf-8><title>Hongyan error codes</title>"
        "<h1>Hongyan error codes</h1><table border=1 cellpadding=4>"
        f"<tr><th>code</th><th>HTTP</th><th>message</th><th>what to do</th></tr>{rows}</table>"
    )


@router.get("/v1/errors", tags=["errors"], summary="Every error code Hongyan can answer")
async def list_errors() -> Catalog:
    entries: list[dict[str, Any]] = [spec.as_dict() for spec in errors.CATALOG.values()]
    return Catalog.model_validate({"data": entries})
