"""Send a batch through the routes, failing over to the next connector when one fails retryably.

For the dispatcher: every message ends with one ``Outcome``, and is handed to connectors at
most once by one call:

- messages are grouped by the connector they try next, and each group is ONE ``send`` call
  (the groups of one round run concurrently);
- a message that met a ``RetryableSendError`` (alone, or with its whole batch), whose connector
  has an open circuit breaker, or could not be started, moves on to its next candidate;
  a connector is never tried twice for one message;
- a ``PermanentSendError`` ends the message there: another route would refuse it too;
- when every candidate failed retryably the outcome carries the last retryable error, and the
  dispatcher requeues the message;
- anything else a connector raises leaves the outcome unknown (some messages may have left):
  ``SUBMIT_OUTCOME_UNKNOWN``, no failover, the dispatcher applies its crash policy;
- a connector whose binds another worker holds (``routing.binds``) ends the message with
  ``handed_to``: the dispatcher pins it to that connector for its owner to send.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from hongyan import errors
from hongyan.api.context import AppContext
from hongyan.connectors.base import (
    Connector,
    OutboundSms,
    PermanentSendError,
    RetryableSendError,
    SendError,
    SendResult,
)
from hongyan.errors import HongyanError
from hongyan.routing import binds
from hongyan.routing.health import (
    CONNECTOR_BATCH_SECONDS,
    CONNECTOR_FAILOVERS,
    CONNECTOR_SENDS,
    Health,
    get_health,
)
from hongyan.routing.manager import get_manager
from hongyan.routing.resolve import candidates

log = structlog.get_logger("hongyan.routing")


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one message: sent (result), refused (error), or to retry (retryable error)."""

    message_id: str
    connector_id: str | None  # where it was sent, or refused; None when no connector took it
    result: SendResult | None
    error: SendError | HongyanError | None
    attempts: list[tuple[str, str]] = field(default_factory=list)  # (connector id, error code)
    handed_to: str | None = None  # another worker owns this connector's binds: send it there

    @property
    def sent(self) -> bool:
        """The connector accepted the message (result holds its upstream ids)."""
        return self.result is not None

    @property
    def retryable(self) -> bool:
        """The dispatcher should requeue the message (every candidate failed retryably)."""
        return isinstance(self.error, RetryableSendError)


@dataclass(slots=True)
class _Pending:
    msg: OutboundSms
    candidates: list[str]
    position: int = 0
    attempts: list[tuple[str, str]] = field(default_factory=list)
    retryable: RetryableSendError | None = None
    permanent: SendError | None = None  # a candidate that can never take it (too long)

    def skip(self, connector_id: str, error: SendError) -> None:
        """Give up on this candidate and remember why."""
        self.attempts.append((connector_id, error.code))
        if isinstance(error, RetryableSendError):
            self.retryable = error
        else:
            self.permanent = error
        self.position += 1

    def give_up(self) -> Outcome:
        """The outcome of a message no candidate took: the last retryable error, if any."""
        error: SendError = (
            self.retryable
            or self.permanent
            or RetryableSendError(errors.CONNECTOR_UNAVAILABLE.code, "no candidate connector")
        )
        return Outcome(self.msg.message_id, None, None, error, self.attempts)


async def send_with_failover(
    ctx: AppContext,
    session: AsyncSession,
    *,
    msgs: Sequence[OutboundSms],
    carrier_of: Callable[[OutboundSms], str | None] | None = None,
    pinned_of: Callable[[OutboundSms], str | None] | None = None,
) -> list[Outcome]:
    """Send each message through its candidate connectors in order; one Outcome per message.

    ``pinned_of`` names the connector a message was handed over for: tried first when it is
    still among the message's candidates.

    ``session`` is used only to read the routing revision (rarely) and tables; a session given
    outside a transaction is left outside one, so no transaction stays open while connectors
    send.
    """
    began_here = not session.in_transaction()
    done: dict[int, Outcome] = {}
    pending: dict[int, _Pending] = {}
    for index, msg in enumerate(msgs):
        carrier = carrier_of(msg) if carrier_of else None
        try:
            found = await candidates(ctx, session, msg=msg, carrier=carrier)
        except HongyanError as exc:
            done[index] = Outcome(msg.message_id, None, None, exc, [])
            continue
        pin = pinned_of(msg) if pinned_of else None
        if pin and pin in found:
            found = [pin, *(cid for cid in found if cid != pin)]
        pending[index] = _Pending(msg, found)
    round_ = _Round(ctx, session, get_health(ctx.caches, ctx.settings))
    while pending:
        groups = await round_.assign(pending, done)
        if began_here and session.in_transaction():
            await session.rollback()  # only reads happened; end them before the sends
        await asyncio.gather(
            *(round_.send(cid, conn, group, done) for cid, (conn, group) in groups.items())
        )
        pending = {i: p for i, p in pending.items() if i not in done}
        round_.reset()
    if began_here and session.in_transaction():
        await session.rollback()
    return [done[i] for i in range(len(msgs))]


