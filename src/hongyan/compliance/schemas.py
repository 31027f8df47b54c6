"""Request and response bodies of the compliance domain."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from hongyan.models.compliance import CATEGORY_MAX_LENGTH, WORD_MAX_LENGTH

Action = Literal["block", "review"]
ImportFormat = Literal["auto", "text", "csv"]
TemplateKind = Literal["verification", "notification", "marketing"]

# The categories the shipped lists use; any other lower-case slug is accepted too.
STANDARD_CATEGORIES = ("fraud", "gambling", "adult", "political", "drugs", "spam", "custom")
CATEGORY_PATTERN = rf"^[a-z][a-z0-9_-]{{0,{CATEGORY_MAX_LENGTH - 1}}}$"
# Import bodies above this are refused before parsing; the CLI reads files of any size.
IMPORT_MAX_CHARS = 5_000_000

_CATEGORY_DOC = (
    "Lower-case slug: fraud, gambling, adult, political, drugs, spam, custom, or your own."
)
_ACTION_DOC = "block: the message is refused; review: it waits for an operator."


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WordCreate(_Strict):
    """One word to add to a list."""

    word: str = Field(min_length=1, max_length=WORD_MAX_LENGTH, examples=["刷单返利"])
    category: str = Field("custom", pattern=CATEGORY_PATTERN, description=_CATEGORY_DOC)
    action: Action = Field("block", description=_ACTION_DOC)


class WordImport(_Strict):
    """A word file to merge into a list: plain text (one word per line) or CSV."""

    content: str = Field(
        min_length=1,
        max_length=IMPORT_MAX_CHARS,
        description="Text: one word per line, '#' comments, optional '<TAB>review'. "
        "CSV: a header row with 'word' and optionally 'category' and 'action'.",
        examples=["# my list\n刷单返利\n兼职日结\treview\n"],
    )
    format: ImportFormat = Field("auto", description="auto: CSV when the header names 'word'.")
    category: str = Field(
        "custom", pattern=CATEGORY_PATTERN, description="For lines that name no category."
    )
    action: Action = Field("block", description="For lines that name no action.")


class ImportResult(BaseModel):
    added: int
    updated: int = Field(description="Listed already; category or action changed.")
    unchanged: int


class WordOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str = Field(examples=["wrd_01jd3x8m2q0000000000000000"])
    tenant_id: str | None = Field(description="None for the operator's global list.")
    word: str
    normalized: str = Field(description="What the matcher compares (see the compliance how-to).")
    category: str
    action: Action
    source: Literal["default", "manual", "import"]
    created_at: datetime


class ContentCheck(_Strict):
    """Text to check as it would be sent."""

    text: str = Field(min_length=1, max_length=10_000, examples=["澳门赌场，注册就送88元"])
    sign: str | None = Field(None, max_length=40, examples=["鸿雁科技"])
    template_kind: TemplateKind | None = None
    mainland: bool = Field(True, description="Mainland China: the sign is shown as 【sign】.")


class HitOut(BaseModel):
    word: str = Field(description="The listed word.")
    category: str
    action: Action
    start: int = Field(description="Offset in the submitted text (characters).")
    end: int = Field(description="End offset, exclusive.")
    matched: str = Field(description="The text as written, e.g. '赌 博' for the word '赌博'.")


class OptOutCheck(BaseModel):
    present: bool = Field(description="An accepted opt-out instruction is in the text.")
    phrases: list[str] = Field(description="The accepted phrases.")


class ContentCheckOut(BaseModel):
    blocked: bool = Field(description="A 'block' word is present: sending would be refused.")
    needs_review: bool = Field(description="Only 'review' words: an operator must look first.")
    hits: list[HitOut]
    display_text: str = Field(description="The text as the handset shows it.")
    encoding: Literal["gsm7", "ucs2"]
    characters: int
    units: int = Field(description="GSM-7 septets or UCS-2 code units.")
    segments: int = Field(description="Billable parts.")
    per_segment: int
    parts: list[str]
    opt_out: OptOutCheck | None = Field(None, description="Marketing only.")
