"""Tenants, API keys, signed-request nonces and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hongyan.models.base import ID_LENGTH, Base, UTCDateTime, created_at_column, id_column, utcnow


class Tenant(Base):
    __tablename__ = "tenant"

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(String(100), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | suspended
    # Trusted tenants' templates that pass automatic review are approved without an operator.
    trusted: Mapped[bool] = mapped_column(Boolean, default=False)
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    # False: every message must use an approved template (the mainland China rule).
    free_text_allowed: Mapped[bool] = mapped_column(Boolean, default=False)
    contact_email: Mapped[str | None] = mapped_column(String(254))
    # unverified | pending | verified | rejected
    verification_status: Mapped[str] = mapped_column(String(16), default="unverified")
    verification_details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    verification_reason: Mapped[str | None] = mapped_column(Text)
    verification_submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    verification_decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class ApiKey(Base):
    __tablename__ = "api_key"
    __table_args__ = (Index("ix_api_key_tenant_id_created", "tenant_id", "id"),)

    id: Mapped[str] = id_column()
    # None for operator keys, which act across tenants.
    tenant_id: Mapped[str | None] = mapped_column(ForeignKey("tenant.id"))
    role: Mapped[str] = mapped_column(String(16))  # tenant | operator
    name: Mapped[str] = mapped_column(String(100))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    # Fernet token of the secret: HMAC verification needs the secret itself back, so it is
    # encrypted with the instance's secret key rather than hashed.
    secret_encrypted: Mapped[str] = mapped_column(Text)
    secret_hint: Mapped[str] = mapped_column(String(8))  # last 4 characters, for humans
    test_mode: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | revoked
    created_at: Mapped[datetime] = created_at_column()
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AuthNonce(Base):
    """Nonces of signed requests, kept for the signature window so each is used once."""

    __tablename__ = "auth_nonce"
    __table_args__ = (Index("ix_auth_nonce_seen_at", "seen_at"),)

    key_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(128), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AuditEntry(Base):
    __tablename__ = "audit_entry"
    __table_args__ = (Index("ix_audit_entry_tenant_id_id", "tenant_id", "id"),)

    id: Mapped[str] = id_column()
    actor_key_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))  # None: the CLI
    actor_role: Mapped[str] = mapped_column(String(16))  # operator | tenant | cli | system
    tenant_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))  # the tenant acted upon
    action: Mapped[str] = mapped_column(String(64))  # e.g. tenant.suspend, key.create
    target_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    ip: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = created_at_column()
