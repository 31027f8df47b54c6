"""The simulator connector: a pretend carrier for tenants' tests, demos and Hongyan's own tests.

It accepts messages after ``latency_ms`` and reports a receipt for every part after
``receipt_delay_ms``; rules by number decide what happens to each message, so every path of
the message lifecycle can be shown with a phone number. The default rules:

=========================  ===============================================================
number ends in             what happens
=========================  ===============================================================
``0001``                   accepted, then an ``undelivered`` receipt (UNDELIVERABLE)
``0002``                   refused at submit (PermanentSendError REJECTED_BY_CARRIER)
``0003``                   retryable submit error (CONNECTOR_UNAVAILABLE): failover demos
``0004``                   accepted, then an ``expired`` receipt (DELIVERY_EXPIRED)
``0005``                   the submit times out (retryable SUBMIT_TIMEOUT)
``0006``                   accepted, and no receipt ever comes
anything else              accepted, then ``delivered`` (after ``failure_percent`` of
                           messages fail retryably at random)
=========================  ===============================================================

Everything it produces says it is simulated: upstream ids start with ``sim-``, raw codes with
``SIM_``. Receipts are timed with ``loop.call_later`` once per sent batch and handed to the
sink in batches by a single flushing task, never one task per message.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

import structlog
from pydantic import BaseModel, ConfigDict, Field, model_validator

from hongyan import errors
from hongyan.connectors.base import (
    InboundSms,
    OutboundSms,
    PermanentSendError,
    Receipt,
    ReceiptStatus,
    RetryableSendError,
    SendError,
    SendResult,
    Sinks,
)
from hongyan.models.base import utcnow

log = structlog.get_logger("hongyan.connectors.simulator")

Outcome = Literal[
    "delivered", "undelivered", "rejected", "expired", "timeout", "retryable_error", "no_receipt"
]

# outcome -> (catalog code when the rule names none, raw code of the simulated carrier)
_OUTCOME_CODES: dict[str, tuple[str | None, str]] = {
    "delivered": (None, "SIM_DELIVRD"),
    "undelivered": (errors.UNDELIVERABLE.code, "SIM_UNDELIV"),
    "rejected": (errors.REJECTED_BY_CARRIER.code, "SIM_REJECTD"),
    "expired": (errors.DELIVERY_EXPIRED.code, "SIM_EXPIRED"),
    "timeout": (errors.SUBMIT_TIMEOUT.code, "SIM_TIMEOUT"),
    "retryable_error": (errors.CONNECTOR_UNAVAILABLE.code, "SIM_RETRY"),
    "no_receipt": (None, "SIM_NORCPT"),
}
_RECEIPT_STATUS: dict[str, ReceiptStatus] = {
    "delivered": "delivered",
    "undelivered": "undelivered",
    "expired": "expired",
}
RECEIPT_BATCH = 500  # receipts per sink call
_SINK_RETRY_SECS = 1.0  # a failing sink is called again after this; receipts are kept
_CLOSE_FLUSH_SECS = 5.0  # close() hands over receipts not yet due for at most this long


class SimulatorRule(BaseModel):
    """What happens to messages whose number matches ``pattern``; the first match wins."""

    model_config = ConfigDict(extra="forbid")

    pattern: str = Field(min_length=1, max_length=200, examples=["0001"])
    match: Literal["suffix", "prefix", "regex"] = Field(
        "suffix", description="suffix/prefix of the E.164 number, or a regex searched in it"
    )
    outcome: Outcome
    error_code: str | None = Field(
        None, max_length=64, description="Code reported instead of the outcome's default."
    )
    percent: float = Field(
        100.0, ge=0, le=100, description="Share of matching messages the rule applies to."
    )

    @model_validator(mode="after")
    def _regex_compiles(self) -> SimulatorRule:
        if self.match == "regex":
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"pattern is not a valid regex: {exc}") from None
        return self

    def matches(self, msisdn: str) -> bool:
        """Whether the rule's pattern matches this E.164 number."""
        if self.match == "suffix":
            return msisdn.endswith(self.pattern)
        if self.match == "prefix":
            return msisdn.startswith(self.pattern)
        return re.search(self.pattern, msisdn) is not None


