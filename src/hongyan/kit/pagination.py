"""Cursor pagination over time-ordered ids, newest first."""

from __future__ import annotations

import base64
import binascii
from typing import Generic, TypeVar

from pydantic import BaseModel, Field

from hongyan import errors

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class Page(BaseModel, Generic[T]):
    """One page of a list; pass next_cursor back as ?cursor= for the next one."""

    data: list[T]
    next_cursor: str | None = Field(description="Opaque; absent on the last page.")


def encode_cursor(last_id: str) -> str:
    return base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> str | None:
    """The id after which the next page starts; INVALID_CURSOR for anything we did not issue."""
    if not cursor:
        return None
    try:
        value = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise errors.INVALID_CURSOR(field="cursor") from None
    if "_" not in value or len(value) > 64:
        raise errors.INVALID_CURSOR(field="cursor")
    return value


def page_of(rows: list[T], limit: int, id_of: str = "id") -> tuple[list[T], str | None]:
    """Split a fetch of limit+1 rows into the page and the cursor of the next one."""
    if len(rows) > limit:
        rows = rows[:limit]
        return rows, encode_cursor(getattr(rows[-1], id_of))
    return rows, None
