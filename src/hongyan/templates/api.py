"""HTTP routes of the templates domain: the tenant's templates, their history, previews."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, status

from hongyan import errors
from hongyan.api.deps import Ctx, Paging, Session, TenantManage, TenantRead
from hongyan.api.errors import ERROR_RESPONSES
from hongyan.errors import Lang
from hongyan.kit.pagination import Page, page_of
from hongyan.models import Template
from hongyan.reviews.schemas import VersionOut, findings_out, version_out
from hongyan.templates import rules, service
from hongyan.templates.schemas import (
    HitOut,
    RenderOut,
    RenderRequest,
    SegmentsOut,
    TemplateCreate,
    TemplateKind,
    TemplateOut,
    TemplateStatus,
    TemplateUpdate,
)

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES, tags=["templates"])


def lang_of(request: Request) -> Lang:
    return errors.lang_from_header(request.headers.get("accept-language"))


def template_out(template: Template, lang: Lang = "en") -> TemplateOut:
    """The API view of a template."""
    skip = ("findings", "variable_names")
    data = {c: getattr(template, c) for c in TemplateOut.model_fields if c not in skip}
    return TemplateOut.model_validate(
        {
            **data,
            "findings": findings_out(template.findings, lang),
            "variable_names": rules.parse(template.content).variables,
        }
    )


@router.get("/templates", summary="List your templates, newest first")
async def list_templates(
    principal: TenantRead,
    session: Session,
    paging: Paging,
    request: Request,
    template_status: Annotated[
        TemplateStatus | None,
        Query(alias="status", description="Deleted (canceled) ones are listed only when asked."),
    ] = None,
    kind: Annotated[TemplateKind | None, Query()] = None,
) -> Page[TemplateOut]:
    assert principal.tenant_id
    rows = await service.list_templates(
        session,
        tenant_id=principal.tenant_id,
        status=template_status,
        kind=kind,
        limit=paging.limit,
        before_id=paging.before_id,
    )
    page, cursor = page_of(rows, paging.limit)
    lang = lang_of(request)
    return Page[TemplateOut](data=[template_out(t, lang) for t in page], next_cursor=cursor)


@router.post(
    "/templates",
    status_code=status.HTTP_201_CREATED,
    summary="Submit a template (reviewed automatically at once)",
)
async def create_template(
    body: TemplateCreate, principal: TenantManage, session: Session, ctx: Ctx, request: Request
) -> TemplateOut:
    assert principal.tenant_id
    template = await service.create(session, ctx=ctx, tenant_id=principal.tenant_id, req=body)
    return template_out(template, lang_of(request))


@router.get("/templates/{template_id}", summary="One of your templates")
async def get_template(
    template_id: str, principal: TenantRead, session: Session, request: Request
) -> TemplateOut:
    assert principal.tenant_id
    template = await service.get(session, tenant_id=principal.tenant_id, template_id=template_id)
    return template_out(template, lang_of(request))


@router.patch(
    "/templates/{template_id}", summary="Change a pending or rejected template (reviewed again)"
)
async def update_template(
    template_id: str,
    body: TemplateUpdate,
    principal: TenantManage,
    session: Session,
    ctx: Ctx,
    request: Request,
) -> TemplateOut:
    assert principal.tenant_id
    template = await service.update(
        session, ctx=ctx, tenant_id=principal.tenant_id, template_id=template_id, req=body
    )
    return template_out(template, lang_of(request))


@router.delete(
    "/templates/{template_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a template that is not under review (it becomes canceled)",
)
async def delete_template(template_id: str, principal: TenantManage, session: Session) -> None:
    assert principal.tenant_id
    await service.delete(session, tenant_id=principal.tenant_id, template_id=template_id)


@router.get(
    "/templates/{template_id}/history",
    summary="Every version of a template with its findings and decision, oldest first",
)
async def template_history(
    template_id: str, principal: TenantRead, session: Session, request: Request
) -> list[VersionOut]:
    assert principal.tenant_id
    rows = await service.history(session, tenant_id=principal.tenant_id, template_id=template_id)
    lang = lang_of(request)
    return [version_out(r, lang) for r in rows]


@router.post(
    "/templates/{template_id}/render",
    summary="Preview a template with parameters: the text and its segments",
)
async def render_template(
    template_id: str, body: RenderRequest, principal: TenantRead, session: Session, ctx: Ctx
) -> RenderOut:
    assert principal.tenant_id
    preview = await service.preview(
        session,
        ctx=ctx,
        tenant_id=principal.tenant_id,
        template_id=template_id,
        params=body.params,
        sign_name=body.sign,
    )
    info = preview.segments
    return RenderOut(
        text=preview.rendered.text,
        sign=preview.sign.name if preview.sign else None,
        segments=SegmentsOut(
            text=info.text,
            encoding=info.encoding.value,
            characters=info.characters,
            units=info.units,
            segments=info.segments,
            per_segment=info.per_segment,
            parts=list(info.parts),
        ),
        review_hits=[
            HitOut(word=h.word, category=h.category, action=h.action, start=h.start, end=h.end)
            for h in preview.rendered.review_hits
        ],
    )
