"""Connectors (with their settings), routes to them, their health, and the routing revision."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from hongyan.models.base import ID_LENGTH, Base, UTCDateTime, created_at_column, id_column, utcnow

ROUTING_SCOPE = "routing"  # the one routing_revision row, bumped by every connector/route change


class Connector(Base):
    """A way to reach handsets (simulator, SMPP link, HTTP vendor) and its settings."""

    __tablename__ = "connector"

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    # Validated by the kind's settings model; the kind's secret keys hold
    # {"$encrypted": <Fernet token>} instead of their value (see routing.secrets).
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Bumped on every change, so a process rebuilds only the connectors that changed.
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class Route(Base):
    """Filters -> a connector. Null filters match anything; lower priority is tried first."""

    __tablename__ = "route"
    __table_args__ = (Index("ix_route_connector_id", "connector_id"),)

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(String(64), unique=True)
    priority: Mapped[int] = mapped_column(Integer, default=100)
    weight: Mapped[int] = mapped_column(Integer, default=1)
    connector_id: Mapped[str] = mapped_column(ForeignKey("connector.id"))
    countries: Mapped[list[str] | None] = mapped_column(JSON)  # ISO 3166 alpha-2
    prefixes: Mapped[list[str] | None] = mapped_column(JSON)  # E.164 prefixes, "+86139"
    carriers: Mapped[list[str] | None] = mapped_column(JSON)  # as the numbers domain names them
    kinds: Mapped[list[str] | None] = mapped_column(JSON)  # verification | notification | ...
    tenant_ids: Mapped[list[str] | None] = mapped_column(JSON)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class ConnectorHealth(Base):
    """One process's recent view of a connector, written periodically by its worker job.

    Each process (node) sees only its own sends, so rows are kept per node and the API adds
    up the fresh ones.
    """

    __tablename__ = "connector_health"

    connector_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    node: Mapped[str] = mapped_column(String(64), primary_key=True)  # host:pid
    window_secs: Mapped[int] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(BigInteger, default=0)  # in the window
    failures: Mapped[int] = mapped_column(BigInteger, default=0)  # retryable, in the window
    latency_avg_ms: Mapped[float | None] = mapped_column(Float)
    latency_max_ms: Mapped[float | None] = mapped_column(Float)
    breaker: Mapped[str] = mapped_column(String(16), default="closed")  # closed|open|half_open
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class RoutingRevision(Base):
    """A counter bumped in the same transaction as every connector or route change.

    Processes compare it with the revision their routing table and live connectors were
    built from (at most once per ``routing_refresh_secs``), so a change made anywhere reaches
    every process without a query per message.
    """

    __tablename__ = "routing_revision"

    scope: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
