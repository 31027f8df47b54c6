"""Request and response bodies of the accounts domain."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from zoneinfo import available_timezones

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

Scope = Literal["send", "read", "manage"]
ALL_SCOPES: tuple[Scope, ...] = ("send", "read", "manage")
TenantStatus = Literal["active", "suspended"]
VerificationStatus = Literal["unverified", "pending", "verified", "rejected"]

_TIMEZONES = frozenset(available_timezones())


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


def _check_timezone(value: str | None) -> str | None:
    if value is not None and value not in _TIMEZONES:
        raise ValueError("not an IANA time zone such as Asia/Shanghai")
    return value


class TenantSettingsUpdate(_Strict):
    """What a tenant may change about itself."""

    timezone: str | None = Field(None, examples=["Asia/Shanghai"])
    contact_email: EmailStr | None = None

    _tz = field_validator("timezone")(_check_timezone)


class TenantCreate(_Strict):
    name: str = Field(min_length=1, max_length=100)
    timezone: str = "Asia/Shanghai"
    contact_email: EmailStr | None = None
    free_text_allowed: bool = False
    trusted: bool = False

    _tz = field_validator("timezone")(_check_timezone)


class TenantAdminUpdate(_Strict):
    """What the operator may change about a tenant (status has its own endpoints)."""

    name: str | None = Field(None, min_length=1, max_length=100)
    timezone: str | None = None
    contact_email: EmailStr | None = None
    free_text_allowed: bool | None = None
    trusted: bool | None = None

    _tz = field_validator("timezone")(_check_timezone)


class VerificationSubmit(_Strict):
    """Company details for enterprise verification (企业认证)."""

    company_name: str = Field(min_length=2, max_length=200)
    # 统一社会信用代码: 18 characters of digits and upper-case letters.
    registration_number: str = Field(min_length=5, max_length=50)
    legal_representative: str = Field(min_length=1, max_length=100)
    contact_name: str = Field(min_length=1, max_length=100)
    contact_phone: str = Field(min_length=5, max_length=30)
    address: str | None = Field(None, max_length=300)
    website: str | None = Field(None, max_length=300)


class VerificationReject(_Strict):
    reason: str = Field(min_length=1, max_length=500)


class VerificationOut(_Out):
    status: VerificationStatus
    details: dict[str, Any] | None
    reason: str | None
    submitted_at: datetime | None
    decided_at: datetime | None


class TenantOut(_Out):
    id: str = Field(examples=["ten_01jd3x8m2q0000000000000000"])
    name: str
    status: TenantStatus
    trusted: bool
    timezone: str
    free_text_allowed: bool
    contact_email: str | None
    verification: VerificationOut
    created_at: datetime


class KeyCreate(_Strict):
    name: str = Field(min_length=1, max_length=100)
    scopes: list[Scope] = Field(default_factory=lambda: list(ALL_SCOPES), min_length=1)
    test_mode: bool = Field(
        False, description="Test keys pass every check but send only to the simulator, unbilled."
    )


class KeyOut(_Out):
    id: str = Field(examples=["key_01jd3x8m2q0000000000000000"])
    tenant_id: str | None
    role: Literal["tenant", "operator"]
    name: str
    scopes: list[str]
    test_mode: bool
    status: Literal["active", "revoked"]
    secret_hint: str = Field(description="The last four characters of the secret.")
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class KeyCreated(KeyOut):
    secret: str = Field(description="Shown once, now; store it safely.")


class AuditOut(_Out):
    id: str
    actor_key_id: str | None
    actor_role: str
    tenant_id: str | None
    action: str
    target_id: str | None
    details: dict[str, Any] | None
    ip: str | None
    created_at: datetime
