"""Leases on the binds of connectors that allow only so many links (SMPP)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from hongyan.models.base import ID_LENGTH, Base, UTCDateTime, utcnow


class ConnectorBindLease(Base):
    """One bind (or transmitter + receiver pair) of a connector, held by one worker process.

    The owner renews ``lease_until`` at every heartbeat; once it has passed, any worker may
    take the bind over. Only the owner opens the bind, and only it sends the messages routed
    to the connector (the others hand them over, see ``routing.binds``).
    """

    __tablename__ = "connector_bind_lease"

    connector_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    bind_index: Mapped[int] = mapped_column(Integer, primary_key=True)  # 0 .. binds-1
    owner: Mapped[str] = mapped_column(String(64))  # host:pid:random, as on message leases
    lease_until: Mapped[datetime] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The owner's link for this bind was bound at its last heartbeat; other workers stop
    # handing messages over to an owner that cannot bind, and fail over instead.
    bound: Mapped[bool] = mapped_column(Boolean, default=False)
