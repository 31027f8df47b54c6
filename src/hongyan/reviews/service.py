"""Rules of the reviews domain: recording submitted versions and the decisions on them.

Signs and templates call ``submit`` each time a version is submitted; the operator's desk
(``reviews.queue``) decides pending ones. Every decision, automatic or not, is audited.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from hongyan import errors
from hongyan.accounts.service import Actor, audit
from hongyan.ids import new_id
from hongyan.models import Review, utcnow
from hongyan.reviews import repository as repo
from hongyan.reviews.findings import Finding

SYSTEM_ACTOR = Actor(role="system")


async def submit(
    session: AsyncSession,
    *,
    tenant_id: str,
    subject_kind: str,
    subject_id: str,
    version: int,
    snapshot: dict[str, Any],
    findings: Sequence[Finding],
    status: str,
) -> Review:
    """Record a submitted version; an automatic decision (status not pending) is final at once."""
    await repo.supersede_pending(session, subject_id)
    review = Review(
        id=new_id("rev"),
        tenant_id=tenant_id,
        subject_kind=subject_kind,
        subject_id=subject_id,
        version=version,
        status=status,
        snapshot=snapshot,
        findings=[f.as_dict() for f in findings],
    )
    if status != "pending":
        review.decided_by = SYSTEM_ACTOR.role
        review.decided_at = utcnow()
    await repo.add(session, review)
    if status != "pending":
        verb = "auto_approve" if status == "approved" else "auto_reject"
        await _audit(session, SYSTEM_ACTOR, review, f"{subject_kind}.{verb}")
    return review


async def refresh_snapshot(
    session: AsyncSession, *, subject_id: str, snapshot: dict[str, Any]
) -> None:
    """Show the operator the subject as it is now, when it changed while still undecided."""
    review = await repo.pending_of(session, subject_id)
    if review is not None:
        review.snapshot = snapshot
        await session.flush()


async def get(session: AsyncSession, review_id: str, *, for_update: bool = False) -> Review:
    """One review; REVIEW_NOT_FOUND when there is none."""
    review = await repo.get(session, review_id, for_update=for_update)
    if review is None:
        raise errors.REVIEW_NOT_FOUND(field="id", id=review_id)
    return review


async def record_decision(
    session: AsyncSession, *, actor: Actor, review: Review, approve: bool, reason: str | None
) -> None:
    """Close a pending review as approved or rejected (with the reason the tenant will see)."""
    if review.status != "pending":
        raise errors.REVIEW_ALREADY_DECIDED(field="id", id=review.id, status=review.status)
    if not approve and not (reason and reason.strip()):
        raise errors.FIELD_REQUIRED(field="reason")
    review.status = "approved" if approve else "rejected"
    review.reason = reason.strip() if reason else None
    review.decided_by = actor.role
    review.decided_by_key_id = actor.key_id
    review.decided_at = utcnow()
    await session.flush()
    verb = "approve" if approve else "reject"
    await _audit(session, actor, review, f"{review.subject_kind}.{verb}")


async def _audit(session: AsyncSession, actor: Actor, review: Review, action: str) -> None:
    details: dict[str, Any] = {
        "review_id": review.id,
        "version": review.version,
        "findings": [f["code"] for f in review.findings],
    }
    if review.reason:
        details["reason"] = review.reason
    await audit(
        session,
        actor,
        action,
        tenant_id=review.tenant_id,
        target_id=review.subject_id,
        details=details,
    )


async def list_reviews(
    session: AsyncSession,
    *,
    status: str | None = "pending",
    subject_kind: str | None = None,
    tenant_id: str | None = None,
    subject_id: str | None = None,
    limit: int,
    after_id: str | None = None,
) -> list[Review]:
    """Reviews oldest first (limit + 1 rows, for paging); by default the pending queue."""
    return await repo.list_reviews(
        session,
        status=status,
        subject_kind=subject_kind,
        tenant_id=tenant_id,
        subject_id=subject_id,
        limit=limit,
        after_id=after_id,
    )


async def history(session: AsyncSession, *, subject_id: str) -> list[Review]:
    """Every submitted version of a sign or template with its decision, oldest first."""
    return await repo.history(session, subject_id)
