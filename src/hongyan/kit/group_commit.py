"""Group commit: what concurrent callers submit is written by one transaction, answered per caller.

A caller ``submit``s an item and waits for its own outcome. One flush runs at a time: the
items that arrived while the previous flush was writing go together into the next one, and
while recent groups held several items a group also waits up to ``wait_secs`` for more (an
idle process writes at once). The flush function gets the group and returns one outcome per
item, in order: a result, or an exception that belongs to that item alone (a refusal). If the
flush itself raises, nothing of the group was committed: each item is then flushed alone, so
one bad item fails only its own caller.

An outcome is handed back only after the flush returned, that is after its commit.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeAlias, TypeVar

# Groups wait for company (``wait_secs``) once their moving mean size passes this; the mean
# weighs the last group this much.
_BUSY_MEAN_SIZE = 1.5
_MEAN_WEIGHT = 0.2

T = TypeVar("T")
R = TypeVar("R")

Outcome: TypeAlias = R | BaseException
Flush = Callable[[Sequence[T]], Awaitable[Sequence[Outcome[R]]]]


class GroupCommitter(Generic[T, R]):
    """Gathers submitted items into groups and flushes one group at a time, in arrival order."""

    def __init__(self, flush: Flush[T, R], *, max_items: int, wait_secs: float = 0.0) -> None:
        if max_items < 1:
            raise ValueError("a group holds at least one item")
        self._flush = flush
        self._max_items = max_items
        self._wait_secs = wait_secs
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._runner: asyncio.Task[None] | None = None
        self.loop = asyncio.get_running_loop()
        self._full = asyncio.Event()  # set when the queue holds a full group
        self._mean_size = 1.0  # moving mean of the group sizes
        self.groups = 0  # flushes that committed; with ``items``, the mean group size (tests)
        self.items = 0

    async def submit(self, item: T) -> R:
        """Queue ``item`` for the next flush and wait for its outcome (raised if an exception)."""
        future: asyncio.Future[R] = self.loop.create_future()
        self._queue.append((item, future))
        if len(self._queue) >= self._max_items:
            self._full.set()
        if self._runner is None:
            self._runner = self.loop.create_task(self._run())
        try:
            # The flush goes on if this caller is canceled: the others of its group wait on it.
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            future.add_done_callback(_consume)  # nobody reads the outcome now: don't warn
            raise

    async def _run(self) -> None:
        try:
            while self._queue:
                await self._gather()
                group = self._queue[: self._max_items]
                del self._queue[: self._max_items]
                self._mean_size += (len(group) - self._mean_size) * _MEAN_WEIGHT
                try:
                    outcomes = await self._outcomes([item for item, _ in group])
                except BaseException:  # canceled (shutdown): nobody will answer these callers
                    _fail(group, RuntimeError("group commit stopped before this item was written"))
                    raise
                for (_, future), outcome in zip(group, outcomes, strict=True):
                    _settle(future, outcome)
        finally:
            self._runner = None
            _fail(self._queue, RuntimeError("group commit stopped before this item was written"))
            self._queue.clear()

    async def _gather(self) -> None:
        """Let the next group grow for up to ``wait_secs`` while groups have been large.

        When recent groups held about one item each, nobody else was writing: the next one
        goes at once (an idle process adds no delay). Under load the short wait lets callers
        still being checked join, which makes fewer, larger transactions.
        """
        if self._wait_secs <= 0 or self._mean_size < _BUSY_MEAN_SIZE:
            await asyncio.sleep(0)  # callers already runnable join this group
            return
        self._full.clear()
        if len(self._queue) < self._max_items:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._full.wait(), self._wait_secs)

    async def _outcomes(self, items: list[T]) -> Sequence[Outcome[R]]:
        """The group's outcomes; each item's alone when the group as a whole failed."""
        try:
            return await self._committed(items)
        except Exception as exc:
            if len(items) == 1:
                return [exc]
        return [await self._alone(item) for item in items]

    async def _alone(self, item: T) -> Outcome[R]:
        try:
            (outcome,) = await self._committed([item])
        except Exception as exc:
            return exc
        return outcome

    async def _committed(self, items: list[T]) -> Sequence[Outcome[R]]:
        outcomes = await self._flush(items)
        if len(outcomes) != len(items):
            raise RuntimeError(f"flush answered {len(outcomes)} outcomes for {len(items)} items")
        self.groups += 1
        self.items += len(items)
        return outcomes


def _settle(future: asyncio.Future[R], outcome: Outcome[R]) -> None:
    if future.done():
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


def _consume(future: asyncio.Future[R]) -> None:
    if not future.cancelled():
        future.exception()


def _fail(group: list[tuple[T, asyncio.Future[R]]], exc: BaseException) -> None:
    for _, future in group:
        _settle(future, exc)
