"""Inbound (MO) messages."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hongyan.models.base import ID_LENGTH, Base, UTCDateTime, created_at_column, id_column


class InboundMessage(Base):
    """A message from a handset, with the tenant it was matched to (None when unmatched)."""

    __tablename__ = "inbound_message"
    __table_args__ = (
        Index("ix_inbound_message_tenant_id_id", "tenant_id", "id"),
        Index("ix_inbound_message_tenant_id_msisdn_id", "tenant_id", "msisdn", "id"),
        # A connector that hands the same MO over twice (it resends what it was not sure we
        # stored) gets it stored once.
        Index(
            "uq_inbound_message_connector_id_upstream_id",
            "connector_id",
            "upstream_id",
            unique=True,
        ),
    )

    id: Mapped[str] = id_column()
    tenant_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    connector_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    upstream_id: Mapped[str | None] = mapped_column(String(100))
    msisdn: Mapped[str] = mapped_column(String(20))  # the sender, E.164
    to: Mapped[str] = mapped_column(String(32))  # the number or extension code it was sent to
    text: Mapped[str] = mapped_column(Text)
    opt_action: Mapped[str | None] = mapped_column(String(8))  # opt_out | opt_in | None
    # The outbound message it answers (the last one to this number), which named the tenant.
    message_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = created_at_column()
