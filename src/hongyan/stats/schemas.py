"""Response bodies of the statistics endpoint."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, Field

GroupBy = Literal["day", "sign", "template", "country", "connector"]


class StatsRow(BaseModel):
    key: str | None = Field(
        description="The day (YYYY-MM-DD), sign, template id, country (ISO alpha-2) or "
        "connector id of this row; null for messages without one (no sign, free text, unknown "
        "country, not handed to any connector yet)."
    )
    submitted: int = Field(description="Messages accepted (for connector rows: 0, see docs).")
    sent: int = Field(description="Handed to a connector.")
    delivered: int
    undelivered: int = Field(description="The carrier reported it not delivered.")
    expired: int = Field(description="The carrier gave up within the validity.")
    failed: int = Field(description="Could not be sent (refused at submit, no route, expired).")
    canceled: int = Field(description="Scheduled, then canceled.")
    failures: int = Field(description="failed + undelivered + expired.")
    pending: int = Field(
        description="Without a final status yet; for connector rows: sent, awaiting a receipt."
    )
    delivery_rate: float | None = Field(
        description="delivered / (delivered + undelivered + expired); null when that is 0."
    )
    segments: int = Field(description="Billable segments of the accepted messages.")
    cost: int = Field(description="Priced at acceptance, in minor units of 'currency'.")


class StatsOut(BaseModel):
    group_by: GroupBy
    day_from: date = Field(serialization_alias="from")
    day_to: date = Field(serialization_alias="to")
    currency: str = Field(examples=["CNY"])
    rows: list[StatsRow]
    totals: StatsRow = Field(description="All rows together (key null).")
