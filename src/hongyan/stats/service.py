"""Statistics of a tenant's messages, summed from the maintained ``message_stat`` counters.

Counters are kept per (tenant, UTC day of acceptance, sign, template, country, connector) by
``messages.transitions`` as messages move, so a question about a range of days reads a few
hundred or thousand counter rows, never the message table. Outcomes count on the day the
message was **accepted**, not the day its receipt came back.

The connector of a counter row is the one that sent the message: ``submitted`` is counted at
acceptance, before any connector is chosen, so it sits on the row with no connector (``key``
null when grouping by connector), together with messages that failed or were canceled before
anyone sent them. A connector's row counts what it was handed (``sent``) and how that ended;
its ``pending`` is what it sent that still waits for a receipt, while the null row's
``pending`` is what was accepted and not yet handed to any connector.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from hongyan import errors
from hongyan.billing import service as billing
from hongyan.messages import repository as messages_repo
from hongyan.stats.schemas import GroupBy, StatsOut, StatsRow

# API name -> message_stat column.
COLUMNS: dict[str, str] = {
    "day": "day",
    "sign": "sign",
    "template": "template_id",
    "country": "region",
    "connector": "connector_id",
}
COUNTERS = ("submitted", "sent", "delivered", "undelivered", "expired", "failed", "canceled")
DEFAULT_DAYS = 7
MAX_DAYS = 366


def day_range(day_from: date | None, day_to: date | None, *, today: date) -> tuple[date, date]:
    """The range asked for, defaulting to the last 7 days (UTC) ending ``to`` or today."""
    day_to = day_to or today
    day_from = day_from or day_to - timedelta(days=DEFAULT_DAYS - 1)
    if day_from > day_to:
        raise errors.STATS_RANGE_INVALID(field="from", day_from=day_from, day_to=day_to)
    days = (day_to - day_from).days + 1
    if days > MAX_DAYS:
        raise errors.STATS_RANGE_TOO_LONG(field="from", days=days, max_days=MAX_DAYS)
    return day_from, day_to


async def stats(
    session: AsyncSession,
    *,
    tenant_id: str,
    group_by: GroupBy,
    day_from: date | None = None,
    day_to: date | None = None,
    sign: str | None = None,
    template: str | None = None,
    country: str | None = None,
    connector: str | None = None,
) -> StatsOut:
    """Counters of the tenant's messages accepted in the range, grouped by ``group_by``."""
    start, end = day_range(day_from, day_to, today=datetime.now(UTC).date())
    filters = {
        "sign": sign,
        "template_id": template,
        "region": country.upper() if country else None,
        "connector_id": connector,
    }
    sums = await messages_repo.stats(
        session,
        tenant_id=tenant_id,
        group_by=COLUMNS[group_by],
        day_from=start.isoformat(),
        day_to=end.isoformat(),
        filters=filters,
    )
    if group_by == "day":
        sums = _every_day(sums, start, end)
    account = await billing.get_account(session, tenant_id=tenant_id)
    totals = _total(sums)
    return StatsOut(
        group_by=group_by,
        day_from=start,
        day_to=end,
        currency=account.currency,
        rows=[_row(s, by_connector=group_by == "connector", totals=totals) for s in sums],
        totals=_row({**totals, "key": ""}, by_connector=False, totals=totals),
    )


def _every_day(sums: list[dict[str, Any]], start: date, end: date) -> list[dict[str, Any]]:
    """One row per day of the range, zeros where nothing was sent (charts need the gaps)."""
    by_day = {s["key"]: s for s in sums}
    days = [(start + timedelta(days=n)).isoformat() for n in range((end - start).days + 1)]
    return [by_day.get(day) or {"key": day} for day in days]


def _total(sums: Iterable[dict[str, Any]]) -> dict[str, int]:
    totals = dict.fromkeys((*COUNTERS, "segments", "cost"), 0)
    for s in sums:
        for name in totals:
            totals[name] += int(s.get(name) or 0)
    return totals


def _row(s: dict[str, Any], *, by_connector: bool, totals: dict[str, int]) -> StatsRow:
    c = {name: int(s.get(name) or 0) for name in (*COUNTERS, "segments", "cost")}
    outcomes = c["delivered"] + c["undelivered"] + c["expired"]
    if not by_connector:
        pending = c["submitted"] - outcomes - c["failed"] - c["canceled"]
    elif s["key"]:  # a connector: sent, no receipt yet
        pending = c["sent"] - outcomes
    else:  # no connector: accepted, not yet handed to any (failures anywhere count as handled)
        pending = totals["submitted"] - totals["sent"] - totals["failed"] - totals["canceled"]
    return StatsRow(
        key=s["key"] or None,
        **c,
        failures=c["failed"] + c["undelivered"] + c["expired"],
        # At-least-once resends can count a message sent twice; never show a negative backlog.
        pending=max(pending, 0),
        delivery_rate=round(c["delivered"] / outcomes, 4) if outcomes else None,
    )
