"""Clean a CSV list of phone numbers as a stream: one row in memory at a time.

The output keeps every column, with the number column replaced by E.164 and the columns
``region``, ``carrier`` and ``number_type`` appended (a name the input already has is not added
twice: the input's column is kept as it was). Every refused row goes to the rejects file with
its ``reason`` as the first column, so the reason lines up even when the row is malformed.

Reasons in the rejects file: the number codes of the error catalog (``NUMBER_UNPARSEABLE``,
``NUMBER_INVALID``, ``NUMBER_NOT_MOBILE``), ``CSV_ROW_TOO_WIDE`` for a row with more fields
than the header, and ``DUPLICATE`` for a number already written to the output.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

from hongyan import errors
from hongyan.errors import Lang
from hongyan.numbers.parse import NumberInfo, NumberParser, check_region

DUPLICATE: Final = "DUPLICATE"
TOO_WIDE: Final = errors.CSV_ROW_TOO_WIDE.code
ADDED_COLUMNS: Final = ("region", "carrier", "number_type")
# Progress is reported every this many rows: often enough for a bar, rare enough to be free.
PROGRESS_EVERY: Final = 4096


class _RowWriter(Protocol):
    def writerow(self, row: Iterable[Any], /) -> Any: ...


@dataclass(frozen=True, slots=True)
class CleanSummary:
    """Counts of one cleaning run: rows read, written and rejected, rejects per reason."""

    rows: int
    written: int
    rejected: int
    reasons: Mapping[str, int]

    def as_dict(self) -> dict[str, Any]:
        """The summary as plain JSON-ready data."""
        return {
            "rows": self.rows,
            "written": self.written,
            "rejected": self.rejected,
            "reasons": dict(self.reasons),
        }


@dataclass(frozen=True, slots=True)
class _Layout:
    index: int  # of the number column
    width: int  # fields in the header
    added: tuple[str, ...]  # which of ADDED_COLUMNS the output appends


def _layout(header: list[str], column: str) -> _Layout:
    if column in header:
        index = header.index(column)
    else:
        # Headers typed by hand come with stray spaces and capitals; accept them if unambiguous.
        folded = [name.strip().casefold() for name in header]
        if folded.count(column.strip().casefold()) != 1:
            raise errors.CSV_COLUMN_MISSING(
                field="column", column=column, columns=", ".join(header) or "(none)"
            )
        index = folded.index(column.strip().casefold())
    added = tuple(name for name in ADDED_COLUMNS if name not in header)
    return _Layout(index, len(header), added)


def _extras(info: NumberInfo, added: tuple[str, ...]) -> list[str]:
    values = {"region": info.region, "carrier": info.carrier, "number_type": info.number_type}
    return [values[name] or "" for name in added]


def _sniff_encoding(path: Path) -> str:
    # Excel on Chinese Windows saves CSV as GBK; GB18030 is its superset. UTF-8 wins when the
    # first 64 KiB decode as UTF-8 (utf-8-sig also drops the BOM Excel writes in UTF-8 mode).
    with path.open("rb") as handle:
        head = handle.read(65_536)
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return "gb18030"
    return "utf-8-sig"


def _same_file(a: Path, b: Path) -> bool:
    return a.resolve() == b.resolve()


def clean_csv(
    input_path: Path,
    output_path: Path,
    rejects_path: Path,
    *,
    column: str,
    region: str,
    lang: Lang = "en",
    progress: Callable[[int], None] | None = None,
    parser: NumberParser | None = None,
) -> CleanSummary:
    """Stream a UTF-8 or GBK CSV into cleaned and rejected rows; ``progress`` gets bytes read."""
    region = check_region(region)
    for name, path in (("output", output_path), ("rejects", rejects_path)):
        if _same_file(input_path, path):
            raise errors.FIELD_INVALID(field=name, reason="it is the input file")
    number_parser = parser or NumberParser()

    def parse_one(raw: str) -> NumberInfo:
        return number_parser.parse(raw, region=region, lang=lang)

    encoding = _sniff_encoding(input_path)
    # Binary underneath so the byte position can drive a progress bar.
    with io.TextIOWrapper(input_path.open("rb"), encoding=encoding, newline="") as text_in:
        reader = csv.reader(text_in)
        try:
            header = next(reader, [])
            layout = _layout(header, column)
            with (
                output_path.open("w", encoding="utf-8", newline="") as out_file,
                rejects_path.open("w", encoding="utf-8", newline="") as rejects_file,
            ):
                out, rejects = csv.writer(out_file), csv.writer(rejects_file)
                out.writerow([*header, *layout.added])
                rejects.writerow(["reason", *header])
                raw_in = text_in.buffer
                report = (lambda: progress(raw_in.tell())) if progress else None
                summary = _clean_rows(reader, out, rejects, layout, parse_one, report)
        except UnicodeDecodeError as exc:
            found = "UTF-8" if encoding.startswith("utf") else "GB18030"
            reason = f"it is not {found} text throughout; save it as CSV UTF-8"
            raise errors.FIELD_INVALID(field="input", reason=reason) from exc
    if progress:
        progress(input_path.stat().st_size)
    return summary


def _clean_rows(
    rows: Iterator[list[str]],
    out: _RowWriter,
    rejects: _RowWriter,
    layout: _Layout,
    parse: Callable[[str], NumberInfo],
    report: Callable[[], None] | None,
) -> CleanSummary:
    # The dedupe set is the one thing that grows with the file: E.164 digits kept as ints
    # (~60 bytes each with the set slot, half of a str) is ~60 MiB for a million unique numbers.
    seen: set[int] = set()
    reasons: Counter[str] = Counter()
    index, width, added = layout.index, layout.width, layout.added
    count = written = 0
    for row in rows:
        if not row:
            continue  # a blank line, not a row
        count += 1
        if report is not None and count % PROGRESS_EVERY == 0:
            report()
        if len(row) > width:
            reasons[TOO_WIDE] += 1
            rejects.writerow([TOO_WIDE, *row])
            continue
        info = parse(row[index] if index < len(row) else "")
        if info.reason is None and info.e164 is not None:
            key = int(info.e164[1:])  # no country code starts with 0, so the int is unique
            if key not in seen:
                seen.add(key)
                row.extend([""] * (width - len(row)))  # short rows: trailing empties dropped
                row[index] = info.e164
                out.writerow(row + _extras(info, added))
                written += 1
                continue
        reason = info.reason or DUPLICATE
        reasons[reason] += 1
        rejects.writerow([reason, *row])
    return CleanSummary(count, written, count - written, dict(reasons))
