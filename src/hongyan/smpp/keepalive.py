"""The enquire_link keepalive of one link: probe after silence, give up when nothing answers.

Only what the peer sends proves it alive, so silence is measured from the last byte
received. After ``idle_secs`` of it a probe (enquire_link) goes out; if neither its answer
nor anything else arrives within ``timeout_secs`` the link is declared dead. One timer,
re-aimed as it fires: no work per PDU beyond noting the time of each read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

__all__ = ["Keepalive"]


class Keepalive:
    """Probe a quiet link and report it dead when the probe goes unanswered."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        *,
        idle_secs: float,
        timeout_secs: float,
        probe: Callable[[], int],
        on_dead: Callable[[], None],
    ) -> None:
        self._loop = loop
        self.idle_secs = idle_secs
        self.timeout_secs = timeout_secs
        self._probe = probe  # sends an enquire_link, returns its sequence_number
        self._on_dead = on_dead
        self.last_heard = loop.time()
        self._probe_out: tuple[int, float] | None = None  # (sequence_number, sent at)
        self._timer: asyncio.TimerHandle | None = None

    def start(self) -> None:
        """Begin watching (at connection time)."""
        self.last_heard = self._loop.time()
        self._aim(self.idle_secs)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def answered(self, seq: int) -> bool:
        """Note a response; True when it answers our probe (and so needs no other handling)."""
        if self._probe_out is not None and self._probe_out[0] == seq:
            self._probe_out = None
            return True
        return False

    def _aim(self, delay_secs: float) -> None:
        self._timer = self._loop.call_later(max(delay_secs, 0.0), self._fire)

    def _fire(self) -> None:
        self._timer = None
        now = self._loop.time()
        if self._probe_out is not None:
            sent_at = self._probe_out[1]
            if self.last_heard > sent_at:
                self._probe_out = None  # the peer is talking; the probe's answer is just late
            elif now >= sent_at + self.timeout_secs:
                self._on_dead()
                return
            else:
                self._aim(sent_at + self.timeout_secs - now)
                return
        idle = now - self.last_heard
        if idle < self.idle_secs:
            self._aim(self.idle_secs - idle)
            return
        self._probe_out = (self._probe(), now)
        self._aim(self.timeout_secs)