class _Round:
    """One pass: each pending message goes to its next usable candidate."""

    def __init__(self, ctx: AppContext, session: AsyncSession, health: Health) -> None:
        self.ctx = ctx
        self.session = session
        self.health = health
        self._usable: dict[str, Connector | SendError | _HandOff] = {}

    def reset(self) -> None:
        """Forget this round's connector checks (breakers may have moved)."""
        self._usable.clear()

    async def _connector(self, connector_id: str) -> Connector | SendError | _HandOff:
        """The connector if it may be used this round, else why not (asked once per round)."""
        if connector_id in self._usable:
            return self._usable[connector_id]
        usable: Connector | SendError | _HandOff
        keeper = binds.current(self.ctx)
        decision = await keeper.route(connector_id) if keeper is not None else binds.USE
        if decision == binds.HANDOFF:
            usable = _HandOff()
        elif isinstance(decision, SendError):
            usable = decision
        elif not self.health.allow(connector_id):
            usable = RetryableSendError(
                errors.CONNECTOR_UNAVAILABLE.code,
                "circuit breaker open",
            )
        else:
            try:
                usable = await get_manager(self.ctx).get(connector_id, session=self.session)
            except HongyanError as exc:
                usable = RetryableSendError(exc.code, exc.message())
            except Exception as exc:  # a connector that cannot start (bind refused, ...)
                log.exception("connector unavailable", connector_id=connector_id)
                usable = RetryableSendError(errors.CONNECTOR_UNAVAILABLE.code, str(exc))
        self._usable[connector_id] = usable
        return usable

    async def assign(
        self, pending: dict[int, _Pending], done: dict[int, Outcome]
    ) -> dict[str, tuple[Connector, list[tuple[int, _Pending]]]]:
        """Group the pending messages by the connector each tries next; finish the stuck ones."""
        groups: dict[str, tuple[Connector, list[tuple[int, _Pending]]]] = {}
        for index, item in pending.items():
            while item.position < len(item.candidates):
                cid = item.candidates[item.position]
                usable = await self._connector(cid)
                if isinstance(usable, _HandOff):
                    done[index] = Outcome(
                        item.msg.message_id, None, None, None, item.attempts, handed_to=cid
                    )
                    break
                if isinstance(usable, SendError):
                    item.skip(cid, usable)
                    CONNECTOR_FAILOVERS.labels(cid).inc()
                    continue
                if item.msg.segments > usable.max_segments:
                    item.skip(cid, _too_long(item.msg, usable))
                    continue
                groups.setdefault(cid, (usable, []))[1].append((index, item))
                break
            else:
                done[index] = item.give_up()
        return groups

    async def send(
        self,
        connector_id: str,
        connector: Connector,
        group: list[tuple[int, _Pending]],
        done: dict[int, Outcome],
    ) -> None:
        """One send() call for the group; record outcomes, health and metrics."""
        started = time.monotonic()
        try:
            results = await connector.send([item.msg for _, item in group])
        except RetryableSendError as exc:
            results = [exc] * len(group)
        except Exception as exc:
            log.exception("connector send failed", connector_id=connector_id)
            results = [_unknown(str(exc))] * len(group)
        elapsed = time.monotonic() - started
        if len(results) != len(group):
            log.error("connector returned a wrong count", connector_id=connector_id)
            results = [_unknown("wrong number of results")] * len(group)
        CONNECTOR_BATCH_SECONDS.labels(connector_id).observe(elapsed)
        failed = 0  # retryable or unknown: counted against the connector's health
        for (index, item), result in zip(group, results, strict=True):
            if not isinstance(result, SendResult | PermanentSendError):
                failed += 1
            if isinstance(result, RetryableSendError):
                item.skip(connector_id, result)
                CONNECTOR_FAILOVERS.labels(connector_id).inc()
                continue
            if isinstance(result, SendResult):
                done[index] = Outcome(
                    item.msg.message_id, connector_id, result, None, item.attempts
                )
            else:
                item.attempts.append((connector_id, result.code))
                done[index] = Outcome(
                    item.msg.message_id, connector_id, None, result, item.attempts
                )
        ok = len(group) - failed
        self.health.record_many(connector_id, ok=ok, failed=failed, latency_ms=elapsed * 1000)
        _count(connector_id, results)


class _HandOff:
    """The connector's binds are another worker's: the message goes to that worker."""


def _unknown(detail: str) -> SendError:
    return SendError(errors.SUBMIT_OUTCOME_UNKNOWN.code, detail)


def _too_long(msg: OutboundSms, connector: Connector) -> PermanentSendError:
    return PermanentSendError(
        errors.SEGMENTS_OVER_CONNECTOR_LIMIT.code,
        f"{msg.segments} segments; this connector takes at most {connector.max_segments}",
    )


def _count(connector_id: str, results: Sequence[SendResult | SendError]) -> None:
    tally = {"ok": 0, "permanent": 0, "retryable": 0, "unknown": 0}
    for result in results:
        if isinstance(result, SendResult):
            tally["ok"] += 1
        elif isinstance(result, RetryableSendError):
            tally["retryable"] += 1
        elif isinstance(result, PermanentSendError):
            tally["permanent"] += 1
        else:
            tally["unknown"] += 1
    for outcome, count in tally.items():
        if count:
            CONNECTOR_SENDS.labels(connector_id, outcome).inc(count)
