"""The operator's desk: the queue across tenants, and decisions applied to signs and templates."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from hongyan.accounts.service import Actor
from hongyan.models import Review, Sign, Template
from hongyan.reviews import service as reviews
from hongyan.signs import service as signs
from hongyan.templates import service as templates


async def _lock_subject(session: AsyncSession, review: Review) -> Sign | Template:
    if review.subject_kind == "sign":
        return await signs.lock_for_decision(session, review.subject_id)
    return await templates.lock_for_decision(session, review.subject_id)


async def decide(
    session: AsyncSession,
    *,
    actor: Actor,
    review_id: str,
    approve: bool,
    reason: str | None = None,
) -> Review:
    """Approve or reject a pending review; the sign or template takes the decision."""
    review = await reviews.get(session, review_id)
    # Lock the subject before the review, in the order a tenant's modification takes them,
    # so a decision racing a modification waits instead of deadlocking.
    subject = await _lock_subject(session, review)
    review = await reviews.get(session, review_id, for_update=True)
    await reviews.record_decision(
        session, actor=actor, review=review, approve=approve, reason=reason
    )
    # A pending review is always of the subject's current version: modifying supersedes it.
    assert subject.version == review.version
    subject.status = review.status
    subject.reason = review.reason
    subject.decided_at = review.decided_at
    await session.flush()
    return review


async def queue(
    session: AsyncSession,
    *,
    status: str | None = "pending",
    subject_kind: str | None = None,
    tenant_id: str | None = None,
    subject_id: str | None = None,
    limit: int = 50,
    after_id: str | None = None,
) -> list[Review]:
    """Reviews across tenants, oldest first (limit + 1 rows, for paging)."""
    return await reviews.list_reviews(
        session,
        status=status,
        subject_kind=subject_kind,
        tenant_id=tenant_id,
        subject_id=subject_id,
        limit=limit,
        after_id=after_id,
    )
