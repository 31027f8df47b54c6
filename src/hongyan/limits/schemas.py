"""Request and response bodies of the limits domain."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from hongyan.limits.policy import Kind

MAX_WINDOW_SECS = 31 * 86400  # a rolling window longer than a month is a cap: use monthly_cap
MAX_PER_WINDOW = 1_000_000
MAX_RULES_PER_KIND = 6
MAX_RATE_PER_SEC = 100_000
MAX_CAP = 2_000_000_000  # fits the INTEGER column on both backends


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Rule(_Strict):
    """At most ``max`` messages to one number in any ``window_secs`` seconds."""

    window_secs: int = Field(ge=1, le=MAX_WINDOW_SECS, examples=[60])
    max: int = Field(ge=1, le=MAX_PER_WINDOW, examples=[1])


class LimitsUpdate(_Strict):
    """A tenant's whole policy (PUT replaces it: what is left out goes back to its default)."""

    rules: dict[Kind, list[Rule] | None] = Field(
        default_factory=dict,
        description="Per-number rules by message kind. A kind left out (or null) keeps the "
        "defaults; an empty list means no per-number limit for that kind. Verification is "
        "counted per number and sign, notification and marketing per number and template.",
        examples=[
            {"verification": [{"window_secs": 60, "max": 1}, {"window_secs": 3600, "max": 5}]}
        ],
    )
    rate_per_sec: int | None = Field(
        None, ge=1, le=MAX_RATE_PER_SEC, description="Send requests per second; null: no limit."
    )
    daily_cap: int | None = Field(
        None,
        ge=1,
        le=MAX_CAP,
        description="Messages per day in the tenant's time zone; null: none.",
    )
    monthly_cap: int | None = Field(
        None, ge=1, le=MAX_CAP, description="Messages per calendar month; null: none."
    )


class LimitsOut(BaseModel):
    tenant_id: str
    rules: dict[Kind, list[Rule]] = Field(description="The rules in force for each kind.")
    customized: list[Kind] = Field(description="Kinds whose rules differ from the defaults.")
    rate_per_sec: int | None
    daily_cap: int | None
    monthly_cap: int | None
    timezone: str = Field(description="Days and months of the caps are counted in this zone.")
    used_today: int = Field(description="Messages counted toward today's cap so far.")
    used_this_month: int = Field(description="Messages counted toward this month's cap so far.")
    whitelisted: int = Field(description="Numbers on the whitelist.")
    revision: int = Field(description="Goes up with every change of the limits or whitelist.")
    updated_at: datetime | None


class WhitelistAdd(_Strict):
    msisdn: str = Field(
        min_length=1,
        max_length=64,
        description="The number; without a country code it is read in `region`.",
        examples=["+8613800138000"],
    )
    region: str = Field("CN", min_length=2, max_length=2, description="ISO 3166-1 region code.")
    note: str | None = Field(None, max_length=200, examples=["QA phone"])


class WhitelistEntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str = Field(examples=["lwl_01jd3x8m2q0000000000000000"])
    msisdn: str
    note: str | None
    created_at: datetime
