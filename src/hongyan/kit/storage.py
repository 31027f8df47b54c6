"""Where uploaded files live: a small Protocol, a local-directory store, and type sniffing.

Only the local store exists today (``<data_dir>/files``); an object store (S3, OSS) would be one
more class with the same three methods, chosen in ``storage_for``. Keys are relative, slash
separated paths chosen by the caller (``signs/<tenant>/<file id>``), never user input.
"""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path
from typing import Protocol

from hongyan.config import Settings

_KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)*")

# Magic numbers of the types people upload as qualification documents.
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
)


class Storage(Protocol):
    """A place to keep file bytes under a key."""

    async def put(self, key: str, data: bytes) -> None:
        """Store data under key, replacing what was there.

        Args: key, a relative path such as ``signs/ten_x/fil_y``; data, the bytes.
        Raises: ValueError when the key is not a safe relative path.
        """
        ...

    async def get(self, key: str) -> bytes:
        """Return the bytes under key.

        Raises: FileNotFoundError when nothing is stored under it.
        """
        ...

    async def delete(self, key: str) -> None:
        """Forget key; a missing key is not an error."""
        ...


def _check_key(key: str) -> str:
    if not _KEY.fullmatch(key) or ".." in key.split("/"):
        raise ValueError(f"unsafe storage key {key!r}")
    return key


class LocalStorage:
    """Files in a local directory; writes go through a temporary file and a rename."""

    kind = "local"

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / _check_key(key)

    def _write(self, path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part")
        tmp.write_bytes(data)
        os.replace(tmp, path)  # readers see the old file or the whole new one, never half

    async def put(self, key: str, data: bytes) -> None:
        """Store data under key."""
        await asyncio.to_thread(self._write, self._path(key), data)

    async def get(self, key: str) -> bytes:
        """Return the bytes under key."""
        return await asyncio.to_thread(self._path(key).read_bytes)

    async def delete(self, key: str) -> None:
        """Remove the file under key, if any."""
        await asyncio.to_thread(self._path(key).unlink, missing_ok=True)


def storage_for(settings: Settings) -> Storage:
    """The configured store: the local directory ``<data_dir>/files``."""
    return LocalStorage(settings.data_dir / "files")


def sniff_type(data: bytes) -> str | None:
    """The media type of data from its first bytes, or None when it is not a known type."""
    for magic, media_type in _SIGNATURES:
        if data.startswith(magic):
            return media_type
    return None