def default_rules() -> list[SimulatorRule]:
    """The rules a simulator gets unless told otherwise (see the module docstring)."""
    outcomes: list[tuple[str, Outcome]] = [
        ("0001", "undelivered"),
        ("0002", "rejected"),
        ("0003", "retryable_error"),
        ("0004", "expired"),
        ("0005", "timeout"),
        ("0006", "no_receipt"),
    ]
    return [SimulatorRule(pattern=p, outcome=o) for p, o in outcomes]


class SimulatorSettings(BaseModel):
    """Settings of a simulator connector."""

    model_config = ConfigDict(extra="forbid")

    latency_ms: int = Field(0, ge=0, le=60_000, description="Time each submit takes.")
    receipt_delay_ms: int = Field(
        1000, ge=0, le=86_400_000, description="Time from submit to receipt."
    )
    failure_percent: float = Field(
        0.0, ge=0, le=100, description="Share of other messages that fail retryably."
    )
    down: bool = Field(False, description="Refuse every batch, as a connector that is down.")
    rules: list[SimulatorRule] = Field(default_factory=default_rules, max_length=100)
    seed: int | None = Field(None, description="Makes the random outcomes repeatable.")


@dataclass(frozen=True, slots=True)
class _Due:
    upstream_id: str
    status: ReceiptStatus
    error_code: str | None
    raw_code: str


