"""Waking workers when messages become due, instead of letting them wait for their next poll.

- In one process (``hongyan run``, any backend): the accepting code calls ``wake_local(ctx)``,
  which sets the in-process worker's event.
- Across processes (PostgreSQL): the accepting transaction runs ``NOTIFY hongyan_due``
  (``notify_due``), delivered at commit; every worker LISTENs on a connection of its own
  (``DueListener``) and sets its event. A notification lost while a listener reconnects costs
  at most one poll interval: workers still poll.
"""

from __future__ import annotations

import asyncio
from contextlib import suppress
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import structlog
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from hongyan.api.context import AppContext
from hongyan.worker import repository as repo

log = structlog.get_logger("hongyan.worker.wakeup")

DUE_CHANNEL = repo.DUE_CHANNEL


def wake_local(ctx: AppContext) -> None:
    """Wake the worker running in this process, if there is one."""
    worker = ctx.caches.get("worker")
    if worker is not None:
        worker.wake.set()


async def notify_due(session: AsyncSession) -> None:
    """NOTIFY listening workers when this transaction commits (PostgreSQL; no-op on SQLite)."""
    await repo.notify_due(session)


def plain_dsn(url: str) -> str:
    """The SQLAlchemy URL as a DSN asyncpg accepts (``postgresql://``, password kept)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class DueListener:
    """LISTEN on a dedicated asyncpg connection; every notification sets ``wake``.

    Not a pooled connection: LISTEN belongs to one session and must outlive every transaction.
    Reconnects with backoff when the connection drops, and wakes the worker after reconnecting
    because notifications sent meanwhile were lost.
    """

    def __init__(self, url: str, wake: asyncio.Event, *, retry_max_secs: float = 30.0) -> None:
        self.dsn = plain_dsn(url)
        self.wake = wake
        self.retry_max_secs = retry_max_secs
        self.listening = asyncio.Event()  # set while LISTEN is in place (tests wait on it)
        self._stop = asyncio.Event()
        self._task: asyncio.Future[None] | None = None

    def start(self) -> None:
        """Begin listening (in one background task that reconnects as needed)."""
        self._task = asyncio.ensure_future(self._run())

    async def close(self) -> None:
        """Stop listening and close the connection."""
        self._stop.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        delay = 0.5
        while not self._stop.is_set():
            try:
                await self._listen_until_lost()
                delay = 0.5
            except Exception as exc:  # connection refused, dropped, auth...: retry later
                log.warning("LISTEN connection failed; retrying", error=str(exc), in_secs=delay)
            self.listening.clear()
            with suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=delay)
            delay = min(delay * 2, self.retry_max_secs)

    async def _listen_until_lost(self) -> None:
        conn = await asyncpg.connect(self.dsn)
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _conn: lost.set())
        try:
            await conn.add_listener(DUE_CHANNEL, self._on_notify)
            self.listening.set()
            self.wake.set()  # anything announced while we were not listening
            stop = asyncio.ensure_future(self._stop.wait())
            gone = asyncio.ensure_future(lost.wait())
            await asyncio.wait([stop, gone], return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            gone.cancel()
        finally:
            with suppress(Exception):
                await asyncio.wait_for(conn.close(), timeout=5)

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, _payload: str) -> None:
        self.wake.set()
