"""``hongyan limits``: limits and whitelists from the shell, on an embedded database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner, Result

from hongyan.cli.limits import parse_rules
from hongyan.cli.main import app


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def hongyan(data_dir: Path, *args: str) -> Result:
    return CliRunner().invoke(app, [*args, "--data-dir", str(data_dir)])


def as_json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def tenant(data_dir: Path) -> str:
    tenant_id: str = as_json(hongyan(data_dir, "tenant", "create", "acme", "--json"))["id"]
    return tenant_id


def test_show_set_and_reset(data_dir: Path, tenant: str) -> None:
    shown = hongyan(data_dir, "limits", "show", tenant)
    assert shown.exit_code == 0, shown.output
    assert "1 per minute, 5 per hour, 10 per day (default)" in shown.stdout

    changed = as_json(
        hongyan(
            data_dir,
            "limits",
            "set",
            tenant,
            "--verification",
            "1m:2,1h:6",
            "--daily-cap",
            "500",
            "--rate",
            "10",
            "--json",
        )
    )
    assert changed["rules"]["verification"] == [
        {"window_secs": 60, "max": 2},
        {"window_secs": 3600, "max": 6},
    ]
    assert (changed["daily_cap"], changed["rate_per_sec"]) == (500, 10)

    # Options not given stay as they are.
    kept = as_json(hongyan(data_dir, "limits", "set", tenant, "--marketing", "none", "--json"))
    assert kept["customized"] == ["verification", "marketing"]
    assert kept["rules"]["marketing"] == [] and kept["daily_cap"] == 500

    off = as_json(hongyan(data_dir, "limits", "set", tenant, "--rate", "off", "--json"))
    assert off["rate_per_sec"] is None and off["daily_cap"] == 500
    back = as_json(
        hongyan(data_dir, "limits", "set", tenant, "--verification", "default", "--json")
    )
    assert back["customized"] == ["marketing"]
    reset = as_json(hongyan(data_dir, "limits", "set", tenant, "--reset", "--json"))
    assert reset["customized"] == [] and reset["daily_cap"] is None
    assert reset["revision"] == 5


def test_bad_input_changes_nothing(data_dir: Path, tenant: str) -> None:
    bad = hongyan(data_dir, "limits", "set", tenant, "--verification", "1x:2")
    assert bad.exit_code == 2 and "WINDOW:MAX" in bad.output
    dup = hongyan(data_dir, "limits", "set", tenant, "--verification", "60:1,1m:2")
    assert dup.exit_code == 1 and "FIELD_INVALID" in dup.output
    zero = hongyan(data_dir, "limits", "set", tenant, "--daily-cap", "0")
    assert zero.exit_code == 2 and "daily_cap" in zero.output
    missing = hongyan(data_dir, "limits", "show", "ten_nobody")
    assert missing.exit_code == 1 and "TENANT_NOT_FOUND" in missing.output
    assert as_json(hongyan(data_dir, "limits", "show", tenant, "--json"))["revision"] == 0


def test_whitelist_add_list_remove(data_dir: Path, tenant: str) -> None:
    added = as_json(
        hongyan(
            data_dir, "limits", "whitelist", "add", tenant, "13800138000", "--note", "QA", "--json"
        )
    )
    assert added["msisdn"] == "+8613800138000" and added["note"] == "QA"
    listed = as_json(hongyan(data_dir, "limits", "whitelist", "list", tenant, "--json"))
    assert [e["msisdn"] for e in listed] == ["+8613800138000"]
    again = hongyan(data_dir, "limits", "whitelist", "add", tenant, "+8613800138000")
    assert again.exit_code == 1 and "WHITELIST_ENTRY_EXISTS" in again.output
    removed = hongyan(data_dir, "limits", "whitelist", "remove", tenant, "+8613800138000")
    assert removed.exit_code == 0 and "removed +8613800138000" in removed.stdout
    assert as_json(hongyan(data_dir, "limits", "whitelist", "list", tenant, "--json")) == []
    gone = hongyan(data_dir, "limits", "whitelist", "remove", tenant, added["id"])
    assert gone.exit_code == 1 and "WHITELIST_ENTRY_NOT_FOUND" in gone.output


@pytest.mark.parametrize(
    ("spec", "rules"),
    [
        ("default", None),
        ("none", []),
        ("60:1", [{"window_secs": 60, "max": 1}]),
        (
            " 1m : 1 , 1h:5,1d:10",
            [
                {"window_secs": 60, "max": 1},
                {"window_secs": 3600, "max": 5},
                {"window_secs": 86400, "max": 10},
            ],
        ),
        ("30s:3", [{"window_secs": 30, "max": 3}]),
    ],
)
def test_rule_specs(spec: str, rules: list[dict[str, int]] | None) -> None:
    assert parse_rules(spec) == rules


@pytest.mark.parametrize("spec", ["", "1m", "1w:2", "-1:2", "1m:x", "1m:1;1h:5"])
def test_bad_rule_specs(spec: str) -> None:
    with pytest.raises(typer.BadParameter):
        parse_rules(spec)
