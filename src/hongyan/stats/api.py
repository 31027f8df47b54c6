"""``GET /v1/stats``: the tenant's sending statistics."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query

from hongyan.api.deps import Session, TenantRead
from hongyan.api.errors import ERROR_RESPONSES
from hongyan.stats import service
from hongyan.stats.schemas import GroupBy, StatsOut

router = APIRouter(prefix="/v1", tags=["statistics"], responses=ERROR_RESPONSES)


@router.get(
    "/stats",
    summary="Submitted, sent, delivered, failed, pending, delivery rate, segments and cost",
    response_model=StatsOut,
)
async def get_stats(
    principal: TenantRead,
    session: Session,
    group_by: Annotated[GroupBy, Query(description="What each row is.")] = "day",
    day_from: Annotated[
        date | None,
        Query(
            alias="from", description="First UTC day of acceptance (default: 6 days before 'to')."
        ),
    ] = None,
    day_to: Annotated[
        date | None, Query(alias="to", description="Last UTC day, included (default: today).")
    ] = None,
    sign: Annotated[str | None, Query(description="Only this sign.")] = None,
    template: Annotated[str | None, Query(description="Only this template id.")] = None,
    country: Annotated[str | None, Query(description="Only this country (ISO alpha-2).")] = None,
    connector: Annotated[str | None, Query(description="Only this connector id.")] = None,
) -> StatsOut:
    assert principal.tenant_id
    return await service.stats(
        session,
        tenant_id=principal.tenant_id,
        group_by=group_by,
        day_from=day_from,
        day_to=day_to,
        sign=sign,
        template=template,
        country=country,
        connector=connector,
    )
