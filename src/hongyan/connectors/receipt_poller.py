"""Asking a vendor for the receipts of messages it accepted, for vendors that push receipts.

Pushed receipts can be lost (an endpoint that was down, a vendor that does not retry), so an
HTTP connector may also ask: it ``watch``es the upstream ids it was given and, every
``interval_secs``, fetches the status of those due, hands the final ones to its receipt sink
in one call and forgets them. A pushed receipt and a polled one for the same id are harmless:
the receipts domain keeps the first final one and counts the other as a duplicate.

What is watched lives in this process's memory only (receipts pushed by the vendor are the main
path); ids still waiting after ``max_age_secs`` are dropped, and at most ``max_watched`` are
kept (the oldest go first).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import structlog

from hongyan.connectors.base import Receipt, ReceiptSink

log = structlog.get_logger("hongyan.connectors.poller")

# The status of one upstream id: a final Receipt, or None while there is nothing final yet.
Fetch = Callable[[str], Awaitable[Receipt | None]]

FINAL = frozenset({"delivered", "undelivered", "expired", "rejected", "unknown"})
POLL_BATCH = 500  # ids asked about per round at most
_SINK_RETRY_SECS = 1.0


@dataclass(slots=True)
class _Watched:
    since: float  # monotonic time the id was given
    next_at: float  # monotonic time it is due to be asked about


class ReceiptPoller:
    """Polls a vendor for the final status of the upstream ids it watches."""

    def __init__(
        self,
        fetch: Fetch,
        *,
        connector_id: str,
        interval_secs: float,
        max_age_secs: float,
        concurrency: int = 10,
        max_watched: int = 100_000,
    ) -> None:
        self._fetch = fetch
        self.connector_id = connector_id
        self.interval_secs = interval_secs
        self.max_age_secs = max_age_secs
        self._limit = asyncio.Semaphore(concurrency)
        self._max_watched = max_watched
        self._watched: dict[str, _Watched] = {}
        self._sink: ReceiptSink | None = None
        self._task: asyncio.Task[None] | None = None

    def watch(self, upstream_ids: Iterable[str]) -> None:
        """Start asking about these ids after one interval."""
        now = time.monotonic()
        for upstream_id in upstream_ids:
            self._watched[upstream_id] = _Watched(now, now + self.interval_secs)
        overflow = len(self._watched) - self._max_watched
        if overflow > 0:  # dicts keep insertion order: the oldest come first
            for upstream_id in list(self._watched)[:overflow]:
                del self._watched[upstream_id]
            log.warning("receipt poller full; oldest ids dropped", count=overflow)

    def watching(self) -> int:
        """How many ids wait for a final status."""
        return len(self._watched)

    def start(self, sink: ReceiptSink) -> None:
        """Begin polling in the background, handing final receipts to ``sink``."""
        self._sink = sink
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        """Stop polling; what is still watched is forgotten (pushed receipts remain)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_secs)
            try:
                await self.poll_once()
            except Exception:
                log.exception("receipt poll failed", connector_id=self.connector_id)
                await asyncio.sleep(_SINK_RETRY_SECS)

    async def poll_once(self) -> int:
        """Ask about the due ids; hand over the final receipts; how many were handed over."""
        now = time.monotonic()
        self._drop_expired(now)
        due = [uid for uid, w in self._watched.items() if w.next_at <= now][:POLL_BATCH]
        if not due or self._sink is None:
            return 0
        for upstream_id in due:
            self._watched[upstream_id].next_at = now + self.interval_secs
        found = await asyncio.gather(*(self._ask(uid) for uid in due))
        receipts = [r for r in found if r is not None and r.status in FINAL]
        if not receipts:
            return 0
        await self._sink(receipts)  # stores before it returns; on failure the ids stay watched
        for receipt in receipts:
            self._watched.pop(receipt.upstream_id, None)
        return len(receipts)

    async def _ask(self, upstream_id: str) -> Receipt | None:
        async with self._limit:
            try:
                return await self._fetch(upstream_id)
            except Exception as exc:  # one id's failure must not stop the others
                log.warning(
                    "receipt poll of one id failed",
                    connector_id=self.connector_id,
                    upstream_id=upstream_id,
                    error=str(exc),
                )
                return None

    def _drop_expired(self, now: float) -> None:
        old = [uid for uid, w in self._watched.items() if now - w.since > self.max_age_secs]
        for upstream_id in old:
            del self._watched[upstream_id]
        if old:
            log.warning(
                "no final status within the poll window; ids no longer polled",
                connector_id=self.connector_id,
                count=len(old),
            )
