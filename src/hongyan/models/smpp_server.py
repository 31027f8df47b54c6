"""The SMPP server for tenants: credentials, live binds, what came in by SMPP, the outbox."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hongyan.models.base import ID_LENGTH, Base, UTCDateTime, created_at_column, id_column, utcnow
from hongyan.models.messages import AutoId

SYSTEM_ID_MAX = 15  # SMPP 3.4: system_id is a C-Octet String of 16 octets with its NUL
PASSWORD_MAX = 8  # SMPP 3.4: password is 9 octets with its NUL


class SmppCredential(Base):
    """What a tenant binds with (system_id + password), and the limits of its binds."""

    __tablename__ = "smpp_credential"
    __table_args__ = (Index("ix_smpp_credential_tenant_id_id", "tenant_id", "id"),)

    id: Mapped[str] = id_column()
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id"))
    system_id: Mapped[str] = mapped_column(String(SYSTEM_ID_MAX), unique=True)
    # scrypt hash of the password (see smpp_server.passwords): a bind only needs to verify it.
    password_hash: Mapped[str] = mapped_column(String(200))
    # source_addr values the tenant may submit with; empty: any.
    allowed_sources: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Binds open at once across every server process (transmitter, receiver, transceiver).
    max_binds: Mapped[int] = mapped_column(Integer, default=4)
    # submit_sm and data_sm per second over all binds of one process; more: ESME_RTHROTTLED.
    messages_per_sec: Mapped[float] = mapped_column(Float, default=50.0)
    # CIDRs the tenant may bind from; empty: anywhere.
    ip_allowlist: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Inbound (MO) messages of the tenant go to this credential's receivers as deliver_sm.
    deliver_mo: Mapped[bool] = mapped_column(Boolean, default=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    note: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_bind_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SmppBind(Base):
    """A bind open on some server process; counted against max_binds while its heartbeat is live.

    A process refreshes ``heartbeat_at`` of its binds regularly and deletes them as they close;
    the rows of a process that died stop counting once their heartbeat is old.
    """

    __tablename__ = "smpp_bind"
    __table_args__ = (Index("ix_smpp_bind_credential_id", "credential_id"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # <process>-<counter>
    credential_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    server_id: Mapped[str] = mapped_column(String(48))  # the process holding the bind
    mode: Mapped[str] = mapped_column(String(12))  # transmitter | receiver | transceiver
    peer: Mapped[str | None] = mapped_column(String(64))
    bound_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SmppSubmit(Base):
    """How a message came in by SMPP: its credential, addresses as written, receipt request."""

    __tablename__ = "smpp_submit"

    message_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    credential_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    source_addr: Mapped[str] = mapped_column(String(21))
    source_addr_ton: Mapped[int] = mapped_column(Integer, default=0)
    source_addr_npi: Mapped[int] = mapped_column(Integer, default=0)
    destination_addr: Mapped[str] = mapped_column(String(21))
    dest_addr_ton: Mapped[int] = mapped_column(Integer, default=0)
    dest_addr_npi: Mapped[int] = mapped_column(Integer, default=0)
    registered_delivery: Mapped[int] = mapped_column(Integer, default=0)
    parts: Mapped[int] = mapped_column(Integer, default=1)  # submit_sm PDUs it arrived in
    created_at: Mapped[datetime] = created_at_column()


class SmppOutbox(Base):
    """A deliver_sm (receipt or MO) for a tenant's receiver, kept until it answers ESME_ROK."""

    __tablename__ = "smpp_outbox"
    __table_args__ = (
        Index("ix_smpp_outbox_credential_id_next_attempt_at", "credential_id", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    credential_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    kind: Mapped[str] = mapped_column(String(8))  # receipt | mo
    ref_id: Mapped[str] = mapped_column(String(ID_LENGTH))  # the message or inbound message
    pdu: Mapped[bytes] = mapped_column(LargeBinary)  # the encoded deliver_sm, sequence 0
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # A process sending the row holds it until claimed_until; a crash lets the claim lapse.
    claimed_by: Mapped[str | None] = mapped_column(String(48))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_status: Mapped[int | None] = mapped_column(Integer)  # the last command_status answered
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at_column()
