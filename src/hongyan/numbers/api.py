"""``POST /v1/numbers/check``: validate up to 10,000 numbers at once."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header
from pydantic import BaseModel, ConfigDict, Field

from hongyan import errors
from hongyan.api.deps import Ctx, TenantRead
from hongyan.api.errors import ERROR_RESPONSES
from hongyan.numbers.check import check_numbers
from hongyan.numbers.parse import check_region
from hongyan.numbers.service import parser_of

router = APIRouter(prefix="/v1", tags=["numbers"], responses=ERROR_RESPONSES)


class NumbersCheck(BaseModel):
    model_config = ConfigDict(extra="forbid")

    numbers: list[str] = Field(min_length=1, examples=[["13800138000", "+86 139 1234 5678"]])
    region: str = Field(
        "CN",
        min_length=2,
        max_length=2,
        description="Region of numbers written without a country code.",
    )


class NumberOut(BaseModel):
    input: str
    e164: str | None
    valid: bool
    sendable: bool
    reason: str | None = Field(description="Catalog code when not sendable.")
    number_type: str
    region: str | None
    country_code: int | None
    carrier: str | None
    duplicate_of: int | None = Field(description="Index of the first entry with this number.")


class NumbersChecked(BaseModel):
    data: list[NumberOut]
    summary: dict[str, int]


@router.post("/numbers/check", summary="Validate, normalize and de-duplicate numbers")
async def check(
    body: NumbersCheck,
    _: TenantRead,
    ctx: Ctx,
    accept_language: Annotated[str | None, Header()] = None,
) -> NumbersChecked:
    lang = errors.lang_from_header(accept_language)
    result = check_numbers(
        parser_of(ctx), body.numbers, region=check_region(body.region), lang=lang
    )
    return NumbersChecked(
        data=[
            NumberOut(
                **{
                    name: getattr(e.info, name)
                    for name in (
                        "input",
                        "e164",
                        "valid",
                        "sendable",
                        "reason",
                        "number_type",
                        "region",
                        "country_code",
                        "carrier",
                    )
                },
                duplicate_of=e.duplicate_of,
            )
            for e in result.entries
        ],
        summary=dict(result.summary),
    )
