"""HTTP routes of the operator's review queue (signs and templates of every tenant)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request

from hongyan import errors
from hongyan.api.deps import Operator, Paging, Session, actor_of
from hongyan.api.errors import ERROR_RESPONSES
from hongyan.kit.pagination import Page, page_of
from hongyan.reviews import queue
from hongyan.reviews import service as reviews
from hongyan.reviews.schemas import ReviewOut, ReviewReject, ReviewStatus, review_out

admin = APIRouter(prefix="/v1/admin", responses=ERROR_RESPONSES, tags=["admin: reviews"])


@admin.get("/reviews", summary="The review queue across tenants, oldest first")
async def list_reviews(
    _: Operator,
    session: Session,
    paging: Paging,
    request: Request,
    review_status: Annotated[
        ReviewStatus | None,
        Query(alias="status", description="Default: pending, the queue itself."),
    ] = "pending",
    kind: Annotated[Literal["sign", "template"] | None, Query()] = None,
    tenant_id: Annotated[str | None, Query()] = None,
    subject_id: Annotated[str | None, Query(description="One sign's or template's.")] = None,
) -> Page[ReviewOut]:
    # The cursor is the last id of the previous page; this list goes oldest first.
    rows = await queue.queue(
        session,
        status=review_status,
        subject_kind=kind,
        tenant_id=tenant_id,
        subject_id=subject_id,
        limit=paging.limit,
        after_id=paging.before_id,
    )
    page, cursor = page_of(rows, paging.limit)
    lang = errors.lang_from_header(request.headers.get("accept-language"))
    return Page[ReviewOut](data=[review_out(r, lang) for r in page], next_cursor=cursor)


@admin.get("/reviews/{review_id}", summary="One review")
async def get_review(review_id: str, _: Operator, session: Session, request: Request) -> ReviewOut:
    lang = errors.lang_from_header(request.headers.get("accept-language"))
    return review_out(await reviews.get(session, review_id), lang)


@admin.post("/reviews/{review_id}/approve", summary="Approve a pending sign or template")
async def approve_review(
    review_id: str, principal: Operator, session: Session, request: Request
) -> ReviewOut:
    review = await queue.decide(
        session, actor=actor_of(request, principal), review_id=review_id, approve=True
    )
    return review_out(review)


@admin.post(
    "/reviews/{review_id}/reject", summary="Reject a pending sign or template, with a reason"
)
async def reject_review(
    review_id: str, body: ReviewReject, principal: Operator, session: Session, request: Request
) -> ReviewOut:
    review = await queue.decide(
        session,
        actor=actor_of(request, principal),
        review_id=review_id,
        approve=False,
        reason=body.reason,
    )
    return review_out(review)
