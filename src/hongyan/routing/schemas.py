"""Request and response bodies of the routing domain: connectors, routes, health."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

MessageKind = Literal["verification", "notification", "marketing"]
BreakerState = Literal["closed", "open", "half_open"]

_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"
_PREFIX = re.compile(r"^\+\d{1,15}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# --- connectors -------------------------------------------------------------------------------


class ConnectorCreate(_Strict):
    name: str = Field(min_length=1, max_length=64, pattern=_NAME, examples=["cmcc-smpp-1"])
    kind: str = Field(min_length=1, max_length=32, examples=["simulator"])
    settings: dict[str, Any] = Field(
        default_factory=dict, description="As the kind's settings schema says (connector-kinds)."
    )
    enabled: bool = True


class ConnectorUpdate(_Strict):
    """Top-level settings keys given replace the stored ones; a secret sent as *** is kept."""

    name: str | None = Field(None, min_length=1, max_length=64, pattern=_NAME)
    settings: dict[str, Any] | None = None
    enabled: bool | None = None


class NodeHealthOut(BaseModel):
    node: str = Field(description="The process (host:pid) whose sends these are.")
    attempts: int
    failures: int
    latency_avg_ms: float | None
    latency_max_ms: float | None
    breaker: BreakerState
    consecutive_failures: int
    opened_at: datetime | None
    updated_at: datetime


class QualityOut(BaseModel):
    """Delivery quality over the quality window: what lowers or restores a connector's share."""

    state: Literal["healthy", "degraded"] = Field(
        description="degraded: its route weight is cut to weight_percent within its priority."
    )
    reason: str = Field(description="The figures that decided (or why it was not judged).")
    changed_at: datetime | None = Field(description="The last switch; null if never switched.")
    window_secs: int | None = None
    final_receipts: int = 0
    delivered: int = 0
    delivery_percent: float | None = None
    receipt_latency_avg_secs: float | None = None
    weight_percent: float = Field(100.0, description="Share of its route weight it keeps now.")
    updated_at: datetime | None = Field(None, description="When these figures were computed.")


class HealthOut(BaseModel):
    """Recent health over every process that sent through the connector lately."""

    connector_id: str
    window_secs: int
    attempts: int = Field(description="Messages handed over in the window.")
    failures: int = Field(description="Of those, retryable failures.")
    success_rate: float | None = Field(description="1 - failures/attempts; null without traffic.")
    latency_avg_ms: float | None
    latency_max_ms: float | None
    breaker: BreakerState = Field(description="The most open breaker of any process.")
    nodes: list[NodeHealthOut]
    quality: QualityOut | None = None


class ConnectorOut(BaseModel):
    id: str = Field(examples=["con_01jd3x8m2q0000000000000000"])
    name: str
    kind: str
    settings: dict[str, Any] = Field(description="Secrets appear as ***.")
    enabled: bool
    simulated: bool = Field(description="True for simulator connectors: nothing reaches a phone.")
    max_segments: int | None
    created_at: datetime
    updated_at: datetime
    health: HealthOut | None = None
    quality: QualityOut | None = None


class ConnectorKindOut(BaseModel):
    kind: str
    max_segments: int | None
    rate_per_sec: float | None
    simulated: bool
    secret_settings: list[str]
    settings_schema: dict[str, Any]


class SimulateInbound(_Strict):
    msisdn: str = Field(
        min_length=3,
        max_length=20,
        description="The handset's number, E.164.",
        examples=["+8613800138000"],
    )
    to: str = Field(
        min_length=1,
        max_length=21,
        description="Number or extension code it was sent to.",
        examples=["1069000012345"],
    )
    text: str = Field(min_length=1, max_length=1000, examples=["TD"])


class InboundOut(BaseModel):
    connector_id: str
    msisdn: str
    to: str
    text: str
    received_at: datetime | None
    upstream_id: str | None
    simulated: bool = True


# --- routes -----------------------------------------------------------------------------------


def _countries(values: list[str] | None) -> list[str] | None:
    if values is None:
        return None
    upper = [v.strip().upper() for v in values]
    bad = [v for v in upper if not _COUNTRY.match(v)]
    if bad:
        raise ValueError(f"not ISO 3166 alpha-2 country codes: {', '.join(bad)}")
    return list(dict.fromkeys(upper))


def _prefixes(values: list[str] | None) -> list[str] | None:
    if values is None:
        return None
    bad = [v for v in values if not _PREFIX.match(v)]
    if bad:
        raise ValueError(f"not E.164 prefixes such as +86139: {', '.join(bad)}")
    return list(dict.fromkeys(values))


class _RouteFilters(_Strict):
    countries: list[str] | None = Field(None, min_length=1, max_length=300, examples=[["CN"]])
    prefixes: list[str] | None = Field(None, min_length=1, max_length=1000, examples=[["+86139"]])
    carriers: list[str] | None = Field(
        None, min_length=1, max_length=50, examples=[["China Mobile"]]
    )
    kinds: list[MessageKind] | None = Field(None, min_length=1)
    tenant_ids: list[str] | None = Field(None, min_length=1, max_length=1000)

    _c = field_validator("countries")(_countries)
    _p = field_validator("prefixes")(_prefixes)


class RouteCreate(_RouteFilters):
    """A route; filters left out (or null) match anything."""

    name: str = Field(min_length=1, max_length=64, pattern=_NAME, examples=["cn-mobile"])
    connector_id: str = Field(
        min_length=1, max_length=64, description="The connector's id or name."
    )
    priority: int = Field(100, ge=0, le=1_000_000, description="Lower is tried first.")
    weight: int = Field(1, ge=1, le=10_000, description="Share of traffic within one priority.")
    enabled: bool = True


class RouteUpdate(_RouteFilters):
    """Fields given replace the stored ones; a filter set to null matches anything again."""

    name: str | None = Field(None, min_length=1, max_length=64, pattern=_NAME)
    connector_id: str | None = Field(None, min_length=1, max_length=64)
    priority: int | None = Field(None, ge=0, le=1_000_000)
    weight: int | None = Field(None, ge=1, le=10_000)
    enabled: bool | None = None


class RouteOut(_Out):
    id: str = Field(examples=["rte_01jd3x8m2q0000000000000000"])
    name: str
    priority: int
    weight: int
    connector_id: str
    countries: list[str] | None
    prefixes: list[str] | None
    carriers: list[str] | None
    kinds: list[str] | None
    tenant_ids: list[str] | None
    enabled: bool
    created_at: datetime
    updated_at: datetime


class ResolveRequest(_Strict):
    """A message to route without sending it: where would it go?"""

    to: str = Field(min_length=3, max_length=64, examples=["+8613800138000"])
    kind: MessageKind = "notification"
    tenant_id: str | None = None
    region: str = Field("CN", min_length=2, max_length=2, description="For numbers without +.")
    carrier: str | None = Field(None, description="Overrides the carrier found for the number.")
    test_mode: bool = False


class ResolvedConnector(BaseModel):
    id: str
    name: str
    kind: str
    breaker: BreakerState


class ResolveOut(BaseModel):
    msisdn: str
    region: str | None
    carrier: str | None
    connectors: list[ResolvedConnector] = Field(description="In the order they would be tried.")
