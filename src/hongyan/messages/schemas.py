"""Request and response bodies of the sending API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hongyan import errors

Kind = Literal["verification", "notification", "marketing"]
Status = Literal[
    "scheduled",
    "queued",
    "sending",
    "sent",
    "delivered",
    "undelivered",
    "expired",
    "failed",
    "canceled",
]
MAX_BATCH = 1000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _stringify(params: dict[str, Any]) -> dict[str, str]:
    # Aliyun requires string values; numbers are accepted here and kept as written.
    out = {}
    for key, value in params.items():
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ValueError(f"params.{key} must be a string or a number")
        out[str(key)] = str(value)
    return out


class _Common(_Strict):
    template: str | None = Field(None, max_length=40, description="Template code (tpl_...).")
    body: str | None = Field(
        None, min_length=1, max_length=1000, description="Free text, where the account allows it."
    )
    kind: Kind | None = Field(
        None,
        description="Kind of a free-text message; templates carry their own. Default notification.",
    )
    send_at: datetime | None = Field(None, description="Schedule for later (RFC 3339).")
    validity: int | None = Field(
        None,
        ge=60,
        le=7 * 86400,
        description="Seconds after acceptance (or send_at) after "
        "which an unsent message fails with EXPIRED.",
    )
    callback_url: str | None = Field(None, max_length=500, pattern=r"^https?://")
    tag: str | None = Field(None, max_length=64)
    region: str | None = Field(
        None,
        min_length=2,
        max_length=2,
        description="Default region for numbers without a country code (ISO 3166, default CN).",
    )

    @model_validator(mode="after")
    def _template_or_body(self) -> _Common:
        if (self.template is None) == (self.body is None):
            raise errors.TEMPLATE_OR_BODY_REQUIRED(field="template")
        return self


class SendRequest(_Common):
    to: str = Field(min_length=3, max_length=32, examples=["+8613800138000"])
    sign: str | None = Field(None, max_length=32, examples=["鸿雁"])
    params: dict[str, Any] = Field(default_factory=dict, examples=[{"code": "123456"}])
    out_id: str | None = Field(None, max_length=64, description="Your own id, searchable.")

    _params = field_validator("params")(_stringify)


class BatchRecipient(_Strict):
    to: str = Field(min_length=3, max_length=32)
    params: dict[str, Any] = Field(default_factory=dict)
    sign: str | None = Field(None, max_length=32, description="Overrides the batch's sign.")
    out_id: str | None = Field(None, max_length=64)

    _params = field_validator("params")(_stringify)


class BatchRequest(_Common):
    sign: str | None = Field(None, max_length=32)
    recipients: list[BatchRecipient] = Field(min_length=1, max_length=MAX_BATCH)


class ErrorOut(BaseModel):
    code: str
    message: str
    field: str | None = None


class MessageOut(BaseModel):
    id: str = Field(examples=["msg_01m8a0000000000000000000"])
    status: Status
    to: str
    kind: Kind
    sign: str | None
    template: str | None
    text: str = Field(description="The text as the handset shows it.")
    encoding: Literal["gsm7", "ucs2"]
    segments: int
    price: int = Field(description="Minor units of currency (e.g. fen), for all segments.")
    currency: str
    send_at: datetime | None
    validity_until: datetime | None
    out_id: str | None
    tag: str | None
    test_mode: bool
    connector_id: str | None
    error: ErrorOut | None
    raw_code: str | None = Field(description="The carrier's or vendor's own code, for support.")
    created_at: datetime
    sent_at: datetime | None
    done_at: datetime | None


class EventOut(BaseModel):
    status: str
    code: str | None
    detail: str | None
    connector_id: str | None
    at: datetime


class PartOut(BaseModel):
    seq: int
    connector_id: str
    upstream_id: str
    status: str
    error_code: str | None
    raw_code: str | None
    done_at: datetime | None


class MessageDetail(MessageOut):
    history: list[EventOut]
    parts: list[PartOut]


class RejectedOut(BaseModel):
    index: int
    to: str
    error: ErrorOut


class BatchOut(BaseModel):
    accepted: list[MessageOut]
    rejected: list[RejectedOut]
