"""The one small Protocol every connector implements, and what flows through it.

Exception tree::

    SendError                  a message (or a batch) could not be handed over
    ├── RetryableSendError     try again later or through another connector (timeouts, throttling,
    │                          connection lost, vendor 5xx); ``retry_in`` hints when
    └── PermanentSendError     this message will never go through this way (invalid number,
                               content refused); routing does NOT fail over on it

Connectors never decide retries or failover: they raise, and the dispatcher decides.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

# What a receipt says about one message part, in Hongyan's words.
ReceiptStatus = Literal["delivered", "undelivered", "expired", "rejected", "unknown", "accepted"]


@dataclass(frozen=True, slots=True)
class OutboundSms:
    """One message as a connector sees it: already validated, rendered and priced."""

    message_id: str
    tenant_id: str
    msisdn: str  # E.164, with '+'
    text: str  # exactly what the handset shows, including 【sign】 for mainland messages
    encoding: Literal["gsm7", "ucs2"]
    segments: int
    kind: Literal["verification", "notification", "marketing"]
    region: str | None = None  # ISO 3166 alpha-2 of the destination
    sign: str | None = None
    template_id: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    sender: str | None = None  # source address / extension code, where the connector allows
    validity_until: datetime | None = None
    test_mode: bool = False


@dataclass(frozen=True, slots=True)
class SendResult:
    """The connector accepted the message; ids are what its receipts will refer to."""

    upstream_ids: tuple[str, ...]  # one per part, or one for the whole message
    raw_code: str | None = None  # the vendor's own success code, kept for support


@dataclass(frozen=True, slots=True)
class Receipt:
    """A delivery receipt for one upstream id, from any connector."""

    connector_id: str
    upstream_id: str
    status: ReceiptStatus
    error_code: str | None = None  # Hongyan catalog-style code, e.g. UNDELIVERABLE
    raw_code: str | None = None  # the vendor's code (e.g. DELIVRD, MOBILE_NOT_ON_SERVICE)
    done_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class InboundSms:
    """A message from a handset (MO)."""

    connector_id: str
    msisdn: str  # the sender, E.164
    to: str  # the number or code it was sent to (long number / extension code)
    text: str
    received_at: datetime | None = None
    upstream_id: str | None = None


class SendError(Exception):
    """A message could not be handed over; subclasses say whether trying again can help."""

    def __init__(self, code: str, message: str = "", *, raw_code: str | None = None) -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.detail = message
        self.raw_code = raw_code


class RetryableSendError(SendError):
    def __init__(
        self,
        code: str,
        message: str = "",
        *,
        raw_code: str | None = None,
        retry_in: timedelta | None = None,
    ) -> None:
        super().__init__(code, message, raw_code=raw_code)
        self.retry_in = retry_in


class PermanentSendError(SendError):
    pass


ReceiptSink = Callable[[Sequence[Receipt]], Awaitable[None]]
InboundSink = Callable[[Sequence[InboundSms]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Sinks:
    """Where a connector hands what it receives; both store before they return."""

    receipts: ReceiptSink
    inbound: InboundSink


@runtime_checkable
class Connector(Protocol):
    """A way to reach handsets: the simulator, an SMPP link, an HTTP vendor.

    Class attributes declare limits the router and dispatcher respect.
    """

    kind: ClassVar[str]
    max_segments: ClassVar[int]  # longer messages are refused before sending
    rate_per_sec: ClassVar[float | None]  # None: no declared limit

    id: str  # the connector's row id (con_...)

    async def start(self, sinks: Sinks) -> None:
        """Open connections and begin delivering receipts/inbound to ``sinks``."""
        ...

    async def send(self, batch: Sequence[OutboundSms]) -> list[SendResult | SendError]:
        """Hand a batch over.

        Args:
            batch: messages for this connector, at most as many as it wants at once.

        Returns:
            One entry per message, in order: its SendResult, or the SendError it met.

        Raises:
            RetryableSendError: the whole batch failed before anything was handed over
                (e.g. the connector is down); nothing in it was sent.
        """
        ...

    async def close(self) -> None:
        """Stop: finish or abandon in-flight work and close connections."""
        ...


ConnectorFactory = Callable[[str, dict[str, Any]], Connector]
"""Builds a connector from its id and its (decrypted) settings."""
