"""All SQL of the reviews domain."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hongyan.models import Review


async def add(session: AsyncSession, review: Review) -> None:
    session.add(review)
    await session.flush()


async def get(session: AsyncSession, review_id: str, *, for_update: bool = False) -> Review | None:
    stmt = select(Review).where(Review.id == review_id)
    if for_update:
        # Refresh what this session already holds: the decision must see the locked row.
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return (await session.execute(stmt)).scalar_one_or_none()


async def supersede_pending(session: AsyncSession, subject_id: str) -> None:
    """Mark the subject's undecided reviews superseded (a newer version replaces them)."""
    await session.execute(
        update(Review)
        .where(Review.subject_id == subject_id, Review.status == "pending")
        .values(status="superseded")
        .execution_options(synchronize_session="fetch")
    )


async def pending_of(session: AsyncSession, subject_id: str) -> Review | None:
    stmt = select(Review).where(Review.subject_id == subject_id, Review.status == "pending")
    return (await session.execute(stmt.order_by(Review.id.desc()).limit(1))).scalar_one_or_none()


async def list_reviews(
    session: AsyncSession,
    *,
    status: str | None,
    subject_kind: str | None,
    tenant_id: str | None,
    subject_id: str | None,
    limit: int,
    after_id: str | None,
) -> list[Review]:
    """Oldest first, so the queue is worked in the order tenants submitted."""
    stmt = select(Review).order_by(Review.id).limit(limit + 1)
    if status:
        stmt = stmt.where(Review.status == status)
    if subject_kind:
        stmt = stmt.where(Review.subject_kind == subject_kind)
    if tenant_id:
        stmt = stmt.where(Review.tenant_id == tenant_id)
    if subject_id:
        stmt = stmt.where(Review.subject_id == subject_id)
    if after_id:
        stmt = stmt.where(Review.id > after_id)
    return list((await session.execute(stmt)).scalars())


async def history(session: AsyncSession, subject_id: str) -> list[Review]:
    stmt = select(Review).where(Review.subject_id == subject_id).order_by(Review.id)
    return list((await session.execute(stmt)).scalars())
