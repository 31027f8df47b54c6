"""SMPP passwords: generated here, stored only as a salted scrypt hash.

An SMPP password is at most 8 characters (SMPP 3.4), so it is weak by nature: Hongyan
generates it (8 characters from 62, about 47 bits) and keeps only an scrypt hash, whose
cost (about 16 MiB and tens of milliseconds per guess) makes a stolen table slow to attack.
Binds are rare, so paying that cost once per bind is cheap.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import string

_ALPHABET = string.ascii_letters + string.digits
_N, _R, _P = 2**14, 8, 1  # scrypt cost: 16 MiB of memory per hash
_SALT_BYTES = 16
_SCHEME = "scrypt"


def new_password(length: int = 8) -> str:
    """A random password of letters and digits (SMPP allows at most 8 characters)."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=64 * 1024 * 1024)


def hash_password(password: str) -> str:
    """``scrypt$n$r$p$salt$hash`` (base64 fields), for the password_hash column."""
    salt = secrets.token_bytes(_SALT_BYTES)
    digest = _scrypt(password, salt, _N, _R, _P)
    return f"{_SCHEME}${_N}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """True when password matches the stored hash (compared in constant time)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != _SCHEME:
            return False
        expected = base64.b64decode(digest)
        actual = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p))
    except ValueError:  # a malformed hash never matches (binascii.Error is a ValueError)
        return False
    return hmac.compare_digest(actual, expected)
