"""Request and response bodies of the templates domain."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from hongyan.reviews.schemas import FindingOut

TemplateKind = Literal["verification", "notification", "marketing"]
TemplateStatus = Literal["pending", "approved", "rejected", "canceled"]
VariableType = Literal["digits", "letters", "amount", "date", "text"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VariableRule(_Strict):
    """What values a variable accepts."""

    type: VariableType = Field(
        "text",
        description="digits: 0-9 only; letters: A-Z/a-z only; amount: 1234, 1,234.50, ¥12; "
        "date: 2026-11-25, 2026/11/25, 2026年11月25日, optionally with HH:MM[:SS]; text: any.",
    )
    max_length: int | None = Field(
        None, ge=1, le=500, description="At most this many characters (default 35)."
    )


class TemplateCreate(_Strict):
    kind: TemplateKind
    international: bool = Field(False, description="For numbers outside mainland China.")
    name: str = Field(min_length=1, max_length=30, examples=["Login code"])
    # The review rejects content over 500 characters (listed with the other reasons); the
    # larger hard limit only keeps absurd bodies out of the database.
    content: str = Field(
        min_length=1, max_length=2000, examples=["您的验证码是${code},5分钟内有效。"]
    )
    variables: dict[str, VariableRule] = Field(
        default_factory=dict, description="Optional rules per variable name."
    )
    remark: str | None = Field(None, max_length=500, description="Notes for the reviewer.")


class TemplateUpdate(_Strict):
    """Fields to change; the template is reviewed again."""

    kind: TemplateKind | None = None
    international: bool | None = None
    name: str | None = Field(None, min_length=1, max_length=30)
    content: str | None = Field(None, min_length=1, max_length=2000)
    variables: dict[str, VariableRule] | None = None
    remark: str | None = Field(None, max_length=500)


class TemplateOut(BaseModel):
    id: str = Field(
        examples=["tpl_01jd3x8m2q0000000000000000"],
        description="Also the template code to send with.",
    )
    kind: TemplateKind
    international: bool
    name: str
    content: str
    variables: dict[str, VariableRule]
    variable_names: list[str] = Field(description="The variables of the content, in order.")
    remark: str | None
    status: TemplateStatus
    findings: list[FindingOut] = Field(description="What the automatic review found.")
    reason: str | None = Field(description="Why the operator rejected it.")
    version: int
    submitted_at: datetime
    decided_at: datetime | None
    canceled_at: datetime | None
    created_at: datetime
    updated_at: datetime


class RenderRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)

    params: dict[str, str] = Field(default_factory=dict, examples=[{"code": "482913"}])
    sign: str | None = Field(
        None, description="A sign name of yours, to count it in the segments as 【sign】."
    )


class SegmentsOut(BaseModel):
    text: str = Field(description="The text as the handset gets it, sign included.")
    encoding: Literal["gsm7", "ucs2"]
    characters: int
    units: int = Field(description="GSM-7 septets or UTF-16 units.")
    segments: int = Field(description="Billed messages.")
    per_segment: int
    parts: list[str]


class HitOut(BaseModel):
    word: str
    category: str
    action: Literal["block", "review"]
    start: int
    end: int


class RenderOut(BaseModel):
    text: str
    sign: str | None
    segments: SegmentsOut
    review_hits: list[HitOut] = Field(
        description="Words of a list with action review (a block word refuses the render)."
    )
