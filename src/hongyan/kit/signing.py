"""The HONGYAN-HMAC-SHA256 request signature, shared by the server and client helpers.

Canonical request (one item per line)::

    METHOD
    /path                      (as sent, percent-encoded)
    a=1&b=2                    (query pairs sorted by name then value, RFC 3986 encoded)
    name:value                 (one line per signed header: lower-case name, trimmed value,
    ...                         sorted by name)
                               (an empty line)
    host;x-hongyan-date;...    (the signed header names, sorted, joined with ';')
    <hex sha256 of the body>

String to sign: ``HONGYAN-HMAC-SHA256\\n<X-Hongyan-Date>\\n<hex sha256 of the canonical
request>``. Signature: hex HMAC-SHA256 keyed with the API key's secret. The header::

    Authorization: HONGYAN-HMAC-SHA256 Credential=<key_id>, SignedHeaders=<names>, Signature=<hex>

``x-hongyan-date`` (RFC 3339 UTC) and ``x-hongyan-nonce`` must be among the signed headers.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qsl, quote

ALGORITHM = "HONGYAN-HMAC-SHA256"
DATE_HEADER = "x-hongyan-date"
NONCE_HEADER = "x-hongyan-nonce"
REQUIRED_SIGNED_HEADERS = frozenset({DATE_HEADER, NONCE_HEADER})


@dataclass(frozen=True, slots=True)
class SignedAuthorization:
    key_id: str
    signed_headers: tuple[str, ...]
    signature: str


def canonical_query(query: str) -> str:
    """Sorted, uniformly encoded query pairs (so clients need not match our encoding)."""
    pairs = parse_qsl(query, keep_blank_values=True)
    encoded = sorted((quote(k, safe="-_.~"), quote(v, safe="-_.~")) for k, v in pairs)
    return "&".join(f"{k}={v}" for k, v in encoded)


def canonical_request(
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    signed_headers: Sequence[str],
    body: bytes,
) -> str:
    """The canonical request text for these parts (see the module docstring)."""
    lower = {k.lower(): v for k, v in headers.items()}
    names = sorted(h.lower() for h in signed_headers)
    header_lines = "".join(f"{n}:{' '.join(lower.get(n, '').split())}\n" for n in names)
    return "\n".join(
        [
            method.upper(),
            path,
            canonical_query(query),
            header_lines,
            ";".join(names),
            hashlib.sha256(body).hexdigest(),
        ]
    )


def string_to_sign(date: str, canonical: str) -> str:
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    return f"{ALGORITHM}\n{date}\n{digest}"


def signature(secret: str, date: str, canonical: str) -> str:
    return hmac.new(secret.encode(), string_to_sign(date, canonical).encode(), "sha256").hexdigest()


def parse_authorization(value: str) -> SignedAuthorization:
    """Parse the header; raises ValueError with a reason a caller can act on."""
    scheme, _, rest = value.partition(" ")
    if scheme != ALGORITHM:
        raise ValueError(f"expected the {ALGORITHM} scheme")
    fields: dict[str, str] = {}
    for part in rest.split(","):
        name, sep, val = part.strip().partition("=")
        if not sep:
            raise ValueError(f"'{part.strip()}' is not name=value")
        fields[name.strip()] = val.strip()
    missing = {"Credential", "SignedHeaders", "Signature"} - fields.keys()
    if missing:
        raise ValueError(f"missing {', '.join(sorted(missing))}")
    names = tuple(n.strip().lower() for n in fields["SignedHeaders"].split(";") if n.strip())
    if not REQUIRED_SIGNED_HEADERS.issubset(names):
        raise ValueError("SignedHeaders must include x-hongyan-date and x-hongyan-nonce")
    return SignedAuthorization(fields["Credential"], names, fields["Signature"].lower())


def sign_headers(
    *,
    key_id: str,
    secret: str,
    method: str,
    path: str,
    query: str = "",
    body: bytes = b"",
    host: str | None = None,
    now: datetime | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """Headers that sign a request: a client helper, also used by the tests and docs."""
    headers = {
        DATE_HEADER: (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        NONCE_HEADER: nonce or uuid.uuid4().hex,
    }
    if host is not None:
        headers["host"] = host
    names = sorted(headers)
    canonical = canonical_request(method, path, query, headers, names, body)
    sig = signature(secret, headers[DATE_HEADER], canonical)
    headers["authorization"] = (
        f"{ALGORITHM} Credential={key_id}, SignedHeaders={';'.join(names)}, Signature={sig}"
    )
    return headers
