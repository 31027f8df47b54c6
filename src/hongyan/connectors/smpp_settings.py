"""Settings of an SMPP connector (docs/how-to/connect-a-carrier-smpp.md explains each)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from hongyan.smpp import DataCoding

IdFormat = Literal["hex", "dec"]
BindModeSetting = Literal["transceiver", "transmitter_receiver"]


class SmppSettings(BaseModel):
    """Settings of an SMPP connector (see docs/how-to/connect-a-carrier-smpp.md)."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field(min_length=1, max_length=255, description="The SMSC's host name or IP.")
    port: int = Field(2775, ge=1, le=65535)
    tls: bool = Field(False, description="Connect with TLS (often port 3550 or 8775).")
    tls_verify: bool = Field(True, description="Check the SMSC's certificate and host name.")
    system_id: str = Field(min_length=1, max_length=15, description="Bind login.")
    password: str = Field(max_length=8, description="Bind password (secret).")
    system_type: str = Field("", max_length=12, description="Bind system_type, if required.")
    bind_mode: BindModeSetting = Field(
        "transceiver",
        description="One transceiver link both ways, or a transmitter link for submits plus "
        "a receiver link for receipts and MO.",
    )
    binds: int = Field(
        1,
        ge=1,
        le=32,
        description="Binds (transceivers, or transmitter + receiver pairs) the carrier allows; "
        "submits are spread over the bound ones.",
    )
    window: int = Field(10, ge=1, le=1000, description="Unanswered PDUs at most, per bind.")
    rate_per_sec: float | None = Field(
        None,
        gt=0,
        le=10_000,
        description="submit_sm per second at most, for the whole connector; None: window only.",
    )
    source_addr: str = Field("", max_length=20, description="Sender when a message has none.")
    source_addr_ton: int = Field(5, ge=0, le=6, description="5 alphanumeric, 1 international.")
    source_addr_npi: int = Field(0, ge=0, le=18)
    dest_addr_ton: int = Field(1, ge=0, le=6, description="1: international (E.164).")
    dest_addr_npi: int = Field(1, ge=0, le=18, description="1: ISDN (E.164).")
    default_data_coding: int = Field(
        DataCoding.SMSC_DEFAULT,
        ge=0,
        le=255,
        description="data_coding for GSM-7 messages (0 SMSC default; some SMSCs want 1).",
    )
    long_messages: Literal["udh8", "udh16", "sar", "payload"] = Field(
        "udh8", description="Concatenation: 8/16-bit UDH, SAR TLVs, or one message_payload."
    )
    submit_id_format: IdFormat = Field("hex", description="How submit_sm_resp writes ids.")
    receipt_id_format: IdFormat = Field("hex", description="How receipts write ids.")
    receipt_id_source: Literal["tlv", "text"] = Field(
        "tlv", description="Which wins when a receipt has both the TLVs and the text."
    )
    mo_reassembly_secs: float = Field(
        30.0,
        ge=0,
        le=600,
        description="How long the parts of a concatenated MO message are held for the rest; "
        "then each part that came is delivered alone. 0: never reassemble.",
    )
    connect_timeout_secs: float = Field(10.0, gt=0, le=300)
    response_timeout_secs: float = Field(10.0, gt=0, le=300)
    enquire_link_secs: float = Field(30.0, gt=0, le=3600)
    reconnect_min_secs: float = Field(1.0, gt=0, le=3600)
    reconnect_max_secs: float = Field(60.0, gt=0, le=3600)
    throttle_backoff_secs: float = Field(1.0, ge=0, le=300, description="First pause.")
    throttle_retries: int = Field(5, ge=0, le=100)
    unbind_timeout_secs: float = Field(5.0, gt=0, le=300)


def bind_slots(settings: Mapping[str, Any]) -> int:
    """The leased binds of a connector with these (stored) settings: ``binds``, 1 by default."""
    value = settings.get("binds", 1)
    return value if isinstance(value, int) and value > 0 else 1
