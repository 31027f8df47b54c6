"""Frequency-limit policies per tenant and the numbers each tenant exempts from them.

The counters themselves are not here: they live in Redis (or in process memory for the embedded
default), where checking and recording a hit is one atomic step.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hongyan.models.base import ID_LENGTH, Base, UTCDateTime, created_at_column, id_column, utcnow

MSISDN_LENGTH = 20  # E.164: '+' and at most 15 digits


class LimitPolicy(Base):
    """A tenant's limits; a tenant without a row has Aliyun's defaults and no caps.

    ``revision`` is bumped in the same transaction as every change of the policy or of the
    whitelist, so processes refresh their cached copy only when it moved.
    """

    __tablename__ = "limit_policy"

    tenant_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("tenant.id"), primary_key=True
    )
    # {kind: [{"window_secs": 60, "max": 1}, ...]} for the kinds the operator changed; a kind
    # not present keeps the default rules, an empty list means no per-number limit.
    rules: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    rate_per_sec: Mapped[int | None] = mapped_column(Integer)  # send requests per second
    daily_cap: Mapped[int | None] = mapped_column(Integer)  # messages per day (tenant's zone)
    monthly_cap: Mapped[int | None] = mapped_column(Integer)  # messages per calendar month
    revision: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class LimitWhitelist(Base):
    """A number of a tenant exempt from per-number frequency limits (its caps still apply)."""

    __tablename__ = "limit_whitelist"
    __table_args__ = (
        UniqueConstraint("tenant_id", "msisdn"),
        Index("ix_limit_whitelist_tenant_id_id", "tenant_id", "id"),
    )

    id: Mapped[str] = id_column()
    tenant_id: Mapped[str] = mapped_column(String(ID_LENGTH), ForeignKey("tenant.id"))
    msisdn: Mapped[str] = mapped_column(String(MSISDN_LENGTH))  # E.164
    note: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = created_at_column()
