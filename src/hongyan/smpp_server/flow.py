"""Flow of submits inside the server: the per-credential rate, the batcher, the answers."""

from __future__ import annotations

import asyncio
import time

import structlog

from hongyan import errors
from hongyan.api.context import AppContext
from hongyan.smpp.pdu import DataSm, SubmitSm
from hongyan.smpp.session import SmppSession
from hongyan.smpp_server.metrics import SUBMITS
from hongyan.smpp_server.status_map import command_status
from hongyan.smpp_server.submit import Outcome, Submission, accept

__all__ = ["SubmitBatcher", "TokenBucket", "answer"]

log = structlog.get_logger("hongyan.smpp_server")

Submit = SubmitSm | DataSm


class TokenBucket:
    """messages_per_sec of one credential in this process: a burst of one second, then the rate."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.capacity = max(rate, 1.0)
        self._tokens = self.capacity
        self._at = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


class SubmitBatcher:
    """Whole messages waiting for the pipeline; one drain task stores them batch by batch."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self._queue: list[tuple[SmppSession, list[Submit], Submission]] = []
        self._task: asyncio.Future[None] | None = None

    def add(self, session: SmppSession, pdus: list[Submit], submission: Submission) -> None:
        self._queue.append((session, pdus, submission))
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._drain())

    async def close(self) -> None:
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    async def _drain(self) -> None:
        size = self.ctx.settings.smpp_server_submit_batch
        while self._queue:
            await asyncio.sleep(0)  # the rest of this read's PDUs join the batch
            batch, self._queue = self._queue[:size], self._queue[size:]
            try:
                outcomes = await accept(self.ctx, [item[2] for item in batch])
            except Exception:
                log.exception("smpp submit batch failed", count=len(batch))
                outcomes = [Outcome(error=errors.SMPP_SERVER_BUSY())] * len(batch)
            for (session, pdus, _), outcome in zip(batch, outcomes, strict=True):
                answer(session, pdus, outcome)


def answer(session: SmppSession, pdus: list[Submit], outcome: Outcome) -> None:
    """Answer every part of a message alike: its message id, or the mapped refusal."""
    SUBMITS.labels(outcome.error.code if outcome.error else "accepted").inc()
    for pdu in pdus:
        if outcome.message_id is not None:
            response = pdu.response_class
            assert response is not None
            session.respond(pdu, response(message_id=outcome.message_id))
        else:
            assert outcome.error is not None
            session.respond(pdu, command_status(outcome.error))
