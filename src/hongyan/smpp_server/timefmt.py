"""SMPP 3.4 times (section 7.1.1): ``YYMMDDhhmmsstnnp``, absolute or relative.

- absolute: year, month, day, hour, minute, second, tenths, ``nn`` quarter hours between the
  local time given and UTC, ``p`` ``+`` (local time ahead of UTC) or ``-`` (behind);
- relative (``p`` = ``R``): years, months, days, hours, minutes, seconds from now; a year
  is taken as 365 days and a month as 30, as SMSCs commonly do.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

__all__ = ["parse_smpp_time"]


def _fields(value: str) -> list[int]:
    if len(value) != 16 or not value[:15].isdigit() or value[15] not in "+-R":
        raise ValueError(f"not an SMPP time: {value!r}")
    return [int(value[i : i + 2]) for i in range(0, 12, 2)] + [int(value[12]), int(value[13:15])]


def parse_smpp_time(value: str, *, now: datetime) -> datetime | None:
    """The moment an SMPP time names (UTC); None for an empty field; ValueError when invalid."""
    if not value:
        return None
    year, month, day, hour, minute, second, tenths, quarters = _fields(value)
    if value[15] == "R":
        return now + timedelta(
            days=year * 365 + month * 30 + day, hours=hour, minutes=minute, seconds=second
        )
    local = datetime(2000 + year, month, day, hour, minute, second, tenths * 100_000, tzinfo=UTC)
    offset = timedelta(minutes=15 * quarters)
    return local - offset if value[15] == "+" else local + offset
