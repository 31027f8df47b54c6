"""Request and response bodies of the webhooks domain, and the events it knows."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# Events other domains emit and endpoints may subscribe to ("*" subscribes to all of them).
EVENTS: tuple[str, ...] = (
    "message.sent",
    "message.delivered",
    "message.failed",
    "message.undelivered",
    "message.expired",
    "message.canceled",
    "inbound.received",
)
ALL_EVENTS = "*"
# Sent only by POST /v1/webhooks/{id}/test, to the one endpoint, whatever it subscribes to.
TEST_EVENT = "webhook.test"

DeliveryStatus = Literal["pending", "delivered", "dead"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


_EVENTS_FIELD = Field(
    min_length=1,
    max_length=len(EVENTS) + 1,
    examples=[["message.delivered", "message.failed"]],
    description=f"Event types to receive: {', '.join(EVENTS)}; or ['*'] for all.",
)


class EndpointCreate(_Strict):
    url: str = Field(max_length=2048, examples=["https://example.com/hongyan/events"])
    events: list[str] = _EVENTS_FIELD
    description: str | None = Field(None, max_length=200)


class EndpointUpdate(_Strict):
    """Only the fields sent change. Re-enabling or changing the URL lifts a failure pause."""

    url: str | None = Field(None, max_length=2048)
    events: list[str] | None = Field(None, min_length=1, max_length=len(EVENTS) + 1)
    description: str | None = Field(None, max_length=200)
    enabled: bool | None = None


class SecretRotate(_Strict):
    keep_previous_secs: int = Field(
        0,
        ge=0,
        le=86_400,
        description="Keep signing with the old secret too (a second v1=) for this long, so "
        "receivers can switch over without refusing deliveries; 0 drops it at once.",
    )


class EndpointOut(_Out):
    id: str = Field(examples=["whk_01jd3x8m2q0000000000000000"])
    url: str
    events: list[str]
    description: str | None
    enabled: bool
    secret_hint: str = Field(description="The last four characters of the signing secret.")
    consecutive_failures: int = Field(description="Failed delivery batches in a row.")
    paused_until: datetime | None = Field(
        description="While set and in the future, deliveries wait: the endpoint kept failing."
    )
    created_at: datetime
    updated_at: datetime


class EndpointCreated(EndpointOut):
    secret: str = Field(
        description="The signing secret (whsec_...), shown now only; it keys the HMAC of "
        "Hongyan-Signature."
    )


class CallbackSecretOut(_Out):
    secret: str = Field(description="Signs deliveries to per-message callback_url addresses.")
    secret_hint: str
    previous_secret_expires_at: datetime | None
    created_at: datetime
    rotated_at: datetime | None


class DeliveryOut(_Out):
    id: str = Field(examples=["whd_01jd3x8m2q0000000000000000"])
    endpoint_id: str | None = Field(description="None for a per-message callback_url.")
    event_id: str = Field(examples=["evt_01jd3x8m2q0000000000000000"])
    event_type: str
    url: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    first_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    payload: dict[str, Any] = Field(description="The event's data.")
    created_at: datetime
