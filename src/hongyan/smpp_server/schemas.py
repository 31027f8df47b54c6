"""Request and response bodies of the SMPP credentials admin API."""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hongyan.models.smpp_server import PASSWORD_MAX, SYSTEM_ID_MAX

# Printable ASCII without spaces: what every SMPP client can type into a bind.
_SYSTEM_ID = r"^[!-~]+$"
_SOURCE = r"^[!-~]{1,20}$"  # source_addr: 21 octets with its NUL


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _cidrs(values: list[str] | None) -> list[str] | None:
    """Normalized CIDRs ("10.0.0.1" -> "10.0.0.1/32"); a bad one is refused with its text."""
    if values is None:
        return None
    out = []
    for value in values:
        try:
            out.append(str(ipaddress.ip_network(value.strip(), strict=False)))
        except ValueError:
            raise ValueError(f"{value!r} is not an IP address or CIDR") from None
    return list(dict.fromkeys(out))


def _sources(values: list[str] | None) -> list[str] | None:
    return None if values is None else list(dict.fromkeys(values))


class _Limits(_Strict):
    allowed_sources: list[str] | None = Field(
        None,
        max_length=200,
        description="source_addr values the tenant may submit with; empty: any.",
        examples=[["1069012345", "HONGYAN"]],
    )
    max_binds: int | None = Field(
        None, ge=1, le=100, description="Binds open at once, over every server process."
    )
    messages_per_sec: float | None = Field(
        None,
        gt=0,
        le=10_000,
        description="submit_sm per second over the credential's binds (per server process); "
        "beyond it: ESME_RTHROTTLED.",
    )
    ip_allowlist: list[str] | None = Field(
        None,
        max_length=200,
        description="CIDRs (or single addresses) binds may come from; empty: anywhere.",
        examples=[["203.0.113.0/24"]],
    )
    deliver_mo: bool | None = Field(
        None, description="Inbound (MO) messages of the tenant go to this credential's receivers."
    )
    note: str | None = Field(None, max_length=200)

    _ips = field_validator("ip_allowlist")(_cidrs)
    _srcs = field_validator("allowed_sources")(_sources)

    @field_validator("allowed_sources")
    @classmethod
    def _source_shape(cls, values: list[str] | None) -> list[str] | None:
        for value in values or []:
            if not re.fullmatch(_SOURCE, value):
                raise ValueError(f"{value!r} is not a source address (1-20 printable characters)")
        return values


class CredentialCreate(_Limits):
    tenant_id: str = Field(min_length=1, max_length=40)
    system_id: str = Field(
        min_length=1, max_length=SYSTEM_ID_MAX, pattern=_SYSTEM_ID, examples=["acme01"]
    )
    password: str | None = Field(
        None,
        min_length=6,
        max_length=PASSWORD_MAX,
        pattern=_SYSTEM_ID,
        description="Leave out to have one generated (recommended); shown once in the answer.",
    )
    enabled: bool = True


class CredentialUpdate(_Limits):
    """Fields given replace the stored ones; the password changes only by rotation."""

    enabled: bool | None = None


class CredentialRotate(_Strict):
    password: str | None = Field(
        None,
        min_length=6,
        max_length=PASSWORD_MAX,
        pattern=_SYSTEM_ID,
        description="Leave out to have one generated; binds already open stay open.",
    )


class CredentialOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str = Field(examples=["smc_01jd3x8m2q0000000000000000"])
    tenant_id: str
    system_id: str
    allowed_sources: list[str]
    max_binds: int
    messages_per_sec: float
    ip_allowlist: list[str]
    deliver_mo: bool
    enabled: bool
    note: str | None
    binds: int = Field(0, description="Binds open now, over every server process.")
    created_at: datetime
    updated_at: datetime
    password_changed_at: datetime
    last_bind_at: datetime | None


class CredentialCreated(CredentialOut):
    password: str | None = Field(
        description="Shown in this answer only (a replay of the same Idempotency-Key shows "
        "null: rotate to get a new one). Hongyan keeps only a hash."
    )
