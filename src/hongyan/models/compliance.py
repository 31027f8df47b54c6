"""Sensitive words (global and per tenant) and the revision counters that version each list."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from hongyan.models.base import ID_LENGTH, Base, UTCDateTime, created_at_column, id_column, utcnow

WORD_MAX_LENGTH = 100
CATEGORY_MAX_LENGTH = 32
GLOBAL_SCOPE = "global"  # compliance_revision.scope of the operator's list; tenants use their id


class SensitiveWord(Base):
    """One listed word: the operator's global list (tenant_id None) or a tenant's own list."""

    __tablename__ = "sensitive_word"
    __table_args__ = (
        # Tenant lists: one row per spelling that normalizes alike (S.E.X and sex are one word).
        UniqueConstraint("tenant_id", "normalized"),
        # NULLs are distinct in a unique constraint on both backends, so the global list needs
        # its own partial index to stay free of duplicates.
        Index(
            "uq_sensitive_word_global_normalized",
            "normalized",
            unique=True,
            sqlite_where=text("tenant_id IS NULL"),
            postgresql_where=text("tenant_id IS NULL"),
        ),
        Index("ix_sensitive_word_tenant_id_id", "tenant_id", "id"),
    )

    id: Mapped[str] = id_column()
    tenant_id: Mapped[str | None] = mapped_column(ForeignKey("tenant.id"))
    word: Mapped[str] = mapped_column(String(WORD_MAX_LENGTH))
    # matcher.normalize(word): the uniqueness key only; the matcher re-normalizes when it builds,
    # so a change of normalization never leaves the automaton out of step with this column.
    normalized: Mapped[str] = mapped_column(String(4 * WORD_MAX_LENGTH))
    category: Mapped[str] = mapped_column(String(CATEGORY_MAX_LENGTH))
    action: Mapped[str] = mapped_column(String(16))  # block | review
    source: Mapped[str] = mapped_column(String(16), default="manual")  # default | manual | import
    created_at: Mapped[datetime] = created_at_column()


class ComplianceRevision(Base):
    """A counter per list, bumped in the same transaction as every change of that list.

    Processes compare it with the revision their cached automaton was built from, so a change
    made anywhere reaches every process without rebuilding per message. The global row also
    records that the shipped default words were seeded (it is created by that seeding).
    """

    __tablename__ = "compliance_revision"

    scope: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
