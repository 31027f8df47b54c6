"""Connectors with a limited number of binds (SMPP): what the bind leases need from them.

Such a connector declares ``bind_slots(settings)``: how many binds (or bind pairs) its
settings ask for, each leased by one worker process at a time (``routing.binds``). An
instance opens only the binds it is allowed: all of them unless told otherwise before
``start()`` (one process, SQLite), or those its process holds a lease on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

from hongyan.connectors import registry


@runtime_checkable
class LeasedBinds(Protocol):
    """The part of a connector the bind leases drive."""

    # Called (no arguments) when one of its binds becomes bound or is lost, so the lease
    # holder can report it without waiting for its next heartbeat.
    bind_listener: Callable[[], None] | None

    def allow_binds(self, indices: frozenset[int]) -> None:
        """Before ``start()``: open only these binds (0-based indices)."""
        ...

    async def set_binds(self, indices: frozenset[int]) -> None:
        """While running: open the binds in ``indices`` not open yet, unbind the others."""
        ...

    def bound_binds(self) -> frozenset[int]:
        """The indices of the binds that can send now."""
        ...


def bind_slots(kind: str, settings: Mapping[str, Any]) -> int:
    """How many leased binds a connector of ``kind`` with ``settings`` has; 0: not leased."""
    counter = getattr(registry.REGISTRY.get(kind), "bind_slots", None)
    return int(counter(settings)) if callable(counter) else 0
