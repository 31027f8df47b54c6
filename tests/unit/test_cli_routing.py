"""``hongyan connector`` and ``hongyan route`` on the embedded SQLite database."""

from __future__ import annotations

import json
from pathlib import Path

from hongyan.cli.main import app
from tests.cli_kit import as_json, invoke, runner


def test_connector_commands(data_dir: Path) -> None:
    created = as_json(
        data_dir, "connector", "add", "demo", "--set", "latency_ms=20", "--set", "rules=[]"
    )
    assert created["kind"] == "simulator" and created["settings"]["latency_ms"] == 20
    assert created["settings"]["rules"] == [] and created["simulated"] is True
    changed = as_json(data_dir, "connector", "set", "demo", "--set", "down=true", "--disable")
    assert changed["settings"]["down"] is True and changed["enabled"] is False
    assert changed["settings"]["latency_ms"] == 20  # untouched keys stay
    shown = as_json(data_dir, "connector", "show", created["id"])
    assert shown["health"]["breaker"] == "closed" and shown["name"] == "demo"
    assert [c["name"] for c in as_json(data_dir, "connector", "list")] == ["demo"]
    kinds = runner.invoke(app, ["connector", "kinds", "--json"])  # no database needed
    assert "simulator" in [k["kind"] for k in json.loads(kinds.stdout)]

    code, out = invoke(data_dir, "connector", "add", "bad", "--set", "latency_ms=-5")
    assert code == 1 and "CONNECTOR_SETTINGS_INVALID" in out
    code, out = invoke(data_dir, "connector", "add", "demo")
    assert code == 1 and "CONNECTOR_NAME_TAKEN" in out
    code, out = invoke(data_dir, "connector", "add", "x", "--kind", "pigeon")
    assert code == 1 and "CONNECTOR_KIND_UNKNOWN" in out
    code, out = invoke(data_dir, "connector", "add", "has space")
    assert code == 2
    code, out = invoke(data_dir, "connector", "show", "nothing")
    assert code == 1 and "CONNECTOR_NOT_FOUND" in out


def test_route_commands(data_dir: Path) -> None:
    as_json(data_dir, "connector", "add", "sim-a")
    route = as_json(
        data_dir,
        "route",
        "add",
        "cn-139",
        "--connector",
        "sim-a",
        "--priority",
        "5",
        "--country",
        "cn",
        "--prefix",
        "+86139",
        "--kind",
        "verification",
    )
    assert route["countries"] == ["CN"] and route["kinds"] == ["verification"]
    assert [r["name"] for r in as_json(data_dir, "route", "list", "--connector", "sim-a")] == [
        "cn-139"
    ]
    found = as_json(data_dir, "route", "resolve", "13912345678", "--kind", "verification")
    assert [c["name"] for c in found] == ["sim-a"]
    code, out = invoke(data_dir, "route", "resolve", "13812345678")
    assert code == 1 and "NO_ROUTE" in out
    code, out = invoke(data_dir, "connector", "remove", "sim-a")
    assert code == 1 and "CONNECTOR_IN_USE" in out and "cn-139" in out
    code, out = invoke(data_dir, "route", "remove", "cn-139")
    assert code == 0 and as_json(data_dir, "route", "list") == []
    code, out = invoke(data_dir, "connector", "remove", "sim-a")
    assert code == 0 and as_json(data_dir, "connector", "list") == []