class SimulatorConnector:
    """A connector that pretends to be a carrier; see the module docstring."""

    kind: ClassVar[str] = "simulator"
    max_segments: ClassVar[int] = 255  # the most parts a concatenated SMS can have
    rate_per_sec: ClassVar[float | None] = None
    settings_model: ClassVar[type[BaseModel]] = SimulatorSettings
    secret_settings: ClassVar[frozenset[str]] = frozenset()
    simulated: ClassVar[bool] = True

    def __init__(self, id: str, settings: dict[str, object]) -> None:
        self.id = id
        self.settings = SimulatorSettings.model_validate(settings)
        self._rng = random.Random(self.settings.seed)  # simulation, not security
        self._sinks: Sinks | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timers: dict[int, tuple[asyncio.TimerHandle, list[_Due]]] = {}
        self._next_timer = 0
        self._ready: list[_Due] = []
        self._flusher: asyncio.Task[None] | None = None
        self._closed = False
        self.accepted = 0  # messages accepted since start, for tests and demos
        self.refused = 0

    async def start(self, sinks: Sinks) -> None:
        """Remember where receipts and inbound messages go."""
        self._sinks = sinks
        self._loop = asyncio.get_running_loop()
        self._closed = False

    async def send(self, batch: Sequence[OutboundSms]) -> list[SendResult | SendError]:
        """Accept or refuse each message by the rules, scheduling receipts for the accepted."""
        if self._closed or self._sinks is None:
            raise RetryableSendError(errors.CONNECTOR_UNAVAILABLE.code, "simulator not started")
        if not batch:
            return []
        if self.settings.latency_ms:
            await asyncio.sleep(self.settings.latency_ms / 1000)
        if self.settings.down:
            raise RetryableSendError(
                errors.CONNECTOR_UNAVAILABLE.code, "simulated outage", raw_code="SIM_DOWN"
            )
        results: list[SendResult | SendError] = []
        due: list[_Due] = []
        for msg in batch:
            result = self._submit(msg, due)
            results.append(result)
            if isinstance(result, SendResult):
                self.accepted += 1
            else:
                self.refused += 1
        if due:
            self._schedule(due)
        return results

    def _outcome(self, msisdn: str) -> tuple[Outcome, str | None]:
        for rule in self.settings.rules:
            if rule.matches(msisdn) and (
                rule.percent >= 100 or self._rng.random() * 100 < rule.percent
            ):
                return rule.outcome, rule.error_code or _OUTCOME_CODES[rule.outcome][0]
        if (
            self.settings.failure_percent
            and self._rng.random() * 100 < self.settings.failure_percent
        ):
            return "retryable_error", errors.CONNECTOR_UNAVAILABLE.code
        return "delivered", None

    def _submit(self, msg: OutboundSms, due: list[_Due]) -> SendResult | SendError:
        outcome, code = self._outcome(msg.msisdn)
        raw = _OUTCOME_CODES[outcome][1]
        if outcome == "rejected":
            return PermanentSendError(code or "", "simulated rejection", raw_code=raw)
        if outcome in ("timeout", "retryable_error"):
            return RetryableSendError(code or "", f"simulated {outcome}", raw_code=raw)
        ids = tuple(f"sim-{os.urandom(10).hex()}" for _ in range(max(1, msg.segments)))
        status = _RECEIPT_STATUS.get(outcome)
        if status is not None:
            due.extend(_Due(uid, status, code, raw) for uid in ids)
        return SendResult(upstream_ids=ids, raw_code="SIM_ACCEPTD")

    def _schedule(self, due: list[_Due]) -> None:
        """One timer for the receipts of a whole batch."""
        assert self._loop is not None
        key = self._next_timer
        self._next_timer += 1
        delay = self.settings.receipt_delay_ms / 1000
        handle = self._loop.call_later(delay, self._on_due, key)
        self._timers[key] = (handle, due)

    def _on_due(self, key: int) -> None:
        entry = self._timers.pop(key, None)
        if entry is not None:
            self._ready.extend(entry[1])
            self._kick()

    def _kick(self) -> None:
        if (self._flusher is None or self._flusher.done()) and self._loop is not None:
            self._flusher = self._loop.create_task(self._drain())

    async def _drain(self) -> None:
        """Hand ready receipts to the sink in batches; keep (and retry) them if it fails."""
        while self._ready and self._sinks is not None:
            chunk = self._ready[:RECEIPT_BATCH]
            now = utcnow()
            receipts = [
                Receipt(self.id, d.upstream_id, d.status, d.error_code, d.raw_code, now)
                for d in chunk
            ]
            try:
                await self._sinks.receipts(receipts)
            except Exception:
                log.exception("receipt sink failed; trying again", connector_id=self.id)
                await asyncio.sleep(_SINK_RETRY_SECS)
                continue
            del self._ready[: len(chunk)]

    async def emit_inbound(self, msisdn: str, text: str, to: str) -> InboundSms:
        """Pretend a handset sent ``text`` from ``msisdn`` to ``to`` and hand it to the sink."""
        if self._sinks is None:
            raise RuntimeError("simulator not started")
        sms = InboundSms(
            connector_id=self.id,
            msisdn=msisdn,
            to=to,
            text=text,
            received_at=utcnow(),
            upstream_id=f"sim-mo-{os.urandom(10).hex()}",
        )
        await self._sinks.inbound([sms])
        return sms

    def pending_receipts(self) -> int:
        """Receipts scheduled or ready but not yet handed over."""
        return len(self._ready) + sum(len(d) for _, d in self._timers.values())

    async def close(self) -> None:
        """Hand over the receipts still pending (for a few seconds at most), then stop."""
        if self._closed:
            return
        self._closed = True
        for handle, due in self._timers.values():
            handle.cancel()
            self._ready.extend(due)
        self._timers.clear()
        if self._ready:
            self._kick()
        if self._flusher is not None and not self._flusher.done():
            try:
                await asyncio.wait_for(asyncio.shield(self._flusher), _CLOSE_FLUSH_SECS)
            except TimeoutError:
                self._flusher.cancel()
                log.warning(
                    "receipts dropped at close", connector_id=self.id, count=len(self._ready)
                )
        self._ready.clear()
