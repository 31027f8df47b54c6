"""All SQL of the templates domain."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hongyan.models import Template


async def add(session: AsyncSession, template: Template) -> None:
    session.add(template)
    await session.flush()


async def get(
    session: AsyncSession, template_id: str, *, for_update: bool = False
) -> Template | None:
    stmt = select(Template).where(Template.id == template_id)
    if for_update:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return (await session.execute(stmt)).scalar_one_or_none()


async def list_templates(
    session: AsyncSession,
    *,
    tenant_id: str,
    status: str | None,
    kind: str | None,
    limit: int,
    before_id: str | None,
) -> list[Template]:
    """Newest first; canceled (deleted) templates only when asked for by status."""
    stmt = select(Template).where(Template.tenant_id == tenant_id).order_by(Template.id.desc())
    stmt = stmt.where(Template.status == status if status else Template.status != "canceled")
    if kind:
        stmt = stmt.where(Template.kind == kind)
    if before_id:
        stmt = stmt.where(Template.id < before_id)
    return list((await session.execute(stmt.limit(limit + 1))).scalars())
