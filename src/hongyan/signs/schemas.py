"""Request and response bodies of the signs domain."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from hongyan.reviews.schemas import FindingOut

SignPurpose = Literal["verification", "general"]
SignSource = Literal[
    "company", "app", "website", "official_account", "ecommerce_store", "trademark"
]
SignStatus = Literal["pending", "approved", "rejected", "canceled"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SignCreate(_Strict):
    """A sign name to apply for; qualification files are uploaded afterwards."""

    # Checked by the service (2-12 characters, no emoji or brackets) for a precise reason.
    name: str = Field(max_length=100, examples=["鸿雁科技"])
    purpose: SignPurpose = Field(
        description="verification: may send verification templates only; general: any kind."
    )
    source: SignSource = Field(description="What the name is: a company, app, website, ...")
    remark: str | None = Field(None, max_length=500, description="Notes for the reviewer.")


class SignUpdate(_Strict):
    """Fields to change; the sign goes back to review."""

    name: str | None = Field(None, max_length=100)
    purpose: SignPurpose | None = None
    source: SignSource | None = None
    remark: str | None = Field(None, max_length=500)


class FileOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str = Field(examples=["fil_01jd3x8m2q0000000000000000"])
    filename: str
    content_type: Literal["application/pdf", "image/png", "image/jpeg"]
    size_bytes: int
    sha256: str
    created_at: datetime


class SignOut(BaseModel):
    id: str = Field(examples=["sgn_01jd3x8m2q0000000000000000"])
    name: str
    purpose: SignPurpose
    source: SignSource
    remark: str | None
    status: SignStatus
    findings: list[FindingOut] = Field(description="What the automatic checks found.")
    reason: str | None = Field(description="Why the operator rejected it.")
    version: int
    files: list[FileOut]
    submitted_at: datetime
    decided_at: datetime | None
    canceled_at: datetime | None
    created_at: datetime
    updated_at: datetime
