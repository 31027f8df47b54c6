"""Reading a User Data Header (3GPP 23.040 9.2.3.24): its elements, and which part a PDU is.

A UDH is UDHL (one octet) then information elements: IEI, length, data. IEI 0x00 is
concatenation with an 8-bit reference (ref, total, seq), IEI 0x08 the same with a 16-bit
reference. The carrier connector (MO parts) and the SMPP server (submitted parts) both read
them; what each does with a header cut short differs (ignore it / refuse the submit), so the
walker raises and the caller decides.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

IEI_CONCAT_8 = 0x00
IEI_CONCAT_16 = 0x08


class UdhCutShortError(ValueError):
    """An information element runs past the end of the header."""


@dataclass(frozen=True, slots=True)
class Concat:
    """Which part of which concatenated message a PDU is (seq counts from 1)."""

    ref: int
    total: int
    seq: int


def elements(header: bytes) -> Iterator[tuple[int, bytes]]:
    """The (IEI, data) elements of a header without its UDHL octet, in order."""
    at = 0
    while at + 2 <= len(header):
        iei, size = header[at], header[at + 1]
        data = header[at + 2 : at + 2 + size]
        if len(data) < size:
            raise UdhCutShortError(f"element {iei:#04x} needs {size} octets, {len(data)} left")
        yield iei, data
        at += 2 + size


def concat_of(iei: int, data: bytes) -> Concat | None:
    """The concatenation an element says, if it is one (8- or 16-bit reference)."""
    if iei == IEI_CONCAT_8 and len(data) == 3:
        return Concat(data[0], data[1], data[2])
    if iei == IEI_CONCAT_16 and len(data) == 4:
        return Concat(data[0] << 8 | data[1], data[2], data[3])
    return None
