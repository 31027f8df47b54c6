"""Response bodies of the reviews domain (findings, versions, the operator's queue)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from hongyan.errors import Lang
from hongyan.models import Review
from hongyan.reviews.findings import message


class FindingOut(BaseModel):
    """One reason found by the automatic review."""

    code: str = Field(examples=["OPT_OUT_MISSING"])
    severity: Literal["reject", "review"] = Field(
        description="reject: the submission was rejected for it; review: an operator decides."
    )
    message: str
    detail: dict[str, Any]


def findings_out(findings: list[dict[str, Any]], lang: Lang = "en") -> list[FindingOut]:
    """Stored findings with their messages in lang."""
    return [
        FindingOut(
            code=f["code"],
            severity=f["severity"],
            message=message(f["code"], f.get("detail", {}), lang),
            detail=f.get("detail", {}),
        )
        for f in findings
    ]


ReviewStatus = Literal["pending", "approved", "rejected", "superseded"]


class VersionOut(BaseModel):
    """One submitted version and what became of it (the tenant's view)."""

    version: int
    status: ReviewStatus
    submitted: dict[str, Any] = Field(description="The fields as submitted in this version.")
    findings: list[FindingOut]
    reason: str | None = Field(description="The operator's reason when rejected.")
    decided_by: Literal["operator", "cli", "system"] | None
    submitted_at: datetime
    decided_at: datetime | None


class ReviewOut(BaseModel):
    """One review of the operator's queue."""

    model_config = ConfigDict(from_attributes=True)

    id: str = Field(examples=["rev_01jd3x8m2q0000000000000000"])
    tenant_id: str
    subject_kind: Literal["sign", "template"]
    subject_id: str
    version: int
    status: ReviewStatus
    snapshot: dict[str, Any] = Field(description="What the tenant submitted.")
    findings: list[FindingOut]
    reason: str | None
    decided_by: str | None
    decided_by_key_id: str | None
    decided_at: datetime | None
    created_at: datetime


class ReviewReject(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500, description="Shown to the tenant.")


def version_out(review: Review, lang: Lang = "en") -> VersionOut:
    """The tenant's view of one review."""
    return VersionOut.model_validate(
        {
            "version": review.version,
            "status": review.status,
            "submitted": review.snapshot,
            "findings": findings_out(review.findings, lang),
            "reason": review.reason,
            "decided_by": review.decided_by,
            "submitted_at": review.created_at,
            "decided_at": review.decided_at,
        }
    )


def review_out(review: Review, lang: Lang = "en") -> ReviewOut:
    """The operator's view of one review."""
    data = {c: getattr(review, c) for c in ReviewOut.model_fields if c != "findings"}
    return ReviewOut.model_validate({**data, "findings": findings_out(review.findings, lang)})
