"""Signing webhook bodies, and checking a signature: pure standard library, copy it freely.

Every delivery carries::

    Hongyan-Signature: t=1764067200,v1=5257a869e7ec...(64 hex digits)

``t`` is when the POST was made (Unix seconds) and ``v1`` the hex HMAC-SHA256, keyed with the
endpoint's whole signing secret (``whsec_...``, as UTF-8), of ``f"{t}."`` followed by the raw
request body. Right after a secret rotation that kept the old secret for a while, the header has
one ``v1=`` per secret; a receiver accepts the request when any of them matches its secret.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Sequence

SIGNATURE_HEADER = "Hongyan-Signature"
EVENT_ID_HEADER = "Hongyan-Event-Id"
SCHEME = "v1"


def compute_signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex ``v1`` signature of a body sent at ``timestamp`` (Unix seconds)."""
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secrets: Sequence[str], body: bytes, *, timestamp: int) -> str:
    """The ``Hongyan-Signature`` value: ``t=...`` and one ``v1=...`` per secret."""
    parts = [f"t={timestamp}"]
    parts += [f"{SCHEME}={compute_signature(s, timestamp, body)}" for s in secrets]
    return ",".join(parts)


def verify_signature(
    secret: str,
    header: str,
    body: bytes,
    *,
    tolerance_secs: int = 300,
    now: float | None = None,
) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` within ``tolerance_secs`` of now.

    Pass the raw body exactly as received (before any JSON parsing). A stale or future
    timestamp is refused so a captured request cannot be replayed later; the signatures are
    compared in constant time.
    """
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if name == "t":
            try:
                timestamp = int(value)
            except ValueError:
                return False
        elif name == SCHEME:
            candidates.append(value.strip().lower())
    if timestamp is None or not candidates:
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_secs:
        return False
    expected = compute_signature(secret, timestamp, body)
    # Compare against every candidate, without stopping early, so timing reveals nothing.
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(expected, candidate)
    return matched
