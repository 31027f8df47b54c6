"""Running the ``hongyan`` CLI in tests against an embedded SQLite data directory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hongyan.cli.main import app

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh data directory; the test environment's database URL must not leak in."""
    monkeypatch.delenv("HONGYAN_DATABASE_URL", raising=False)
    return tmp_path


def invoke(data_dir: Path, *args: str) -> tuple[int, str]:
    """Exit code and all output (stdout and stderr) of one command."""
    result = runner.invoke(app, [*args, "--data-dir", str(data_dir)])
    return result.exit_code, result.output


def as_json(data_dir: Path, *args: str) -> Any:
    """Run with --json and parse stdout alone (logs go to stderr)."""
    result = runner.invoke(app, [*args, "--json", "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)
