"""Check a list of numbers at once: each one described, repeats pointed at their first copy."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from hongyan import errors
from hongyan.errors import Lang
from hongyan.numbers.parse import INVALID, NOT_MOBILE, UNPARSEABLE, NumberInfo, NumberParser

# A request-sized list; bigger lists go through clean_csv, which streams.
MAX_BATCH: Final = 10_000

VALID: Final = "valid"
DUPLICATE: Final = "duplicate"
OUTCOMES: Final = (VALID, DUPLICATE, UNPARSEABLE, INVALID, NOT_MOBILE)


@dataclass(frozen=True, slots=True)
class CheckedNumber:
    """One entry of a batch: the number and the index of its first copy, if it is a repeat."""

    info: NumberInfo
    duplicate_of: int | None

    @property
    def outcome(self) -> str:
        """The summary bucket: the reason code if refused, else ``duplicate`` or ``valid``."""
        if self.info.reason is not None:
            return self.info.reason
        return DUPLICATE if self.duplicate_of is not None else VALID


@dataclass(frozen=True, slots=True)
class BatchCheck:
    """The entries in input order and a count per outcome (every outcome present, maybe 0)."""

    entries: tuple[CheckedNumber, ...]
    summary: Mapping[str, int]


def check_numbers(
    parser: NumberParser, raws: Sequence[str], *, region: str, lang: Lang = "en"
) -> BatchCheck:
    """Describe up to MAX_BATCH numbers; repeats of one E.164 point at the first index."""
    if len(raws) > MAX_BATCH:
        raise errors.NUMBERS_TOO_MANY(field="numbers", count=len(raws), limit=MAX_BATCH)
    first_seen: dict[str, int] = {}
    entries: list[CheckedNumber] = []
    summary = dict.fromkeys(OUTCOMES, 0)
    for index, raw in enumerate(raws):
        info = parser.parse(raw, region=region, lang=lang)
        duplicate_of = None
        if info.e164 is not None:
            # A repeated landline is still reported as a landline (its reason wins in
            # outcome), but duplicate_of says it is a repeat all the same.
            duplicate_of = first_seen.setdefault(info.e164, index)
            if duplicate_of == index:
                duplicate_of = None
        entry = CheckedNumber(info, duplicate_of)
        entries.append(entry)
        summary[entry.outcome] = summary.get(entry.outcome, 0) + 1
    summary["total"] = len(raws)
    return BatchCheck(tuple(entries), summary)
