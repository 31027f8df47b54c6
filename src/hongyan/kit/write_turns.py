"""SQLite: the write transactions of one process take turns in the event loop.

SQLite has one writer at a time. Without this, every API request and worker job writes on a
pooled connection of its own, and when two write at once the loser's thread sleeps in SQLite's
busy handler (1, 2, 5, 10 ... up to 100 ms between tries) while its request waits: under load,
those sleeps were most of the send path's tail latency. Here a connection about to write first
waits for an ``asyncio.Lock`` (one per event loop), holds it until it goes back to the pool
(its transaction ended: committed or rolled back), and the next writer in line gets it at once.

- Only writes take turns: a statement that is not a SELECT (or PRAGMA, EXPLAIN) on a
  connection that does not hold the turn yet. Reads never wait (WAL lets them run beside the
  writer), so a transaction takes its turn at its first write, as SQLite's own lock would.
- It can never deadlock worse than SQLite would: a task writing on a second connection while
  its first one holds the turn goes ahead without it (SQLite then decides, as it always did),
  and a writer that waited ``wait_secs`` (SQLite's busy timeout) goes ahead too, logged.
- Other processes (a CLI command beside ``hongyan run``) still meet SQLite's own lock.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

import structlog
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util.concurrency import await_only, in_greenlet

log = structlog.get_logger(__name__)

_HOLDING = "hongyan.write_turn"  # key in a pooled connection's info: the lock it holds
_READS = ("SELECT", "PRAGMA", "EXPLAIN")


class WriteTurns:
    """Installed on an SQLite engine: one writing connection at a time per event loop."""

    def __init__(self, *, wait_secs: float) -> None:
        self.wait_secs = wait_secs
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )
        self._holders: dict[asyncio.Lock, asyncio.Task[Any] | None] = {}

    def install(self, engine: AsyncEngine) -> None:
        event.listen(engine.sync_engine, "before_cursor_execute", self._before_execute)
        event.listen(engine.sync_engine.pool, "checkin", self._on_checkin)

    def _before_execute(
        self,
        conn: Connection,
        _cursor: Any,
        statement: str,
        _parameters: Any,
        _context: Any,
        _executemany: bool,
    ) -> None:
        if _HOLDING in conn.info or statement.lstrip()[:7].upper().startswith(_READS):
            return
        if not in_greenlet():  # the sync engine used outside the event loop: nothing to await
            return
        lock = self._lock()
        task = asyncio.current_task()
        if lock.locked() and self._holders.get(lock) is task:
            return  # this task holds the turn on another connection: waiting would deadlock
        if not await_only(self._acquire(lock)):
            return
        conn.info[_HOLDING] = lock
        self._holders[lock] = task

    async def _acquire(self, lock: asyncio.Lock) -> bool:
        try:
            await asyncio.wait_for(lock.acquire(), self.wait_secs)
        except TimeoutError:
            log.warning(
                "sqlite write turn not granted in time; writing anyway", secs=self.wait_secs
            )
            return False
        return True

    def _on_checkin(self, _dbapi_connection: Any, record: Any) -> None:
        lock: asyncio.Lock | None = record.info.pop(_HOLDING, None)
        if lock is not None:
            self._holders.pop(lock, None)
            lock.release()

    def _lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        return lock
