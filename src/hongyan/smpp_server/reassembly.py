"""Concatenated submits held per bind until every part is there.

Parts of one message share (source_addr, destination_addr, reference, total); they are kept
in memory, unanswered, until the last one arrives, then handed on together so the whole
message enters the pipeline once and every part is answered alike (the same message id, or
the same refusal). A message still incomplete ``timeout_secs`` after its first part is
dropped and its parts refused (SMPP_PARTS_INCOMPLETE). Memory is bounded by the session,
which stops reading while too many requests wait for an answer. Parts are held per bind:
parts of one message sent over two binds never meet.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from hongyan import errors
from hongyan.smpp.pdu import DataSm, SubmitSm
from hongyan.smpp_server.decode import Fragment

__all__ = ["Part", "Reassembler"]

Submit = SubmitSm | DataSm


@dataclass(frozen=True, slots=True)
class Part:
    pdu: Submit
    fragment: Fragment


_Key = tuple[str, str, int, int]


@dataclass(slots=True)
class _Pending:
    total: int
    data_coding: int
    timer: asyncio.TimerHandle | None = None
    parts: dict[int, Part] = field(default_factory=dict)


class Reassembler:
    """Collects parts; ``add`` returns the parts of a message once it is complete."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        *,
        timeout_secs: float,
        on_expired: Callable[[list[Part]], None],
    ) -> None:
        self._loop = loop
        self.timeout_secs = timeout_secs
        self._on_expired = on_expired
        self._pending: dict[_Key, _Pending] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, part: Part) -> list[Part] | None:
        """Hold a part; the message's parts in order once all are there, else None.

        Raises SMPP_PARTS_INVALID for a part that contradicts the others (another coding, a
        sequence number already held); the parts held so far stay held.
        """
        concat = part.fragment.concat
        if concat is None:
            return [part]
        key = (part.pdu.source_addr, part.pdu.destination_addr, concat.ref, concat.total)
        pending = self._pending.get(key)
        if pending is None:
            pending = _Pending(total=concat.total, data_coding=part.fragment.data_coding)
            pending.timer = self._loop.call_later(self.timeout_secs, self._expire, key)
            self._pending[key] = pending
        if part.fragment.data_coding != pending.data_coding:
            raise errors.SMPP_PARTS_INVALID(reason="parts of one message in different codings")
        if concat.seq in pending.parts:
            raise errors.SMPP_PARTS_INVALID(reason=f"part {concat.seq} came twice")
        pending.parts[concat.seq] = part
        if len(pending.parts) < pending.total:
            return None
        del self._pending[key]
        if pending.timer is not None:
            pending.timer.cancel()
        return [pending.parts[seq] for seq in range(1, pending.total + 1)]

    def close(self) -> None:
        """Forget everything held (the bind is gone: nothing can be answered any more)."""
        for pending in self._pending.values():
            if pending.timer is not None:
                pending.timer.cancel()
        self._pending.clear()

    def _expire(self, key: _Key) -> None:
        pending = self._pending.pop(key, None)
        if pending is not None:
            self._on_expired(list(pending.parts.values()))
