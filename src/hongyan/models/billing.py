"""Prices, each tenant's billing account (balance, currency, charge policy) and the ledger.

Money is always an integer of minor units (fen, cents) next to its ISO 4217 currency code.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from hongyan.models.base import ID_LENGTH, Base, UTCDateTime, created_at_column, id_column, utcnow

ANY = "*"  # price.country / price.kind matching every country / kind without a price of its own


class Price(Base):
    """The price of one segment to a destination country, optionally for one message kind."""

    __tablename__ = "price"
    __table_args__ = (
        # "*" rather than NULL for "any": NULLs are distinct in a unique constraint.
        UniqueConstraint("country", "kind"),
        CheckConstraint("unit_price >= 0", name="unit_price_not_negative"),
    )

    id: Mapped[str] = id_column()
    country: Mapped[str] = mapped_column(String(2))  # ISO 3166-1 alpha-2, or "*"
    kind: Mapped[str] = mapped_column(String(16))  # verification | notification | marketing | *
    unit_price: Mapped[int] = mapped_column(BigInteger)  # minor units per segment
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class BillingAccount(Base):
    """A tenant's balance; the row is locked while it changes, so changes are serialized.

    ``balance`` is what the tenant may still spend (holds already taken off); ``held`` is the
    part of the spending not yet confirmed or refunded. balance == sum of the tenant's ledger.
    """

    __tablename__ = "billing_account"
    __table_args__ = (
        CheckConstraint("balance >= 0", name="balance_not_negative"),
        CheckConstraint("held >= 0", name="held_not_negative"),
        CheckConstraint("charge_policy IN ('on_send', 'on_delivery')", name="charge_policy"),
    )

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenant.id"), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3))
    charge_policy: Mapped[str] = mapped_column(String(16))  # on_send | on_delivery
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    held: Mapped[int] = mapped_column(BigInteger, default=0)
    low_balance_threshold: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class LedgerEntry(Base):
    """One change of a balance: topup, hold, confirm (amount 0), refund or adjustment."""

    __tablename__ = "ledger_entry"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('topup', 'hold', 'confirm', 'refund', 'adjustment')", name="kind"
        ),
        Index("ix_ledger_entry_tenant_id_id", "tenant_id", "id"),
        Index("ix_ledger_entry_message_id", "message_id"),
        # At most one hold and one final entry (confirm or refund) per message, whatever races.
        Index(
            "uq_ledger_entry_hold_message_id",
            "message_id",
            unique=True,
            sqlite_where=text("kind = 'hold'"),
            postgresql_where=text("kind = 'hold'"),
        ),
        Index(
            "uq_ledger_entry_final_message_id",
            "message_id",
            unique=True,
            sqlite_where=text("kind IN ('confirm', 'refund')"),
            postgresql_where=text("kind IN ('confirm', 'refund')"),
        ),
        Index(
            "uq_ledger_entry_tenant_id_idempotency_key",
            "tenant_id",
            "idempotency_key",
            unique=True,
            sqlite_where=text("idempotency_key IS NOT NULL"),
            postgresql_where=text("idempotency_key IS NOT NULL"),
        ),
    )

    id: Mapped[str] = id_column()
    # No foreign key: every entry is written under the lock of billing_account, whose key is
    # checked; a per-row check would cost a lookup for each of a batch's thousand holds.
    tenant_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    kind: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(BigInteger)  # signed minor units; 0 for confirm
    currency: Mapped[str] = mapped_column(String(3))
    balance_after: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    note: Mapped[str | None] = mapped_column(Text)
    # Operator top-ups and adjustments sent with an Idempotency-Key are applied once.
    idempotency_key: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = created_at_column()


class BillingRevision(Base):
    """A counter bumped with every price change; processes reload their price table on a move."""

    __tablename__ = "billing_revision"

    scope: Mapped[str] = mapped_column(String(32), primary_key=True)  # "prices"
    revision: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
