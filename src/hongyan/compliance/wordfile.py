"""Word files: parse imports (plain text or CSV) and write exports (CSV). Pure, no database.

Plain text is the format of the shipped lists::

    # comment
    赌博
    大麻<TAB>review

CSV has a header row naming ``word`` and optionally ``category`` and ``action``; it is what
export writes, so an export imports back unchanged::

    word,category,action
    赌博,gambling,block
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass

from hongyan.compliance.schemas import CATEGORY_PATTERN
from hongyan.models.compliance import WORD_MAX_LENGTH

CSV_COLUMNS = ("word", "category", "action")
ACTIONS = ("block", "review")
_CATEGORY_RE = re.compile(CATEGORY_PATTERN)


class WordFileError(ValueError):
    """A line that cannot be imported; nothing of the file is imported then."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Entry:
    """One word read from a file, with the line it came from."""

    line: int
    word: str
    category: str
    action: str


def valid_category(category: str) -> bool:
    """True for a lower-case slug such as ``gambling`` or ``my-list``."""
    return _CATEGORY_RE.fullmatch(category) is not None


def detect_format(content: str) -> str:
    """``csv`` when the first meaningful line is a header naming ``word``, else ``text``."""
    for raw in content.lstrip("\ufeff").splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            first = next(csv.reader([line]))
            return "csv" if first and first[0].strip().lower() == "word" else "text"
    return "text"


def parse(content: str, *, fmt: str, category: str, action: str) -> list[Entry]:
    """Read a word file; ``category`` and ``action`` apply where a line names none."""
    content = content.lstrip("\ufeff")  # Excel writes a BOM before UTF-8 CSV
    if fmt == "auto":
        fmt = detect_format(content)
    entries = _parse_csv(content) if fmt == "csv" else _parse_text(content)
    return [_complete(e, category, action) for e in entries]


def _parse_text(content: str) -> list[Entry]:
    entries: list[Entry] = []
    for number, raw in enumerate(content.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        word, _, action = line.partition("\t")
        entries.append(Entry(number, word.strip(), "", action.strip().lower()))
    return entries


def _parse_csv(content: str) -> list[Entry]:
    rows = csv.reader(io.StringIO(content))
    header: list[str] | None = None
    entries: list[Entry] = []
    for row in rows:
        number = rows.line_num
        if not any(cell.strip() for cell in row) or row[0].lstrip().startswith("#"):
            continue
        if header is None:
            header = [cell.strip().lower() for cell in row]
            if "word" not in header:
                raise WordFileError(number, "the header row must name a 'word' column")
            continue
        if len(row) > len(header):
            raise WordFileError(number, "more fields than the header row")
        cells = dict(zip(header, (cell.strip() for cell in row), strict=False))
        entries.append(
            Entry(
                number,
                cells.get("word", ""),
                cells.get("category", "").lower(),
                cells.get("action", "").lower(),
            )
        )
    return entries


def _complete(entry: Entry, category: str, action: str) -> Entry:
    """Fill the defaults in and check the fields (the word's own rules are the service's)."""
    filled = Entry(entry.line, entry.word, entry.category or category, entry.action or action)
    if not filled.word:
        raise WordFileError(entry.line, "the word is empty")
    if len(filled.word) > WORD_MAX_LENGTH:
        raise WordFileError(entry.line, f"longer than {WORD_MAX_LENGTH} characters")
    if filled.action not in ACTIONS:
        raise WordFileError(entry.line, f"action {filled.action!r} is not block or review")
    if not valid_category(filled.category):
        raise WordFileError(entry.line, f"category {filled.category!r} is not a lower-case slug")
    return filled


def to_csv(rows: Iterable[tuple[str, str, str]]) -> str:
    """Write (word, category, action) rows as CSV with a header, the format import reads."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(rows)
    return out.getvalue()
