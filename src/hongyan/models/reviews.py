"""Reviews: one row per submitted version of a sign or template, with its decision.

The pending rows are the operator's queue; all rows of one subject are its history.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hongyan.models.base import ID_LENGTH, Base, UTCDateTime, created_at_column, id_column


class Review(Base):
    __tablename__ = "review"
    __table_args__ = (
        Index("ix_review_status_id", "status", "id"),
        Index("ix_review_subject_id_id", "subject_id", "id"),
        CheckConstraint(
            "status IN ('pending', 'approved', 'rejected', 'superseded')", name="status"
        ),
        CheckConstraint("subject_kind IN ('sign', 'template')", name="subject_kind"),
    )

    id: Mapped[str] = id_column()
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id"))
    subject_kind: Mapped[str] = mapped_column(String(16))  # sign | template
    subject_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    version: Mapped[int] = mapped_column(Integer)
    # superseded: the tenant modified the subject before anyone decided on this version.
    status: Mapped[str] = mapped_column(String(16), default="pending")
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON)  # what was submitted, as submitted
    findings: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    reason: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str | None] = mapped_column(String(16))  # operator | cli | system
    decided_by_key_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = created_at_column()
