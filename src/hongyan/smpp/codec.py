"""Encode a PDU dataclass to bytes and decode bytes to one: ``encode()`` and ``decode()``.

Both walk the body schema each PDU class declares (see ``pdu.py``). ``decode()`` takes one
whole PDU (the session frames the byte stream) and raises only ``PduError`` subclasses,
each carrying the command_id and sequence_number when the header could be read, and the
command_status to answer with.
"""

from __future__ import annotations

import struct
from typing import Any, Final

from hongyan.smpp.constants import HEADER_LEN, MAX_SEQUENCE, RESPONSE_BIT, CommandStatus
from hongyan.smpp.errors import (
    CommandLengthError,
    CStringError,
    PduEncodeError,
    PduError,
    TruncatedPduError,
    UnknownCommandError,
)
from hongyan.smpp.pdu import _CSTR, _NO_BODY_ON_ERROR, _U8, PDU_CLASSES, GenericNack, Pdu
from hongyan.smpp.tlv import EMPTY_TLVS, decode_tlvs, encode_tlvs

__all__ = ["decode", "decode_header", "encode", "next_sequence", "response_to"]

_HEADER: Final = struct.Struct(">IIII")


def next_sequence(current: int) -> int:
    """The sequence number after ``current``: 1..0x7FFFFFFF, then 1 again."""
    return 1 if current >= MAX_SEQUENCE else current + 1


def decode_header(data: bytes) -> tuple[int, int, int, int]:
    """(command_length, command_id, command_status, sequence_number) of the first 16 octets."""
    if len(data) < HEADER_LEN:
        raise TruncatedPduError(f"{len(data)} octets; a PDU header has 16")
    length, command_id, status, seq = _HEADER.unpack_from(data)
    return length, command_id, status, seq


# A body is decoded and encoded by a plan: C-strings one by one, runs of one-octet integers
# with one precompiled struct each (submit_sm has 17 fields but 10 steps), short_message.
_RUN = -1
Step = tuple[int, Any, Any]  # (kind, field or names of a run, the run's struct)


def _plan(cls: type[Pdu]) -> tuple[Step, ...]:
    steps: list[Step] = []
    run: list[str] = []
    for field in (*cls._body, None):
        if field is not None and field[1] == _U8:
            run.append(field[0])
            continue
        if run:
            steps.append((_RUN, tuple(run), struct.Struct(">" + "B" * len(run))))
            run = []
        if field is not None:
            steps.append((field[1], field, None))
    return tuple(steps)


_PLANS: Final = {cls: _plan(cls) for cls in PDU_CLASSES.values()}


def _cstring_error(
    data: bytes, pos: int, end: int, field: tuple[str, int, int, int]
) -> CStringError:
    if data.find(0, pos, end) < 0:
        return CStringError(
            f"{field[0]}: no NUL before the end of the body", command_status=field[3]
        )
    return CStringError(
        f"{field[0]}: longer than {field[2] - 1} characters", command_status=field[3]
    )


def _decode_body(cls: type[Pdu], data: bytes, pos: int, end: int) -> tuple[list[Any], int]:
    values: list[Any] = []
    for kind, spec, run in _PLANS[cls]:
        if kind == _CSTR:
            nul = data.find(0, pos, min(end, pos + spec[2]))
            if nul < 0:
                raise _cstring_error(data, pos, end, spec)
            values.append(data[pos:nul].decode("latin-1"))
            pos = nul + 1
        elif kind == _RUN:
            if pos + run.size > end:
                raise TruncatedPduError(f"the body ends within {', '.join(spec)}")
            values += run.unpack_from(data, pos)
            pos += run.size
        else:  # short_message: sm_length, then that many octets
            if pos >= end:
                raise TruncatedPduError("the body ends before sm_length")
            size = data[pos]
            pos += 1
            if pos + size > end:
                raise TruncatedPduError(
                    f"sm_length {size} but {end - pos} octets remain",
                    command_status=CommandStatus.ESME_RINVMSGLEN,
                )
            values.append(data[pos : pos + size])
            pos += size
    return values, pos


