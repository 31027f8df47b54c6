"""What a limiter backend does: check and record a whole batch in one atomic step.

A ``Batch`` is one acquire of one tenant: the tenant's request-rate log, its day and month
counters and, per item, the log of that number (per sign or template) with the rolling windows
that apply. ``Limiter.hit`` answers one code per item and records the hits of the accepted
items, all at once, so no other process can slip in between the check and the record:

- ``OK`` (0): accepted; its hit is recorded and the day and month counters count it;
- ``j > 0``: refused by the j-th window of its check (windows in ascending order);
- ``DAY_CAP`` / ``MONTH_CAP``: refused by a cap; earlier items of the batch took the room left;
- ``RATE``: the request itself exceeded the tenant's requests per second; every item refused.

Items are taken in order, so items of one batch count against each other. The request counts
once toward the rate when it is let through, even if all its items are refused later.

Backends: ``MemoryLimiter`` (one process: the embedded default) and ``RedisLimiter`` (any number
of processes, one Lua script per batch).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple, Protocol

import structlog

if TYPE_CHECKING:
    from hongyan.api.context import AppContext

log = structlog.get_logger("hongyan.limits")

OK = 0
DAY_CAP = -1
MONTH_CAP = -2
RATE = -3

RATE_WINDOW_MS = 1_000
# The rate log is trimmed to its window on every use; the TTL only clears idle tenants' logs.
RATE_TTL_MS = 60_000
# Counters outlive their period a little, so a release just after midnight still finds the
# counter it must give back to.
DAY_TTL_MS = 2 * 86_400_000
MONTH_TTL_MS = 35 * 86_400_000

CACHE_KEY = "limiter"


@dataclass(frozen=True, slots=True)
class Window:
    """At most ``max`` hits in the last ``ms`` milliseconds."""

    ms: int
    max: int


class Check(NamedTuple):
    """One item: the log it is counted in, or None when it is exempt (whitelisted, no rule).

    A NamedTuple (immutable, like the dataclasses here) because one is made per recipient.
    """

    key: str | None
    windows: tuple[Window, ...] = ()


@dataclass(frozen=True, slots=True)
class Batch:
    """Everything one atomic step needs; keys already carry the installation's prefix."""

    token: str  # unique per acquire: the members of its hits are token:index
    checks: tuple[Check, ...]
    rate_key: str
    rate_per_sec: int | None
    day_key: str
    day_cap: int | None
    month_key: str
    month_cap: int | None
    now_ms: int | None = None  # None: the backend's clock (Redis: the server's)

    def member(self, index: int) -> str:
        """The log member that records item ``index``."""
        return f"{self.token}:{index}"


@dataclass(frozen=True, slots=True)
class Reservation:
    """The hits recorded for the accepted items of a batch, so they can be given back."""

    logs: tuple[tuple[str, str], ...]  # (key, member)
    counters: tuple[str, ...]  # counters that counted the accepted items
    count: int  # how many were accepted (each counter went up by this)

    @classmethod
    def of(cls, batch: Batch, results: Sequence[int]) -> Reservation:
        """The reservation of a batch, given what ``hit`` answered."""
        accepted = [i for i, r in enumerate(results) if r == OK]
        checks, token = batch.checks, batch.token
        logs = tuple(
            (key, f"{token}:{i}")  # batch.member(i), without a call per item
            for i in accepted
            if (key := checks[i].key) is not None and checks[i].windows
        )
        counters = (batch.day_key, batch.month_key) if accepted else ()
        return cls(logs, counters, len(accepted))


class Limiter(Protocol):
    """A store of hits where checking and recording a batch is one atomic step."""

    async def hit(self, batch: Batch) -> list[int]:
        """Check every item of the batch in order and record the accepted ones.

        Args:
            batch: the tenant's keys, limits and the items' checks.

        Returns:
            One code per item: OK, a window number (1-based), DAY_CAP, MONTH_CAP or RATE.

        Raises:
            HongyanError: NOT_READY when the store cannot be reached.
        """
        ...

    async def release(self, reservation: Reservation) -> None:
        """Give back the hits of a reservation (the request's rate hit stays)."""
        ...

    async def counts(self, keys: Sequence[str]) -> list[int]:
        """The current values of counters (0 for a counter that does not exist)."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


def get_limiter(ctx: AppContext) -> Limiter:
    """The process's limiter: Redis when ``redis_url`` is set, else process memory."""
    limiter: Limiter | None = ctx.caches.get(CACHE_KEY)
    if limiter is None:
        limiter = ctx.caches[CACHE_KEY] = _make(ctx)
    return limiter


def _make(ctx: AppContext) -> Limiter:
    # Imported here: the Redis client is only loaded by installations that use it.
    if ctx.settings.redis_url:
        from hongyan.limits.redis_backend import RedisLimiter

        return RedisLimiter(ctx.settings.redis_url)
    from hongyan.limits.memory import MemoryLimiter

    if not ctx.settings.is_sqlite:
        # PostgreSQL means several processes may send; each would count only its own messages.
        log.warning(
            "frequency limits are kept in process memory; set HONGYAN_REDIS_URL so that "
            "several API or worker processes share them"
        )
    return MemoryLimiter()
