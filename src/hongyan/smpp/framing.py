"""Cutting a TCP byte stream into SMPP PDUs by their command_length.

Reads split and join PDUs arbitrarily: a read may hold half a header, or forty PDUs and the
start of another. ``FrameBuffer`` keeps the bytes not yet consumed and hands out whole
frames. A command_length below 16 (the header alone) or above the session's maximum cannot
be a PDU: the stream has lost its framing and nothing after it can be trusted.
"""

from __future__ import annotations

import struct
from typing import Final

from hongyan.smpp.constants import HEADER_LEN
from hongyan.smpp.errors import CommandLengthError

__all__ = ["FrameBuffer"]

_LENGTH: Final = struct.Struct(">I")
_SEQUENCE_AT: Final = 12  # offset of sequence_number in the header


class FrameBuffer:
    """Bytes received and not yet framed."""

    def __init__(self, max_command_length: int) -> None:
        self.max_command_length = max_command_length
        self._data = bytearray()
        self._pos = 0

    def __len__(self) -> int:
        return len(self._data) - self._pos

    def feed(self, data: bytes) -> None:
        """Append what a read returned."""
        if self._pos:
            del self._data[: self._pos]  # drop consumed frames once per read, not per frame
            self._pos = 0
        self._data += data

    def next_frame(self) -> bytes | None:
        """The next whole PDU, or None until more bytes come.

        Raises:
            CommandLengthError: the next command_length cannot be a PDU's (framing lost);
                carries the header's command_id and sequence_number when they were read.
        """
        data, pos = self._data, self._pos
        available = len(data) - pos
        if available < HEADER_LEN:
            return None
        length: int = _LENGTH.unpack_from(data, pos)[0]
        if not HEADER_LEN <= length <= self.max_command_length:
            raise CommandLengthError(
                f"command_length {length} (allowed {HEADER_LEN}..{self.max_command_length})",
                command_id=_LENGTH.unpack_from(data, pos + 4)[0],
                sequence_number=_LENGTH.unpack_from(data, pos + _SEQUENCE_AT)[0],
            )
        if available < length:
            return None
        self._pos = pos + length
        return bytes(data[pos : pos + length])
