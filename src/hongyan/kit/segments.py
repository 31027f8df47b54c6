"""SMS segmentation: pick GSM-7 or UCS-2, count units, split into parts, build the UDH.

GSM-7 (3GPP 23.038) fits 160 septets in one message and 153 per part once a 6-byte
concatenation UDH takes 7 septets; extension characters cost two septets (0x1B + code).
One character outside GSM-7 turns the whole message into UCS-2: 70 UTF-16 code units in
one message, 67 per part. A part never ends between an escape and its character nor
between the two halves of a surrogate pair, so a part may hold one unit less.

The character tables come from the PyPI ``gsm0338`` codec once at import; after that the
hot path is set membership and ``str`` methods that run in C.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

import gsm0338  # noqa: F401  # registers the "gsm03.38" codec used below

__all__ = [
    "GSM7_PER_PART",
    "GSM7_SINGLE",
    "UCS2_PER_PART",
    "UCS2_SINGLE",
    "Encoding",
    "SegmentInfo",
    "analyze",
    "encode_part",
    "split",
    "udh_concat",
]

GSM7_SINGLE: Final = 160
GSM7_PER_PART: Final = 153  # 160 - 7 septets taken by the 6-byte UDH (48 bits + 1 fill bit)
UCS2_SINGLE: Final = 70
UCS2_PER_PART: Final = 67  # 70 - 3 code units taken by the 6-byte UDH

_CODEC: Final = "gsm03.38"
_ESC: Final = 0x1B


class Encoding(StrEnum):
    """Alphabet of a message: SMPP data_coding 0 (GSM-7) or 8 (UCS-2)."""

    GSM7 = "gsm7"
    UCS2 = "ucs2"


def _decode_or_none(septets: bytes) -> str | None:
    try:
        return septets.decode(_CODEC)
    except UnicodeDecodeError:
        return None


def _load_tables() -> tuple[frozenset[str], frozenset[str]]:
    """Read the basic and extension sets out of gsm0338 by decoding every code."""
    basic: set[str] = set()
    extension: set[str] = set()
    for code in range(0x80):
        # A bare 0x1B is the escape itself: gsm0338 maps it to U+001B, but a handset
        # would swallow the next septet, so U+001B is left out and forces UCS-2.
        if code != _ESC and (char := _decode_or_none(bytes((code,)))) is not None:
            basic.add(char)
        if (char := _decode_or_none(bytes((_ESC, code)))) is not None and len(char) == 1:
            extension.add(char)
    return frozenset(basic), frozenset(extension - basic)


_BASIC, _EXTENSION = _load_tables()
_GSM7: Final = _BASIC | _EXTENSION
# Per-character septets for encode_part: str.translate + latin-1 runs in C, whereas
# str.encode("gsm03.38") walks the text in Python and concatenates bytes.
_SEPTETS: Final = {ord(c): c.encode(_CODEC).decode("latin-1") for c in _GSM7}
# Surrogate code points only appear in a str built from broken UTF-16 (or JSON "\ud83d").
_SURROGATE: Final = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class SegmentInfo:
    """What a message costs: its alphabet, its length in units and its parts."""

    text: str
    encoding: Encoding
    characters: int
    units: int
    segments: int
    per_segment: int
    parts: tuple[str, ...]


def _encoding_of(text: str) -> Encoding:
    return Encoding.GSM7 if _GSM7.issuperset(text) else Encoding.UCS2


def _gsm7_units(text: str) -> int:
    return len(text) + sum(text.count(c) for c in _EXTENSION)


def _ucs2_units(text: str) -> int:
    # surrogatepass: a lone surrogate still travels as one UCS-2 unit instead of raising.
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _join_surrogates(text: str) -> str:
    """Merge surrogate code point pairs into one character so no split falls between them."""
    if _SURROGATE.search(text) is None:
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


def _slices(text: str, size: int) -> tuple[str, ...]:
    return tuple(text[i : i + size] for i in range(0, len(text), size))


def _pack_gsm7(text: str, limit: int) -> tuple[str, ...]:
    """Cut the septet stream every limit septets, never right after an escape septet."""
    # Only an escape prefix encodes to 0x1B: bare U+001B is not in _GSM7 and no
    # extension code is 0x1B, so counting 0x1B counts two-septet characters.
    septets = text.translate(_SEPTETS).encode("latin-1")
    parts: list[str] = []
    start = pos = 0
    while pos < len(septets):
        end = min(pos + limit, len(septets))
        if septets[end - 1] == _ESC:
            end -= 1
        chars = end - pos - septets.count(_ESC, pos, end)
        parts.append(text[start : start + chars])
        start, pos = start + chars, end
    return tuple(parts)


def _pack_ucs2(text: str, limit: int) -> tuple[str, ...]:
    """Cut the UTF-16 stream every limit units, never right after a high surrogate."""
    data = text.encode("utf-16-be", "surrogatepass")
    parts: list[str] = []
    pos = 0
    while pos < len(data):
        end = min(pos + 2 * limit, len(data))
        if end < len(data) and 0xD8 <= data[end - 2] <= 0xDB:
            end -= 2
        parts.append(data[pos:end].decode("utf-16-be", "surrogatepass"))
        pos = end
    return tuple(parts)


def _split(text: str, encoding: Encoding, units: int, per_part: int) -> tuple[str, ...]:
    if not text:
        return ()
    single = GSM7_SINGLE if encoding is Encoding.GSM7 else UCS2_SINGLE
    if units <= single:
        return (text,)
    if units == len(text):  # every character costs one unit: plain slicing is exact
        return _slices(text, per_part)
    if encoding is Encoding.GSM7:
        return _pack_gsm7(text, per_part)
    return _pack_ucs2(text, per_part)


def _units(text: str, encoding: Encoding) -> int:
    return _gsm7_units(text) if encoding is Encoding.GSM7 else _ucs2_units(text)


def _per_part(encoding: Encoding, sixteen_bit: bool) -> int:
    base = GSM7_PER_PART if encoding is Encoding.GSM7 else UCS2_PER_PART
    # The 7-byte UDH with a 16-bit reference costs one more septet / UTF-16 unit.
    return base - 1 if sixteen_bit else base


def split(text: str, encoding: Encoding, *, sixteen_bit: bool = False) -> tuple[str, ...]:
    """Split text into the parts sent under encoding (pass sixteen_bit for 7-byte UDHs)."""
    if encoding is Encoding.GSM7 and not _GSM7.issuperset(text):
        raise ValueError("text has characters outside GSM-7; use Encoding.UCS2")
    if encoding is Encoding.UCS2:
        text = _join_surrogates(text)
    return _split(text, encoding, _units(text, encoding), _per_part(encoding, sixteen_bit))


def analyze(text: str, *, sign: str | None = None, mainland: bool = False) -> SegmentInfo:
    """Pick the encoding and count units, segments and parts of text as the handset gets it."""
    if sign and mainland:
        # Mainland carriers show the sign as 【签名】 and bill it as part of the text.
        text = f"【{sign.strip('【】')}】{text}"
    encoding = _encoding_of(text)
    if encoding is Encoding.UCS2:
        text = _join_surrogates(text)
    units = _units(text, encoding)
    per_part = _per_part(encoding, sixteen_bit=False)
    parts = _split(text, encoding, units, per_part)
    single = GSM7_SINGLE if encoding is Encoding.GSM7 else UCS2_SINGLE
    return SegmentInfo(
        text=text,
        encoding=encoding,
        characters=len(text),
        units=units,
        segments=len(parts),
        per_segment=per_part if len(parts) > 1 else single,
        parts=parts,
    )


def encode_part(part: str, encoding: Encoding) -> bytes:
    """Encode one part as SMPP short_message bytes: unpacked septets or UTF-16-BE."""
    if encoding is Encoding.UCS2:
        return part.encode("utf-16-be", "surrogatepass")
    if not _GSM7.issuperset(part):
        raise ValueError("part has characters outside GSM-7; use Encoding.UCS2")
    return part.translate(_SEPTETS).encode("latin-1")


def udh_concat(ref: int, total: int, seq: int, *, sixteen_bit: bool = False) -> bytes:
    """Build the concatenation UDH: IEI 0x00 (8-bit ref, 6 bytes) or 0x08 (16-bit, 7 bytes)."""
    max_ref = 0xFFFF if sixteen_bit else 0xFF
    if not 0 <= ref <= max_ref:
        raise ValueError(f"ref must be within 0..{max_ref}, got {ref}")
    if not 1 <= total <= 0xFF:
        raise ValueError(f"total must be within 1..255, got {total}")
    if not 1 <= seq <= total:
        raise ValueError(f"seq must be within 1..{total}, got {seq}")
    if sixteen_bit:
        # UDHL=6, IEI=0x08, IEDL=4, ref (big endian), total, seq.
        return bytes((6, 0x08, 4, ref >> 8, ref & 0xFF, total, seq))
    # UDHL=5, IEI=0x00, IEDL=3, ref, total, seq.
    return bytes((5, 0x00, 3, ref, total, seq))
