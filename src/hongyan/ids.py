"""Time-ordered, type-prefixed ids (``ten_01jd...``).

The body is a UUIDv7 (48-bit millisecond time, then randomness) in Crockford base32, so ids sort
by creation time as text: inserts append to the index instead of scattering (random uuid4 keys
cost about 4x on insert), and cursor pagination can compare ids directly.
"""

from __future__ import annotations

import base64
import os
import threading
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_BODY_LEN = 26  # 128 bits in 5-bit digits

PREFIXES = frozenset(
    {
        "ten",
        "key",
        "opr",
        "aud",
        "sgn",
        "tpl",
        "tpv",
        "wrd",
        "msg",
        "led",
        "whk",
        "whd",
        "evt",
        "con",
        "rte",
        "req",
        "cmp",
        "otp",
        "inb",
        "prc",
        "fil",
        "rev",
        "sup",
        "smc",
        "lwl",
    }
)

_FROM_BASE32 = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", _ALPHABET.encode())

_lock = threading.Lock()
_last_ms = 0
_seq = 0
# Randomness is read from the OS 4 KiB at a time and used 9 bytes per id under _lock (an
# os.urandom call per id cost a fifth of new_id). A forked child starts with none, so two
# processes never use the same bytes.
_NOISE_BYTES = 9
_NOISE_READ = 4096 - 4096 % _NOISE_BYTES
_noise = b""
_noise_at = 0


def _forget_noise() -> None:
    global _noise, _noise_at
    _noise, _noise_at = b"", 0


os.register_at_fork(after_in_child=_forget_noise)


def _next_noise() -> int:
    """72 random bits; call with _lock held."""
    global _noise, _noise_at
    if _noise_at >= len(_noise):
        _noise, _noise_at = os.urandom(_NOISE_READ), 0
    start = _noise_at
    _noise_at = start + _NOISE_BYTES
    return int.from_bytes(_noise[start : start + _NOISE_BYTES], "big")


def _uuid7_int() -> int:
    """A UUIDv7 as an int; within one millisecond a counter keeps ids of this process ordered."""
    global _last_ms, _seq
    with _lock:
        # 62 bits for the id, 10 more to start a new millisecond's counter at.
        noise = _next_noise()
        now_ms = time.time_ns() // 1_000_000
        if now_ms <= _last_ms:
            _seq += 1
            now_ms = _last_ms
            if _seq >= 1 << 12:  # counter exhausted: borrow the next millisecond
                now_ms += 1
                _seq = 0
        else:
            _seq = (noise >> 62) & 0x3FF
        _last_ms = now_ms
        seq = _seq
    rand = noise & ((1 << 62) - 1)
    return (now_ms << 80) | (0x7 << 76) | (seq << 64) | (0b10 << 62) | rand


# Every pair of digits (10 bits): 13 look-ups make an id's 26 digits (the top 2 bits are 0).
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]
_PAIR_SHIFTS = tuple(range(120, -10, -10))


def _digits(value: int) -> str:
    """The 26 base32 digits of a 128-bit value, as ``_encode`` gives them (3x faster)."""
    return "".join([_PAIRS[(value >> shift) & 1023] for shift in _PAIR_SHIFTS])


def _encode(value: int) -> str:
    """The digits one at a time: the reference the C path (``_digits``) is tested against."""
    chars = []
    for _ in range(_BODY_LEN):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_id(prefix: str) -> str:
    """A new id such as ``msg_01jd3x...``; the prefix says what the object is."""
    if prefix not in PREFIXES:
        raise ValueError(f"unknown id prefix {prefix!r}")
    return f"{prefix}_{_digits(_uuid7_int())}"


def new_ids(prefix: str, count: int) -> list[str]:
    """``count`` new ids in order, as ``new_id`` makes them, for bulk writes (about half the cost).

    The clock and counter are taken once under the lock for the whole run of ids, the
    randomness is read in one call, and the base32 is done by ``b32encode`` (C) and a byte
    translation to our alphabet: the 128-bit value shifted into 160 bits gives 26 digits + 6.
    """
    global _last_ms, _seq
    if prefix not in PREFIXES:
        raise ValueError(f"unknown id prefix {prefix!r}")
    stamps = []
    with _lock:
        now_ms = time.time_ns() // 1_000_000
        if now_ms <= _last_ms:
            now_ms, seq = _last_ms, _seq + 1
        else:
            seq = int.from_bytes(os.urandom(2), "big") & 0x3FF
        for _ in range(count):
            if seq >= 1 << 12:  # counter exhausted: borrow the next millisecond
                now_ms, seq = now_ms + 1, 0
            stamps.append((now_ms << 80) | (0x7 << 76) | (seq << 64) | (0b10 << 62))
            seq += 1
        if count:
            _last_ms, _seq = now_ms, seq - 1
    noise = os.urandom(8 * count)
    mask = (1 << 62) - 1
    blob = b"".join(
        ((stamp | (int.from_bytes(noise[8 * i : 8 * i + 8], "big") & mask)) << 30).to_bytes(
            20, "big"
        )
        for i, stamp in enumerate(stamps)
    )
    # 20 bytes are exactly 32 base32 digits, so one encoding of the whole blob keeps every
    # id's digits apart: the first 26 of each 32 are its value (shifted left by 30 bits).
    digits = base64.b32encode(blob).translate(_FROM_BASE32).decode()
    head = f"{prefix}_"
    return [head + digits[start : start + _BODY_LEN] for start in range(0, 32 * count, 32)]


def id_time_ms(value: str) -> int:
    """The creation time (Unix milliseconds) carried by an id."""
    body = value.split("_", 1)[1]
    number = 0
    for ch in body:
        number = number * 32 + _ALPHABET.index(ch)
    return number >> 80


def looks_like(value: str, prefix: str) -> bool:
    """Whether a string has the shape of an id with this prefix (cheap check before a lookup)."""
    head, sep, body = value.partition("_")
    return (
        sep == "_"
        and head == prefix
        and len(body) == _BODY_LEN
        and all(ch in _ALPHABET for ch in body)
    )
