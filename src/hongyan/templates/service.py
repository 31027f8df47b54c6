"""Rules of the templates domain: submission with automatic review, changes, rendering.

States: a submitted version is ``rejected`` at once when the automatic review finds a reason
(all reasons listed), ``approved`` at once for a trusted tenant when it finds nothing, and
``pending`` for an operator otherwise; ``canceled`` once deleted. Only pending or rejected
templates can be modified (a new version, reviewed again); a pending one cannot be deleted.
Marketing and international templates need a verified enterprise.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from hongyan import errors
from hongyan.accounts import service as accounts
from hongyan.api.context import AppContext
from hongyan.compliance import service as compliance
from hongyan.ids import new_id
from hongyan.kit.segments import SegmentInfo, analyze
from hongyan.models import Review, Sign, Template, Tenant, utcnow
from hongyan.reviews import findings as outcomes
from hongyan.reviews import service as reviews
from hongyan.signs import service as signs
from hongyan.templates import repository as repo
from hongyan.templates import rules
from hongyan.templates.render import Rendered, render
from hongyan.templates.schemas import TemplateCreate, TemplateUpdate

__all__ = ["Rendered", "render", "render_checked"]


def _require_verified(tenant: Tenant, *, kind: str, international: bool) -> None:
    """Marketing and international sending is only for companies the operator verified."""
    if tenant.verification_status == "verified":
        return
    if kind == "marketing":
        what, field = "marketing", "kind"
    elif international:
        what, field = "international", "international"
    else:
        return
    raise errors.TEMPLATE_NEEDS_VERIFIED_ENTERPRISE(
        field=field, what=what, status=tenant.verification_status
    )


def snapshot(template: Template) -> dict[str, Any]:
    """What is submitted for review."""
    return {
        "kind": template.kind,
        "international": template.international,
        "name": template.name,
        "content": template.content,
        "variables": template.variables,
        "remark": template.remark,
    }


async def _submit(
    session: AsyncSession, *, ctx: AppContext, tenant: Tenant, template: Template
) -> None:
    """Review this version automatically; decide it at once or queue it for an operator."""
    hits = await compliance.scan(session, ctx=ctx, tenant_id=tenant.id, text=template.content)
    found = rules.review(
        kind=template.kind,
        content=template.content,
        rules=template.variables,
        opt_out_phrases=ctx.settings.template_opt_out_phrases,
        allowed_domains=ctx.settings.link_allowed_domains,
        hits=hits,
    )
    status = outcomes.outcome(found, trusted=tenant.trusted)
    template.status = status
    template.findings = [f.as_dict() for f in found]
    template.reason = None
    template.submitted_at = utcnow()
    template.decided_at = None if status == "pending" else template.submitted_at
    await session.flush()
    await reviews.submit(
        session,
        tenant_id=tenant.id,
        subject_kind="template",
        subject_id=template.id,
        version=template.version,
        snapshot=snapshot(template),
        findings=found,
        status=status,
    )


def _rules_of(variables: Mapping[str, Any]) -> dict[str, Any]:
    return {name: rule.model_dump(exclude_none=True) for name, rule in variables.items()}


async def create(
    session: AsyncSession, *, ctx: AppContext, tenant_id: str, req: TemplateCreate
) -> Template:
    """Submit a template; the answer already carries the automatic review's outcome."""
    tenant = await accounts.get_tenant(session, tenant_id)
    _require_verified(tenant, kind=req.kind, international=req.international)
    template = Template(
        id=new_id("tpl"),
        tenant_id=tenant_id,
        kind=req.kind,
        international=req.international,
        name=req.name,
        content=req.content,
        variables=_rules_of(req.variables),
        remark=req.remark,
        status="pending",
        findings=[],
        version=1,
    )
    await repo.add(session, template)
    await _submit(session, ctx=ctx, tenant=tenant, template=template)
    return template


async def get(
    session: AsyncSession, *, tenant_id: str, template_id: str, for_update: bool = False
) -> Template:
    """A template of this tenant; TEMPLATE_NOT_FOUND for others' (not told it exists)."""
    template = await repo.get(session, template_id, for_update=for_update)
    if template is None or template.tenant_id != tenant_id:
        raise errors.TEMPLATE_NOT_FOUND(field="id", id=template_id)
    return template


async def list_templates(
    session: AsyncSession,
    *,
    tenant_id: str,
    status: str | None,
    kind: str | None,
    limit: int,
    before_id: str | None,
) -> list[Template]:
    """The tenant's templates, newest first (limit + 1 rows, for paging)."""
    return await repo.list_templates(
        session, tenant_id=tenant_id, status=status, kind=kind, limit=limit, before_id=before_id
    )


