"""Messages (the outbox and queue), their parts, status history, receipts waiting for a
match, idempotency records, suppressions and maintained statistics."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Index, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from hongyan.models.base import ID_LENGTH, Base, UTCDateTime, created_at_column, id_column, utcnow

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
AutoId = BigInteger().with_variant(Integer(), "sqlite")

# Claim order: verification before notification before marketing.
PRIORITY_OF = {"verification": 0, "notification": 1, "marketing": 2}


class Message(Base):
    __tablename__ = "message"
    __table_args__ = (
        # The dispatcher's claims: due queued messages by priority, then age; unpinned ones
        # (pinned_connector_id '') for every worker, pinned ones for the worker owning the
        # connector. An equality on the pin keeps the index order usable (IS NULL does not).
        Index(
            "ix_message_status_pinned_connector_id_priority_due_at",
            "status",
            "pinned_connector_id",
            "priority",
            "due_at",
        ),
        Index("ix_message_status_lease_until", "status", "lease_until"),
        Index("ix_message_tenant_id_id", "tenant_id", "id"),
        Index("ix_message_tenant_id_msisdn_id", "tenant_id", "msisdn", "id"),
        Index("ix_message_tenant_id_out_id", "tenant_id", "out_id"),
        # Inbound replies find the last conversation with a number across tenants.
        Index("ix_message_msisdn_id", "msisdn", "id"),
        # Connector quality reads the messages finished in the last window, every minute.
        Index("ix_message_done_at", "done_at"),
    )

    id: Mapped[str] = id_column()
    tenant_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    api_key_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    test_mode: Mapped[bool] = mapped_column(Boolean, default=False)
    msisdn: Mapped[str] = mapped_column(String(20))  # E.164
    region: Mapped[str | None] = mapped_column(String(2))
    carrier: Mapped[str | None] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # verification | notification | marketing
    priority: Mapped[int] = mapped_column(Integer)
    sign: Mapped[str | None] = mapped_column(String(32))
    template_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    params: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    text: Mapped[str] = mapped_column(Text)  # as the handset shows it
    encoding: Mapped[str] = mapped_column(String(8))
    segments: Mapped[int] = mapped_column(Integer)
    amount: Mapped[int] = mapped_column(BigInteger, default=0)  # minor units held for it
    currency: Mapped[str] = mapped_column(String(3))
    # scheduled | queued | sending | sent | delivered | undelivered | expired | failed | canceled
    status: Mapped[str] = mapped_column(String(16))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    validity_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    out_id: Mapped[str | None] = mapped_column(String(64))
    callback_url: Mapped[str | None] = mapped_column(String(500))
    tag: Mapped[str | None] = mapped_column(String(64))
    connector_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    # Handed to the worker owning this connector's binds (SMPP): only it claims the message.
    # '' when not pinned (not NULL: see the claim index above).
    pinned_connector_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), default="", server_default=""
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    parts_done: Mapped[int] = mapped_column(Integer, default=0)  # parts with a final receipt
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_detail: Mapped[str | None] = mapped_column(Text)
    raw_code: Mapped[str | None] = mapped_column(String(64))  # the upstream's own code
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The door it came in by: None for the HTTP API, "smpp" for the SMPP server for tenants;
    # receipt_requested: the SMPP submit asked for a receipt (registered_delivery), so its
    # final status is queued to the tenant as a deliver_sm (smpp_server.outbox).
    channel: Mapped[str | None] = mapped_column(String(8))
    receipt_requested: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class MessagePart(Base):
    """One upstream id of a sent message (one per segment, or one for the whole message)."""

    __tablename__ = "message_part"
    __table_args__ = (
        Index(
            "uq_message_part_connector_id_upstream_id", "connector_id", "upstream_id", unique=True
        ),
    )

    message_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    connector_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    upstream_id: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16), default="sent")
    error_code: Mapped[str | None] = mapped_column(String(64))
    raw_code: Mapped[str | None] = mapped_column(String(64))
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class MessageEvent(Base):
    """Status history: every transition with its time and reason."""

    __tablename__ = "message_event"
    __table_args__ = (Index("ix_message_event_message_id", "message_id"),)

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    status: Mapped[str] = mapped_column(String(16))
    code: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)
    connector_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class PendingReceipt(Base):
    """A receipt that arrived before its submit was recorded; matched later, never dropped."""

    __tablename__ = "pending_receipt"
    __table_args__ = (
        Index("ix_pending_receipt_connector_id_upstream_id", "connector_id", "upstream_id"),
    )

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    connector_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    upstream_id: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16))
    error_code: Mapped[str | None] = mapped_column(String(64))
    raw_code: Mapped[str | None] = mapped_column(String(64))
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class IdempotencyRecord(Base):
    """The first answer to a POST with an Idempotency-Key, replayed for the same key."""

    __tablename__ = "idempotency_record"

    tenant_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = created_at_column()


class Suppression(Base):
    """A number the tenant must not message (opt-out, complaint, manual blacklist)."""

    __tablename__ = "suppression"

    tenant_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    msisdn: Mapped[str] = mapped_column(String(20), primary_key=True)
    source: Mapped[str] = mapped_column(String(16))  # opt_out | manual | import | complaint
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at_column()


class MessageStat(Base):
    """Counters maintained as messages move, so statistics never scan the message table."""

    __tablename__ = "message_stat"

    tenant_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # UTC, YYYY-MM-DD
    sign: Mapped[str] = mapped_column(String(32), primary_key=True)  # '' when none
    template_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    region: Mapped[str] = mapped_column(String(2), primary_key=True)
    connector_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    submitted: Mapped[int] = mapped_column(BigInteger, default=0)
    sent: Mapped[int] = mapped_column(BigInteger, default=0)
    delivered: Mapped[int] = mapped_column(BigInteger, default=0)
    undelivered: Mapped[int] = mapped_column(BigInteger, default=0)
    failed: Mapped[int] = mapped_column(BigInteger, default=0)
    expired: Mapped[int] = mapped_column(BigInteger, default=0)
    canceled: Mapped[int] = mapped_column(BigInteger, default=0)
    segments: Mapped[int] = mapped_column(BigInteger, default=0)
    cost: Mapped[int] = mapped_column(BigInteger, default=0)
