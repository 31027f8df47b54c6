"""A prototype measured by S1, not shipped: ``hongyan`` with one SQLite transaction at a time.

    python bench/proto_write_lock.py run --data-dir D --port P      # as `hongyan run ...`

Why: on SQLite every ``Database.session()`` (each API request, each worker job) gets its own
pooled connection and transaction. When two of them write at once, the loser waits in
SQLite's busy handler, which sleeps 1, 2, 5, 10, ... up to 100 ms between tries (py-spy shows
the aiosqlite threads in ``sqlite3InvokeBusyHandler`` -> ``usleep``); under load the event loop
sits idle while requests queue behind those sleeps, and p99 latency reaches a second.

The prototype wraps ``Database.session()`` for SQLite in one process-wide ``asyncio.Lock``, so
transactions of this process take turns in the event loop instead of sleeping in SQLite. A
session opened inside another in the same task (context variable) skips the lock, so nesting
cannot deadlock on it. Sessions opened with ``Database.sessions()`` or the engine directly are
not covered. Run ``bench/s1_single_send.py --proto-write-lock`` to compare.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import sys
from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncSession

from hongyan import db as db_module

_original = db_module.Database.session
_holding = contextvars.ContextVar("holding_sqlite_write_lock", default=False)
_locks: dict[int, asyncio.Lock] = {}


@contextlib.asynccontextmanager
async def session(self: db_module.Database) -> AsyncIterator[AsyncSession]:
    """``Database.session`` taking turns with the other transactions of this process."""
    if not self.is_sqlite or _holding.get():
        async with _original(self) as inner:
            yield inner
        return
    async with _locks.setdefault(id(self), asyncio.Lock()):
        token = _holding.set(True)
        try:
            async with _original(self) as inner:
                yield inner
        finally:
            _holding.reset(token)


def main() -> None:
    """Patch, then run the ``hongyan`` command line with this script's arguments."""
    db_module.Database.session = session  # type: ignore[method-assign]
    from hongyan.cli.main import main as hongyan_main

    sys.argv[0] = "hongyan"
    hongyan_main()


if __name__ == "__main__":
    main()
