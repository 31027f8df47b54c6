"""``hongyan webhook list|deliveries|replay`` on the embedded SQLite database."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hongyan.accounts import service as accounts
from hongyan.api.context import AppContext
from hongyan.cli.main import app
from hongyan.config import Settings
from hongyan.webhooks import endpoints, service
from hongyan.webhooks.schemas import EndpointCreate, EndpointUpdate

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("HONGYAN_DATABASE_URL", raising=False)
    return tmp_path


def as_json(data_dir: Path, *args: str) -> object:
    result = runner.invoke(app, [*args, "--json", "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def seed(data_dir: Path, tenant_id: str) -> str:
    """An endpoint with one dead delivery (it was disabled while the event waited)."""

    async def main() -> str:
        ctx = AppContext.build(Settings(data_dir=data_dir))
        try:
            async with ctx.db.session() as session:
                created = await endpoints.create_endpoint(
                    session,
                    ctx=ctx,
                    actor=accounts.CLI_ACTOR,
                    tenant_id=tenant_id,
                    req=EndpointCreate(url="https://example.com/hook", events=["*"]),
                )
            async with ctx.db.session() as session:
                await service.enqueue(
                    session, ctx=ctx, tenant_id=tenant_id, event="message.sent", payload={}
                )
                await endpoints.update_endpoint(
                    session,
                    ctx=ctx,
                    actor=accounts.CLI_ACTOR,
                    tenant_id=tenant_id,
                    endpoint_id=created.endpoint.id,
                    req=EndpointUpdate(enabled=False),
                )
            return created.endpoint.id
        finally:
            await ctx.db.dispose()

    return asyncio.run(main())


def test_list_deliveries_and_replay(data_dir: Path) -> None:
    tenant = as_json(data_dir, "tenant", "create", "hooked")
    assert isinstance(tenant, dict)
    endpoint_id = seed(data_dir, tenant["id"])

    listed = as_json(data_dir, "webhook", "list", "--tenant", tenant["id"])
    assert isinstance(listed, list) and [e["id"] for e in listed] == [endpoint_id]
    assert "secret" not in listed[0] and listed[0]["enabled"] is False

    log = as_json(data_dir, "webhook", "deliveries", endpoint_id, "--status", "dead")
    assert isinstance(log, list) and len(log) == 1 and log[0]["last_error"] == "endpoint disabled"
    replayed = as_json(data_dir, "webhook", "replay", log[0]["id"])
    assert isinstance(replayed, dict) and replayed["status"] == "pending"

    again = runner.invoke(app, ["webhook", "replay", log[0]["id"], "--data-dir", str(data_dir)])
    assert again.exit_code == 1 and "DELIVERY_NOT_REPLAYABLE" in again.output
    missing = runner.invoke(app, ["webhook", "deliveries", "whk_nope", "--data-dir", str(data_dir)])
    assert missing.exit_code == 1 and "WEBHOOK_NOT_FOUND" in missing.output
    table = runner.invoke(
        app, ["webhook", "list", "--tenant", tenant["id"], "--data-dir", str(data_dir)]
    )
    assert table.exit_code == 0 and "Webhook endpoints" in table.output
