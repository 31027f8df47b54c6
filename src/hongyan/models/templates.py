"""Message templates (模板); their versions and decisions are rows of ``review``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hongyan.models.base import Base, UTCDateTime, created_at_column, id_column, utcnow
from hongyan.models.signs import REVIEW_STATES


class Template(Base):
    """A template; its id (``tpl_...``) is the template code senders use."""

    __tablename__ = "template"
    __table_args__ = (
        Index("ix_template_tenant_id_id", "tenant_id", "id"),
        CheckConstraint(REVIEW_STATES, name="status"),
        CheckConstraint("kind IN ('verification', 'notification', 'marketing')", name="kind"),
    )

    id: Mapped[str] = id_column()
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id"))
    kind: Mapped[str] = mapped_column(String(16))
    international: Mapped[bool] = mapped_column(Boolean, default=False)
    name: Mapped[str] = mapped_column(String(64))
    content: Mapped[str] = mapped_column(Text)
    # Per-variable constraints: {"amount": {"type": "amount", "max_length": 12}}.
    variables: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
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