async def update(
    session: AsyncSession,
    *,
    ctx: AppContext,
    tenant_id: str,
    template_id: str,
    req: TemplateUpdate,
) -> Template:
    """Change a pending or rejected template: a new version, reviewed again."""
    tenant = await accounts.get_tenant(session, tenant_id)
    template = await get(session, tenant_id=tenant_id, template_id=template_id, for_update=True)
    if template.status not in ("pending", "rejected"):
        raise errors.TEMPLATE_NOT_MODIFIABLE(field="id", id=template.id, status=template.status)
    changes = req.model_dump(exclude_unset=True)
    if req.variables is not None:
        changes["variables"] = _rules_of(req.variables)
    for field, value in changes.items():
        if value is not None or field == "remark":
            setattr(template, field, value)
    _require_verified(tenant, kind=template.kind, international=template.international)
    template.version += 1
    await _submit(session, ctx=ctx, tenant=tenant, template=template)
    return template


async def delete(session: AsyncSession, *, tenant_id: str, template_id: str) -> Template:
    """Cancel a template that is not under review. Twice is harmless."""
    template = await get(session, tenant_id=tenant_id, template_id=template_id, for_update=True)
    if template.status == "pending":
        raise errors.TEMPLATE_UNDER_REVIEW(field="id", id=template.id)
    if template.status != "canceled":
        template.status = "canceled"
        template.canceled_at = utcnow()
        await session.flush()
    return template


async def history(session: AsyncSession, *, tenant_id: str, template_id: str) -> list[Review]:
    """Every submitted version with its findings and decision, oldest first."""
    template = await get(session, tenant_id=tenant_id, template_id=template_id)
    return await reviews.history(session, subject_id=template.id)


async def lock_for_decision(session: AsyncSession, template_id: str) -> Template:
    """The template behind a review, locked while an operator's decision is recorded."""
    template = await repo.get(session, template_id, for_update=True)
    if template is None:
        raise errors.TEMPLATE_NOT_FOUND(field="id", id=template_id)
    return template


# --- use on the send path ---------------------------------------------------------------------


async def get_approved(session: AsyncSession, *, tenant_id: str, template_id: str) -> Template:
    """A template this tenant may send with: TEMPLATE_NOT_FOUND / TEMPLATE_NOT_APPROVED."""
    template = await get(session, tenant_id=tenant_id, template_id=template_id)
    if template.status != "approved":
        raise errors.TEMPLATE_NOT_APPROVED(field="template", id=template.id, status=template.status)
    return template


async def render_checked(
    session: AsyncSession,
    *,
    ctx: AppContext,
    tenant_id: str,
    template: Template,
    params: Mapping[str, str],
) -> Rendered:
    """Render, then scan the result: variables can carry sensitive words (CONTENT_BLOCKED)."""
    # When the caller has just rendered these params (the send path checks them first), this
    # render is a lookup in render's memo of recent renders, not a second render.
    rendered = render(template, params, allowed_domains=ctx.settings.link_allowed_domains)
    hits = await compliance.scan(session, ctx=ctx, tenant_id=tenant_id, text=rendered.text)
    if not hits:  # most texts: the render already has no review hits
        return rendered
    for hit in hits:
        if hit.action == "block":
            name = rendered.variable_at(hit.start, hit.end)
            raise errors.CONTENT_BLOCKED(
                field=f"params.{name}" if name else "template",
                word=hit.word,
                category=hit.category,
            )
    return dataclasses.replace(rendered, review_hits=tuple(hits))


@dataclass(frozen=True, slots=True)
class Preview:
    """A render as the handset would get it."""

    rendered: Rendered
    sign: Sign | None
    segments: SegmentInfo


async def preview(
    session: AsyncSession,
    *,
    ctx: AppContext,
    tenant_id: str,
    template_id: str,
    params: Mapping[str, str],
    sign_name: str | None = None,
) -> Preview:
    """Render a template of any status with a sign of the tenant's, and count its segments."""
    template = await get(session, tenant_id=tenant_id, template_id=template_id)
    sign = None
    if sign_name:
        sign = await signs.get_by_name(session, tenant_id=tenant_id, name=sign_name)
        signs.check_sign_for_template(sign, template.kind)
    rendered = await render_checked(
        session, ctx=ctx, tenant_id=tenant_id, template=template, params=params
    )
    info = analyze(
        rendered.text, sign=sign.name if sign else None, mainland=not template.international
    )
    return Preview(rendered, sign, info)
