"""Webhook endpoints, the signing secret of per-message callback URLs, and deliveries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from hongyan.models.base import ID_LENGTH, Base, UTCDateTime, created_at_column, id_column, utcnow

URL_MAX_LENGTH = 2048
EVENT_MAX_LENGTH = 32
ERROR_MAX_LENGTH = 500


class WebhookEndpoint(Base):
    """A tenant's URL subscribed to events; its deliveries are signed with its own secret."""

    __tablename__ = "webhook_endpoint"
    __table_args__ = (Index("ix_webhook_endpoint_tenant_id_id", "tenant_id", "id"),)

    id: Mapped[str] = id_column()
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id"))
    url: Mapped[str] = mapped_column(String(URL_MAX_LENGTH))
    events: Mapped[list[str]] = mapped_column(JSON)  # event types, or ["*"] for all
    description: Mapped[str | None] = mapped_column(String(200))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Fernet tokens (ctx.box): the secret itself is needed to sign, so it is encrypted, not hashed.
    secret_encrypted: Mapped[str] = mapped_column(Text)
    secret_hint: Mapped[str] = mapped_column(String(8))
    # After a rotation the old secret may keep signing (a second v1=) until this time, so the
    # tenant can switch its receiver over without rejecting deliveries in between.
    previous_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Consecutive failed batches and the pause they earned: while paused, the endpoint's
    # deliveries are not claimed, so a dead endpoint cannot crowd out the others.
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    paused_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class WebhookCallbackSecret(Base):
    """The secret signing a tenant's per-message ``callback_url`` deliveries (created lazily)."""

    __tablename__ = "webhook_callback_secret"

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id"), primary_key=True)
    secret_encrypted: Mapped[str] = mapped_column(Text)
    secret_hint: Mapped[str] = mapped_column(String(8))
    previous_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = created_at_column()
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WebhookDelivery(Base):
    """One event on its way to one URL: the queue row and the delivery log in one.

    No foreign key to the endpoint: events are enqueued inside the sender's transaction from a
    per-process cache, and an endpoint deleted meanwhile must never make a send fail. Orphans
    are discarded when their turn comes.
    """

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        # The claim query: pending rows by due time (delivered and dead ones stay out of it).
        Index(
            "ix_webhook_delivery_due",
            "next_attempt_at",
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
        Index("ix_webhook_delivery_endpoint_id_id", "endpoint_id", "id"),
        Index("ix_webhook_delivery_tenant_id_id", "tenant_id", "id"),
    )

    id: Mapped[str] = id_column()
    tenant_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    # None: a per-message callback_url, signed with the tenant's callback secret.
    endpoint_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    event_id: Mapped[str] = mapped_column(String(ID_LENGTH))  # evt_..., shared by its deliveries
    event_type: Mapped[str] = mapped_column(String(EVENT_MAX_LENGTH))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)  # the event's "data"
    url: Mapped[str] = mapped_column(String(URL_MAX_LENGTH))  # where it goes (went last)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|delivered|dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    first_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(ERROR_MAX_LENGTH))
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Set by the worker that claimed the row; results are recorded only under the same token,
    # so a worker whose lease ran out cannot overwrite its successor's outcome.
    lease_token: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = created_at_column()
