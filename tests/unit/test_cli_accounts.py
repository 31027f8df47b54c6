"""The CLI on the embedded SQLite database: tenants, keys, errors, db, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hongyan.cli.main import app
from tests.cli_kit import as_json, invoke, runner


def test_tenant_and_key_commands(data_dir: Path) -> None:
    tenant = as_json(data_dir, "tenant", "create", "acme", "--trusted")
    assert isinstance(tenant, dict) and tenant["trusted"] is True
    tid = tenant["id"]
    key = as_json(data_dir, "key", "create", "--tenant", tid, "--name", "ci", "--scope", "send")
    assert isinstance(key, dict) and key["secret"].startswith("hys_") and key["scopes"] == ["send"]
    listed = as_json(data_dir, "key", "list", "--tenant", tid)
    assert isinstance(listed, list) and "secret" not in listed[0]
    revoked = as_json(data_dir, "key", "revoke", key["id"], "--tenant", tid)
    assert isinstance(revoked, dict) and revoked["status"] == "revoked"
    assert as_json(data_dir, "tenant", "suspend", tid)["status"] == "suspended"  # type: ignore[index]
    assert as_json(data_dir, "tenant", "resume", tid)["status"] == "active"  # type: ignore[index]
    names = [t["name"] for t in as_json(data_dir, "tenant", "list")]  # type: ignore[union-attr]
    assert names == ["acme"]
    code, out = invoke(data_dir, "tenant", "list")
    assert code == 0 and "acme" in out  # the human table


def test_errors_are_reported_with_their_code(data_dir: Path) -> None:
    code, out = invoke(data_dir, "tenant", "show", "ten_missing")
    assert code == 1 and "TENANT_NOT_FOUND" in out
    as_json(data_dir, "tenant", "create", "dup")
    code, out = invoke(data_dir, "tenant", "create", "dup")
    assert code == 1 and "TENANT_NAME_TAKEN" in out
    code, out = invoke(data_dir, "key", "create", "--name", "x")
    assert code == 2  # neither --tenant nor --operator


def test_operator_key_and_db_commands(data_dir: Path) -> None:
    key = as_json(data_dir, "key", "create", "--operator", "--name", "ops")
    assert isinstance(key, dict) and key["role"] == "operator" and key["tenant_id"] is None
    code, out = invoke(data_dir, "db", "upgrade")
    assert code == 0 and "head" in out
    code, out = invoke(data_dir, "db", "status")
    assert code == 0


def test_errors_command() -> None:
    result = runner.invoke(app, ["errors", "--json"])
    codes = {e["code"] for e in json.loads(result.stdout)}
    assert {"AUTH_REQUIRED", "SIGNATURE_MISMATCH", "TENANT_SUSPENDED"} <= codes
    markdown = runner.invoke(app, ["errors", "--markdown"]).output
    assert markdown.startswith("# Error codes")


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_serve_and_worker_refuse_sqlite(data_dir: Path, command: str) -> None:
    code, out = invoke(data_dir, command)
    assert code == 2 and "needs PostgreSQL" in out
