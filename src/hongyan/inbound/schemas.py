"""Request and response bodies of the inbound domain: inbound messages and suppressions."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Source = Literal["opt_out", "manual", "import", "complaint"]
OptAction = Literal["opt_out", "opt_in"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class InboundOut(_Out):
    id: str = Field(examples=["inb_01jd3x8m2q0000000000000000"])
    msisdn: str = Field(description="The sender, E.164.", examples=["+8613800138000"])
    to: str = Field(description="The number or extension code it was sent to.")
    text: str
    connector_id: str
    opt_action: OptAction | None = Field(
        description="opt_out or opt_in when the whole message was such a keyword."
    )
    in_reply_to: str | None = Field(
        validation_alias="message_id",
        description="The last outbound message to the sender, which named the tenant.",
    )
    received_at: datetime
    created_at: datetime


class AdminInboundOut(InboundOut):
    tenant_id: str | None = Field(description="None: no outbound message to the sender.")


class SuppressionCreate(_Strict):
    msisdn: str = Field(
        max_length=64,
        examples=["+8613800138000"],
        description="E.164, or as dialled in 'region'.",
    )
    region: str = Field("CN", min_length=2, max_length=2, description="For numbers without '+'.")
    source: Source = "manual"
    note: str | None = Field(None, max_length=500)


class SuppressionOut(_Out):
    msisdn: str = Field(examples=["+8613800138000"])
    source: Source = Field(
        description="opt_out (the recipient replied a keyword), manual, import or complaint."
    )
    note: str | None
    created_at: datetime
