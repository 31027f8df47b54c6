"""Sign names (签名) and the qualification files submitted with them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hongyan.models.base import ID_LENGTH, Base, UTCDateTime, created_at_column, id_column, utcnow

# The review states shared by signs and templates.
REVIEW_STATES = "status IN ('pending', 'approved', 'rejected', 'canceled')"
_LIVE = text("status != 'canceled'")


class Sign(Base):
    __tablename__ = "sign"
    __table_args__ = (
        Index("ix_sign_tenant_id_id", "tenant_id", "id"),
        # Unique among the tenant's live signs: deleting (canceling) a sign frees its name.
        Index(
            "uq_sign_tenant_id_name",
            "tenant_id",
            "name",
            unique=True,
            sqlite_where=_LIVE,
            postgresql_where=_LIVE,
        ),
        CheckConstraint(REVIEW_STATES, name="status"),
    )

    id: Mapped[str] = id_column()
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id"))
    name: Mapped[str] = mapped_column(String(32))
    purpose: Mapped[str] = mapped_column(String(16))  # verification | general
    source: Mapped[str] = mapped_column(String(32))  # company, app, website, ...
    remark: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    # Automatic findings of the current version: [{code, severity, detail}].
    findings: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    reason: Mapped[str | None] = mapped_column(Text)  # the operator's rejection reason
    version: Mapped[int] = mapped_column(Integer, default=1)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    canceled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    files: Mapped[list[SignFile]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="SignFile.id"
    )


class SignFile(Base):
    """A qualification file (licence, trademark certificate...); the bytes live in storage."""

    __tablename__ = "sign_file"
    __table_args__ = (Index("ix_sign_file_sign_id", "sign_id"),)

    id: Mapped[str] = id_column()
    sign_id: Mapped[str] = mapped_column(ForeignKey("sign.id"))
    tenant_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(64))  # sniffed from the bytes, not trusted
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = created_at_column()
