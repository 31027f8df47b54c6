"""Authentication: HTTP Basic and the signed HONGYAN-HMAC-SHA256 form.

Checks run in an order that reveals nothing to a caller without the secret: the secret (or
signature) is verified before the key's revocation, the tenant's suspension or the nonce are
looked at, and an unknown key id answers exactly like a wrong secret.
"""

from __future__ import annotations

import base64
import binascii
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hongyan import errors
from hongyan.accounts import repository as repo
from hongyan.db import Database
from hongyan.kit import signing
from hongyan.kit.crypto import SecretBox, constant_time_equal
from hongyan.models import utcnow

# last_used_at is written at most this often per key, so busy keys don't cost a write per call.
_TOUCH_EVERY = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller of a request, once authenticated."""

    key_id: str
    role: str  # tenant | operator
    tenant_id: str | None
    scopes: frozenset[str]
    test_mode: bool

    @property
    def is_operator(self) -> bool:
        return self.role == "operator"


@dataclass(frozen=True, slots=True)
class _KeyRecord:
    principal: Principal
    secret: str
    revoked: bool
    tenant_suspended: bool
    expires: float


@dataclass(frozen=True, slots=True)
class RequestParts:
    """What the signed form covers, taken from the HTTP request."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes


class Authenticator:
    """Verifies credentials; keeps keys briefly in memory so a request needs no lookup."""

    def __init__(self, db: Database, box: SecretBox, *, window_secs: int, cache_secs: float):
        self._db = db
        self._box = box
        self._window = timedelta(seconds=window_secs)
        self._cache_secs = cache_secs
        self._cache: dict[str, _KeyRecord] = {}

    def forget(self, key_id: str | None = None) -> None:
        """Drop cached keys (after a revocation or suspension in this process)."""
        if key_id is None:
            self._cache.clear()
        else:
            self._cache.pop(key_id, None)

    async def authenticate(self, authorization: str | None, parts: RequestParts) -> Principal:
        if not authorization:
            raise errors.AUTH_REQUIRED()
        scheme = authorization.split(" ", 1)[0]
        if scheme.lower() == "basic":
            return await self._basic(authorization)
        if scheme == signing.ALGORITHM:
            return await self._signed(authorization, parts)
        raise errors.AUTH_MALFORMED(reason=f"unknown scheme '{scheme[:30]}'")

    async def _basic(self, authorization: str) -> Principal:
        try:
            raw = base64.b64decode(authorization.split(" ", 1)[1], validate=True).decode()
        except (IndexError, binascii.Error, UnicodeDecodeError):
            raise errors.AUTH_MALFORMED(reason="Basic credentials are not base64") from None
        key_id, sep, secret = raw.partition(":")
        if not sep or not key_id or not secret:
            raise errors.AUTH_MALFORMED(reason="expected key_id:key_secret")
        record = await self._record(key_id)
        if record is None or not constant_time_equal(record.secret, secret):
            raise errors.INVALID_CREDENTIALS()
        return self._admit(record)

    async def _signed(self, authorization: str, parts: RequestParts) -> Principal:
        try:
            auth = signing.parse_authorization(authorization)
        except ValueError as exc:
            raise errors.AUTH_MALFORMED(reason=str(exc)) from None
        date_text = parts.headers.get(signing.DATE_HEADER, "")
        nonce = parts.headers.get(signing.NONCE_HEADER, "")
        now = utcnow()
        if not self._date_fresh(date_text, now):
            raise errors.SIGNATURE_EXPIRED(field=signing.DATE_HEADER)
        if not nonce or len(nonce) > 128:
            raise errors.NONCE_REUSED(field=signing.NONCE_HEADER)
        record = await self._record(auth.key_id)
        if record is None:
            raise errors.INVALID_CREDENTIALS()
        canonical = signing.canonical_request(
            parts.method, parts.path, parts.query, parts.headers, auth.signed_headers, parts.body
        )
        expected = signing.signature(record.secret, date_text, canonical)
        if not constant_time_equal(expected, auth.signature):
            raise errors.SIGNATURE_MISMATCH()
        principal = self._admit(record)
        async with self._db.session() as session:
            if not await repo.insert_nonce(session, auth.key_id, nonce, now):
                raise errors.NONCE_REUSED(field=signing.NONCE_HEADER)
        return principal

    def _date_fresh(self, date_text: str, now: datetime) -> bool:
        try:
            sent = datetime.fromisoformat(date_text.replace("Z", "+00:00"))
        except ValueError:
            return False
        if sent.tzinfo is None:
            return False
        return abs(now - sent.astimezone(UTC)) <= self._window

    @staticmethod
    def _admit(record: _KeyRecord) -> Principal:
        if record.revoked:
            raise errors.KEY_REVOKED()
        if record.tenant_suspended:
            raise errors.TENANT_SUSPENDED()
        return record.principal

    async def _record(self, key_id: str) -> _KeyRecord | None:
        cached = self._cache.get(key_id)
        if cached is not None and cached.expires > time.monotonic():
            return cached
        if len(key_id) > 64:
            return None
        async with self._db.session() as session:
            found = await repo.get_key_with_tenant(session, key_id)
            if found is None:
                return None
            key, tenant = found
            now = utcnow()
            if key.status == "active" and (
                key.last_used_at is None or now - key.last_used_at > _TOUCH_EVERY
            ):
                await repo.touch_key(session, key.id, now)
        principal = Principal(key.id, key.role, key.tenant_id, frozenset(key.scopes), key.test_mode)
        record = _KeyRecord(
            principal=principal,
            secret=self._box.decrypt(key.secret_encrypted),
            revoked=key.status != "active",
            tenant_suspended=tenant is not None and tenant.status != "active",
            expires=time.monotonic() + self._cache_secs,
        )
        self._cache[key_id] = record
        return record