def _decode_pdu(cls: type[Pdu], data: bytes, status: int, seq: int) -> Pdu:
    end = len(data)
    if cls.command_id & RESPONSE_BIT and end == HEADER_LEN:
        return cls(seq, status)  # an empty response body: lenient, its status is what counts
    try:
        values, pos = _decode_body(cls, data, HEADER_LEN, end)
        tlvs = decode_tlvs(data, pos, end)
    except PduError:
        if cls.command_id & RESPONSE_BIT and status != CommandStatus.ESME_ROK:
            return cls(seq, status)
        raise
    return cls(seq, status, tlvs, *values)


def decode(data: bytes | bytearray | memoryview) -> Pdu:
    """Decode exactly one PDU; raise a ``PduError`` subclass for anything malformed."""
    frame = data if isinstance(data, bytes) else bytes(data)
    length, command_id, status, seq = decode_header(frame)
    if length < HEADER_LEN or length != len(frame):
        raise CommandLengthError(
            f"command_length {length} for a frame of {len(frame)} octets",
            command_id=command_id,
            sequence_number=seq,
        )
    cls = PDU_CLASSES.get(command_id)
    if cls is None:
        raise UnknownCommandError(
            f"command_id 0x{command_id:08X}", command_id=command_id, sequence_number=seq
        )
    try:
        return _decode_pdu(cls, frame, status, seq)
    except PduError as exc:
        exc.command_id, exc.sequence_number = command_id, seq
        raise


def _encode_cstring(field: tuple[str, int, int, int], value: Any) -> bytes:
    try:
        raw: bytes = value.encode("latin-1")
    except (AttributeError, UnicodeEncodeError) as exc:
        raise PduEncodeError(f"{field[0]} must be a Latin-1 str, got {value!r}") from exc
    if len(raw) >= field[2] or 0 in raw:
        raise PduEncodeError(f"{field[0]} must be under {field[2]} characters without NUL")
    return raw + b"\0"


def _encode_run(names: tuple[str, ...], run: struct.Struct, values: tuple[Any, ...]) -> bytes:
    try:
        return run.pack(*values)
    except struct.error as exc:
        raise PduEncodeError(f"{', '.join(names)} must be ints within 0..255: {values}") from exc


def _encode_body(pdu: Pdu) -> bytes:
    cls = type(pdu)
    if not cls._body:
        return encode_tlvs(pdu.tlvs)
    values = cls._values(pdu) if cls._values is not None else (getattr(pdu, cls._body[0][0]),)
    parts: list[bytes] = []
    i = 0
    for kind, spec, run in _PLANS[cls]:
        if kind == _CSTR:
            parts.append(_encode_cstring(spec, values[i]))
            i += 1
        elif kind == _RUN:
            parts.append(_encode_run(spec, run, values[i : i + len(spec)]))
            i += len(spec)
        else:
            message = values[i]
            i += 1
            if not isinstance(message, bytes | bytearray) or len(message) > spec[2]:
                raise PduEncodeError(f"short_message must be bytes of at most {spec[2]} octets")
            parts.append(bytes((len(message),)) + bytes(message))
    if pdu.tlvs is not EMPTY_TLVS:
        parts.append(encode_tlvs(pdu.tlvs))
    return b"".join(parts)


def encode(pdu: Pdu) -> bytes:
    """The wire bytes of a PDU; raise ``PduEncodeError`` when a field does not fit."""
    no_body = pdu.command_status and type(pdu) in _NO_BODY_ON_ERROR
    body = b"" if no_body else _encode_body(pdu)
    try:
        header = _HEADER.pack(
            HEADER_LEN + len(body), pdu.command_id, pdu.command_status, pdu.sequence_number
        )
    except struct.error as exc:
        raise PduEncodeError(f"header field out of range: {exc}") from exc
    return header + body


def response_to(request: Pdu, command_status: int = CommandStatus.ESME_ROK) -> Pdu:
    """An empty response to ``request`` with ``command_status`` (generic_nack if none exists)."""
    cls = request.response_class or GenericNack
    return cls(request.sequence_number, command_status)
