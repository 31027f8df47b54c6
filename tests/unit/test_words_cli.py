"""``hongyan words``: lists from the shell, on an embedded database in a temporary data dir."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from hongyan.cli.main import app


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def hongyan(data_dir: Path, *args: str) -> Result:
    return CliRunner().invoke(app, [*args, "--data-dir", str(data_dir)])


def words_json(data_dir: Path, *args: str) -> list[dict[str, object]]:
    result = hongyan(data_dir, "words", "list", "--json", *args)
    assert result.exit_code == 0, result.output
    rows: list[dict[str, object]] = json.loads(result.stdout)
    return rows


def new_tenant(data_dir: Path, name: str) -> str:
    result = hongyan(data_dir, "tenant", "create", name, "--json")
    assert result.exit_code == 0, result.output
    tenant_id: str = json.loads(result.stdout)["id"]
    return tenant_id


def test_the_global_list_starts_with_the_shipped_defaults(data_dir: Path) -> None:
    rows = words_json(data_dir, "--category", "gambling")
    assert "赌博" in {r["word"] for r in rows}
    assert {r["source"] for r in rows} == {"default"}


def test_import_export_round_trip(data_dir: Path, tmp_path: Path) -> None:
    source = tmp_path / "mine.txt"
    source.write_text("# my words\n刷单兼职\n高额返利\treview\n", encoding="utf-8")
    result = hongyan(data_dir, "words", "import", str(source), "--category", "fraud", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"added": 2, "updated": 0, "unchanged": 0}

    out = tmp_path / "global.csv"
    assert hongyan(data_dir, "words", "export", "-o", str(out)).exit_code == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text("utf-8"))))
    assert {"word": "高额返利", "category": "fraud", "action": "review"} in rows

    again = hongyan(data_dir, "words", "import", str(out), "--json")
    assert json.loads(again.stdout) == {"added": 0, "updated": 0, "unchanged": len(rows)}


def test_tenant_lists_are_separate(data_dir: Path, tmp_path: Path) -> None:
    a, b = new_tenant(data_dir, "a"), new_tenant(data_dir, "b")
    added = hongyan(data_dir, "words", "add", "专属词", "--tenant", a, "--category", "custom")
    assert added.exit_code == 0, added.output
    assert [r["word"] for r in words_json(data_dir, "--tenant", a)] == ["专属词"]
    assert words_json(data_dir, "--tenant", b) == []
    assert "专属词" not in {r["word"] for r in words_json(data_dir)}
    exported = hongyan(data_dir, "words", "export", "--tenant", a)
    assert exported.stdout == "word,category,action\n专属词,custom,block\n"

    checked = hongyan(data_dir, "words", "check", "这是专属词", "--tenant", a, "--sign", "鸿雁")
    body = json.loads(checked.stdout)
    assert body["blocked"] is True and body["display_text"] == "【鸿雁】这是专属词"
    assert json.loads(hongyan(data_dir, "words", "check", "这是专属词").stdout)["hits"] == []


def test_remove_a_default_and_bring_it_back(data_dir: Path) -> None:
    assert hongyan(data_dir, "words", "remove", "赌博").stdout.strip() == "removed 1"
    assert "赌博" not in {r["word"] for r in words_json(data_dir, "--search", "赌博")}
    assert json.loads(hongyan(data_dir, "words", "check", "网络赌博").stdout)["hits"] == [
        {
            "word": "网络赌博",
            "category": "gambling",
            "action": "block",
            "start": 0,
            "end": 4,
            "matched": "网络赌博",
        }
    ]
    restored = hongyan(data_dir, "words", "import-defaults", "--json")
    assert json.loads(restored.stdout)["added"] == 1
    assert "赌博" in {r["word"] for r in words_json(data_dir, "--search", "赌博")}


def test_remove_all_defaults_of_a_category(data_dir: Path) -> None:
    hongyan(data_dir, "words", "add", "自定赌词", "--category", "gambling")
    result = hongyan(data_dir, "words", "remove", "--category", "gambling", "--defaults")
    assert result.exit_code == 0 and int(result.stdout.split()[-1]) > 10
    assert [r["word"] for r in words_json(data_dir, "--category", "gambling")] == ["自定赌词"]


def test_gbk_files_are_read(data_dir: Path, tmp_path: Path) -> None:
    source = tmp_path / "excel.txt"
    source.write_bytes("六合彩代购\n".encode("gbk"))
    assert (
        hongyan(data_dir, "words", "import", str(source), "--category", "gambling").exit_code == 0
    )
    assert [r["word"] for r in words_json(data_dir, "--search", "六合彩代购")] == ["六合彩代购"]


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("words", "add", "***"), "WORD_INVALID"),
        (("words", "add", "ok", "--category", "Not Slug"), "CATEGORY_INVALID"),
        (("words", "list", "--tenant", "ten_missing"), "TENANT_NOT_FOUND"),
    ],
)
def test_refusals_print_the_catalog_code(data_dir: Path, args: tuple[str, ...], code: str) -> None:
    result = hongyan(data_dir, *args)
    assert result.exit_code == 1 and code in result.output


def test_a_bad_file_imports_nothing(data_dir: Path, tmp_path: Path) -> None:
    source = tmp_path / "bad.csv"
    source.write_text("word,action\n好词,block\n坏词,maybe\n", encoding="utf-8")
    result = hongyan(data_dir, "words", "import", str(source))
    assert result.exit_code == 1
    assert "IMPORT_FILE_INVALID" in result.output and "line 3" in result.output
    assert words_json(data_dir, "--search", "好词") == []


def test_remove_needs_something_to_remove(data_dir: Path) -> None:
    result = hongyan(data_dir, "words", "remove")
    assert result.exit_code == 2
