"""The generated documents in docs/ agree with the code (regenerate with `hongyan docs`)."""

from __future__ import annotations

import json
from pathlib import Path

from hongyan import docs_gen, errors

ROOT = Path(__file__).resolve().parents[2]


def test_errors_md_is_current() -> None:
    on_disk = (ROOT / docs_gen.ERRORS_MD).read_text("utf-8")
    assert on_disk == docs_gen.errors_markdown(), "stale: run `hongyan docs`"


def test_openapi_json_is_current() -> None:
    on_disk = (ROOT / docs_gen.OPENAPI_JSON).read_text("utf-8")
    assert on_disk == docs_gen.openapi_json(), "stale: run `hongyan docs`"


def test_every_code_is_in_errors_md() -> None:
    text = docs_gen.errors_markdown()
    for code in errors.CATALOG:
        assert f'<a id="{code}"></a>`{code}`' in text


def test_catalog_entries_are_complete() -> None:
    for spec in errors.CATALOG.values():
        assert spec.code.isupper() and 400 <= spec.status < 600, spec
        assert spec.message_en and spec.message_zh and spec.action_en and spec.action_zh, spec


def test_openapi_lists_error_bodies_and_security() -> None:
    schema = json.loads(docs_gen.openapi_json())
    assert {"basic", "signed"} <= set(schema["components"]["securitySchemes"])
    assert "ErrorBody" in schema["components"]["schemas"]


def test_config_md_is_current() -> None:
    on_disk = (ROOT / docs_gen.CONFIG_MD).read_text("utf-8")
    assert on_disk == docs_gen.config_markdown(), "stale: run `hongyan docs`"


def test_every_setting_is_explained() -> None:
    from hongyan.config import Settings

    text = docs_gen.config_markdown()
    for name in Settings.model_fields:
        row = next(line for line in text.splitlines() if line.startswith(f"| `{name}` |"))
        assert not row.endswith("|  |"), f"setting {name} has no comment in config.py"
