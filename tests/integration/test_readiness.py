"""/readyz during an upgrade: a database behind this code is not ready; one ahead of it is.

A rolling upgrade runs ``hongyan db upgrade`` (the next release's migrations) while the
previous release's API processes still serve (docs/how-to/deploy.md). They must stay in the
load balancer until the new processes are up; a process newer than its database must not.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from hongyan.api.app import create_app
from hongyan.api.context import AppContext
from hongyan.config import Settings
from tests.conftest import BACKENDS
from tests.fresh_db import fresh_database


async def _ready_after_stamp(backend: str, tmp_path: Path, revision: str) -> httpx.Response:
    """GET /readyz with the database's alembic_version set to ``revision``."""
    async with fresh_database(backend, tmp_path) as db:
        async with db.engine.begin() as conn:
            await conn.execute(text("DELETE FROM alembic_version"))
            await conn.execute(
                text("INSERT INTO alembic_version (version_num) VALUES (:rev)"), {"rev": revision}
            )
        settings = Settings(data_dir=tmp_path, secret_key="readiness-test", database_url=db.url)
        app = create_app(ctx=AppContext.build(settings, db))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hongyan.test") as http:
            return await http.get("/readyz")


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_database_migrated_by_a_newer_release_keeps_this_process_ready(
    backend: str, tmp_path: Path
) -> None:
    ready = await _ready_after_stamp(backend, tmp_path, "9999_from_a_newer_release")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": "ok", "migrations": "ahead"}


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_database_behind_this_code_is_not_ready(backend: str, tmp_path: Path) -> None:
    ready = await _ready_after_stamp(backend, tmp_path, "0001")
    assert ready.status_code == 503, ready.text
    assert ready.json()["error"]["code"] == "NOT_READY"
