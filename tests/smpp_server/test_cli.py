"""``hongyan smpp ...`` on the embedded SQLite database."""

from __future__ import annotations

from pathlib import Path

from tests.cli_kit import as_json, invoke


def test_credential_commands(data_dir: Path) -> None:
    tenant = as_json(data_dir, "tenant", "create", "acme")["id"]
    created = as_json(
        data_dir,
        "smpp", "credentials", "create", "--tenant", tenant, "--system-id", "acme01",
        "--source", "10690001", "--allow-ip", "10.0.0.1", "--max-binds", "2", "--mps", "5",
    )  # fmt: skip
    assert len(created["password"]) == 8
    assert created["ip_allowlist"] == ["10.0.0.1/32"] and created["max_binds"] == 2
    listed = as_json(data_dir, "smpp", "credentials", "list", "--tenant", tenant)
    assert [c["system_id"] for c in listed] == ["acme01"] and "password" not in listed[0]
    shown = as_json(data_dir, "smpp", "credentials", "show", "acme01")
    assert shown["id"] == created["id"] and shown["binds"] == 0
    assert as_json(data_dir, "smpp", "credentials", "disable", "acme01")["enabled"] is False
    assert as_json(data_dir, "smpp", "credentials", "enable", created["id"])["enabled"] is True
    changed = as_json(data_dir, "smpp", "credentials", "set", "acme01", "--mps", "20", "--no-mo")
    assert changed["messages_per_sec"] == 20 and changed["deliver_mo"] is False
    rotated = as_json(data_dir, "smpp", "credentials", "rotate", "acme01", "--password", "n3wPass")
    assert rotated["password"] == "n3wPass"
    code, out = invoke(data_dir, "smpp", "credentials", "create", "--tenant", tenant,
                       "--system-id", "acme01")  # fmt: skip
    assert code == 1 and "SMPP_SYSTEM_ID_TAKEN" in out
    code, out = invoke(data_dir, "smpp", "credentials", "delete", "acme01")
    assert code == 0 and "deleted acme01" in out
    code, out = invoke(data_dir, "smpp", "credentials", "show", "acme01")
    assert code == 1 and "SMPP_CREDENTIAL_NOT_FOUND" in out
    assert as_json(data_dir, "smpp", "connectors", "list") == []


def test_serve_needs_postgresql(data_dir: Path) -> None:
    code, out = invoke(data_dir, "smpp", "serve")
    assert code == 2 and "PostgreSQL" in out
