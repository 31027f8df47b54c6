"""The local file store and file type sniffing, on a real temporary directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from hongyan.config import Settings
from hongyan.kit.storage import LocalStorage, sniff_type, storage_for


def leftovers(root: Path) -> list[Path]:
    return list(root.rglob("*.part"))


async def test_put_get_replace_delete(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)
    await store.put("signs/ten_a/fil_b", b"one")
    assert (tmp_path / "signs" / "ten_a" / "fil_b").read_bytes() == b"one"
    await store.put("signs/ten_a/fil_b", b"two")
    assert await store.get("signs/ten_a/fil_b") == b"two"
    assert not leftovers(tmp_path)
    await store.delete("signs/ten_a/fil_b")
    await store.delete("signs/ten_a/fil_b")  # missing is fine
    with pytest.raises(FileNotFoundError):
        await store.get("signs/ten_a/fil_b")


@pytest.mark.parametrize("key", ["../x", "a/../../x", "/etc/passwd", "a//b", "", ".hidden", "a b"])
async def test_unsafe_keys_are_refused(tmp_path: Path, key: str) -> None:
    with pytest.raises(ValueError, match="unsafe"):
        await LocalStorage(tmp_path).put(key, b"x")


def test_default_store_is_under_the_data_dir(tmp_path: Path) -> None:
    store = storage_for(Settings(data_dir=tmp_path))
    assert isinstance(store, LocalStorage) and store.root == tmp_path / "files"


@pytest.mark.parametrize(
    ("data", "media_type"),
    [
        (b"%PDF-1.7\n...", "application/pdf"),
        (b"\x89PNG\r\n\x1a\n....", "image/png"),
        (b"\xff\xd8\xff\xe1....", "image/jpeg"),
        (b"GIF89a....", None),
        (b"<html>", None),
        (b"", None),
    ],
)
def test_sniff_type(data: bytes, media_type: str | None) -> None:
    assert sniff_type(data) == media_type
