"""``Idempotency-Key``: the same key with the same body returns the first answer; with a
different body, 409 IDEMPOTENCY_KEY_REUSED."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hongyan import errors
from hongyan.api.context import AppContext
from hongyan.messages import repository as repo
from hongyan.models import IdempotencyRecord, utcnow

Produce = Callable[[AsyncSession], Awaitable[tuple[int, dict[str, Any]]]]


def request_hash(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(b"\n".join([method.encode(), path.encode(), body])).hexdigest()


async def run(
    ctx: AppContext, *, tenant_id: str, key: str | None, fingerprint: str, produce: Produce
) -> tuple[int, dict[str, Any]]:
    """Run ``produce`` in one transaction, storing its answer under the key when given.

    The answer and the work commit together, so a retried request either finds both or
    neither. Two requests racing with one key: the loser's insert conflicts, its work is
    rolled back, and it answers what the winner stored.
    """

    async def in_transaction() -> tuple[int, dict[str, Any]]:
        async with ctx.db.session() as session:
            status, body = await produce(session)
            if key is not None:
                await repo.insert_idempotency(
                    session, [record_row(tenant_id, key, fingerprint, status, body)]
                )
        return status, body

    return await run_stored(
        ctx, tenant_id=tenant_id, key=key, fingerprint=fingerprint, produce=in_transaction
    )


async def run_stored(
    ctx: AppContext,
    *,
    tenant_id: str,
    key: str | None,
    fingerprint: str,
    produce: Callable[[], Awaitable[tuple[int, dict[str, Any]]]],
) -> tuple[int, dict[str, Any]]:
    """As ``run``, for a ``produce`` that stores ``record_row`` in its own transaction.

    The first answer under the key is replayed without running ``produce``; an IntegrityError
    out of ``produce`` (another request stored the key first) replays the winner's answer.
    """
    if key is not None and len(key) > 255:
        raise errors.FIELD_TOO_LONG(field="Idempotency-Key", reason="at most 255 characters")
    if key is not None:
        found = await _find(ctx, tenant_id, key)
        if found is not None:
            return _replay(found, fingerprint)
    try:
        return await produce()
    except IntegrityError:
        if key is None:
            raise
        found = await _find(ctx, tenant_id, key)
        if found is None:
            raise
        return _replay(found, fingerprint)


def record_row(
    tenant_id: str, key: str, fingerprint: str, status: int, body: dict[str, Any]
) -> dict[str, Any]:
    """The stored first answer, as a row of ``idempotency_record``."""
    return {
        "tenant_id": tenant_id,
        "key": key,
        "request_hash": fingerprint,
        "status_code": status,
        "response": body,
        "created_at": utcnow(),
    }


async def _find(ctx: AppContext, tenant_id: str, key: str) -> IdempotencyRecord | None:
    async with ctx.db.session() as session:
        return await repo.get_idempotency(session, tenant_id, key)


def _replay(record: IdempotencyRecord, fingerprint: str) -> tuple[int, dict[str, Any]]:
    if record.request_hash != fingerprint:
        raise errors.IDEMPOTENCY_KEY_REUSED(field="Idempotency-Key")
    return record.status_code, record.response
