"""Request and response bodies of the billing domain.

Every amount is an integer of minor units (fen for CNY, cents for USD) and travels with the
currency it is in: ``{"amount": 1000, "currency": "CNY"}`` is 10.00 yuan. Never floats.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

ChargePolicy = Literal["on_send", "on_delivery"]
PriceKind = Literal["verification", "notification", "marketing", "*"]
EntryKind = Literal["topup", "hold", "confirm", "refund", "adjustment"]

# Larger than any real balance, small enough that sums stay far inside a 64-bit integer.
MAX_AMOUNT = 10**15

Currency = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z]{3}$",
        description="ISO 4217 code, such as CNY, USD or EUR.",
        examples=["CNY"],
    ),
]
Country = Annotated[
    str,
    Field(
        pattern=r"^([A-Za-z]{2}|\*)$",
        description="ISO 3166-1 alpha-2 code of the destination, or * for every country "
        "without a price of its own.",
        examples=["CN"],
    ),
]
Note = Annotated[str | None, Field(max_length=500)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class PriceSet(_Strict):
    """Set the price of one segment to a country (and optionally for one kind of message)."""

    country: Country
    kind: PriceKind = Field("*", description="A message kind, or * for every kind.")
    unit_price: int = Field(ge=0, le=MAX_AMOUNT, description="Minor units per segment.")
    currency: Currency = "CNY"


class PriceOut(_Out):
    id: str = Field(examples=["prc_01jd3x8m2q0000000000000000"])
    country: str
    kind: str
    unit_price: int = Field(description="Minor units per segment, in currency.")
    currency: str
    created_at: datetime
    updated_at: datetime


class TopupIn(_Strict):
    amount: int = Field(gt=0, le=MAX_AMOUNT, description="Minor units of the account's currency.")
    note: Note = None


class AdjustIn(_Strict):
    amount: int = Field(
        ge=-MAX_AMOUNT,
        le=MAX_AMOUNT,
        description="Minor units, positive to credit or negative to debit; not zero.",
    )
    note: str = Field(min_length=1, max_length=500, description="Why; kept in the ledger.")

    @field_validator("amount")
    @classmethod
    def _not_zero(cls, value: int) -> int:
        if value == 0:
            raise ValueError("an adjustment of zero changes nothing")
        return value


class BillingUpdate(_Strict):
    """What the operator may change about a tenant's account (only the fields sent)."""

    currency: Currency | None = Field(
        None, description="Changes only while the balance and held amount are both zero."
    )
    charge_policy: ChargePolicy | None = None
    low_balance_threshold: int | None = Field(
        None, ge=0, le=MAX_AMOUNT, description="Minor units; null turns the warning off."
    )


class AccountOut(_Out):
    """A tenant's balance and billing terms."""

    tenant_id: str
    currency: str
    balance: int = Field(description="What may still be spent, in minor units of currency.")
    held: int = Field(description="Taken for accepted messages not yet confirmed or refunded.")
    charge_policy: ChargePolicy = Field(
        description="on_send: charged when sent; on_delivery: only when delivered."
    )
    low_balance_threshold: int | None
    low_balance: bool = Field(description="The balance is below low_balance_threshold.")


class LedgerEntryOut(_Out):
    id: str = Field(examples=["led_01jd3x8m2q0000000000000000"])
    tenant_id: str
    kind: EntryKind
    amount: int = Field(description="Signed minor units: negative for holds, 0 for confirms.")
    currency: str
    balance_after: int
    message_id: str | None
    note: str | None
    created_at: datetime
