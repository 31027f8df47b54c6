"""HTTP routes of the compliance domain: sensitive-word lists and the content check.

Tenants manage their own list under ``/v1/compliance/words``; the operator manages the global
list under ``/v1/admin/compliance/words``. Both lists apply to every message of a tenant.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from hongyan.accounts.service import Actor
from hongyan.api.context import AppContext
from hongyan.api.deps import Ctx, Operator, Paging, Session, TenantManage, TenantRead, actor_of
from hongyan.api.errors import ERROR_RESPONSES
from hongyan.compliance import content, service
from hongyan.compliance.schemas import (
    Action,
    ContentCheck,
    ContentCheckOut,
    ImportFormat,
    ImportResult,
    WordCreate,
    WordImport,
    WordOut,
)
from hongyan.kit.pagination import Page, page_of
from hongyan.models import SensitiveWord

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES)
admin = APIRouter(prefix="/v1/admin", responses=ERROR_RESPONSES)

_WORDS = "compliance: words"
_ADMIN_WORDS = "admin: compliance words"
_CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {}}, "description": "CSV: word,category,action"}
}
# The import body: JSON (WordImport), or the file itself as text/plain or text/csv with the
# options in the query string, so `curl --data-binary @words.txt` works.
_IMPORT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": WordImport.model_json_schema()},
            "text/plain": {"schema": {"type": "string"}},
            "text/csv": {"schema": {"type": "string"}},
        },
    }
}

_RAW_ONLY = "For a text/plain or text/csv body (a JSON body carries it inside)."
CategoryFilter = Annotated[str | None, Query(description="Only this category.")]
ActionFilter = Annotated[Action | None, Query(description="Only block or only review words.")]
SearchFilter = Annotated[str | None, Query(description="Words containing this (normalized).")]
FormatQuery = Annotated[ImportFormat | None, Query(alias="format", description=_RAW_ONLY)]
CategoryQuery = Annotated[str | None, Query(description=_RAW_ONLY)]
ActionQuery = Annotated[Action | None, Query(description=_RAW_ONLY)]


def word_out(row: SensitiveWord) -> WordOut:
    return WordOut.model_validate(row)


async def import_request(
    request: Request,
    fmt: FormatQuery = None,
    category: CategoryQuery = None,
    action: ActionQuery = None,
) -> WordImport:
    """Read the import body: JSON, or a raw text/CSV file with options in the query."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await request.body()
    try:
        if kind in ("text/plain", "text/csv"):
            text = body.decode("utf-8-sig", errors="strict")
            default_format = "csv" if kind == "text/csv" else "auto"
            return WordImport(
                content=text,
                format=fmt or default_format,
                category=category or "custom",
                action=action or "block",
            )
        return WordImport.model_validate_json(body)
    except UnicodeDecodeError:
        problem = {"type": "value_error", "loc": ("body",), "msg": "the file is not UTF-8"}
        raise RequestValidationError([problem]) from None
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        ) from None


def _csv(text: str, name: str) -> Response:
    return Response(
        content=text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


async def _page(
    session: Session,
    tenant_id: str | None,
    paging: Paging,
    category: str | None,
    action: str | None,
    q: str | None,
) -> Page[WordOut]:
    rows = await service.list_words(
        session,
        tenant_id=tenant_id,
        limit=paging.limit,
        before_id=paging.before_id,
        category=category,
        action=action,
        q=q,
    )
    page, cursor = page_of(rows, paging.limit)
    return Page[WordOut](data=[word_out(r) for r in page], next_cursor=cursor)


# --- the tenant's own list --------------------------------------------------------------------


@router.get("/compliance/words", tags=[_WORDS], summary="List your sensitive words")
async def list_words(
    principal: TenantRead,
    session: Session,
    paging: Paging,
    category: CategoryFilter = None,
    action: ActionFilter = None,
    q: SearchFilter = None,
) -> Page[WordOut]:
    return await _page(session, principal.tenant_id, paging, category, action, q)


@router.post(
    "/compliance/words",
    tags=[_WORDS],
    status_code=status.HTTP_201_CREATED,
    summary="Add a word to your list",
)
async def add_word(
    body: WordCreate, principal: TenantManage, session: Session, request: Request, ctx: Ctx
) -> WordOut:
    row = await service.add_word(
        session,
        ctx=ctx,
        actor=actor_of(request, principal),
        tenant_id=principal.tenant_id,
        req=body,
    )
    return word_out(row)


@router.get(
    "/compliance/words/export",
    tags=[_WORDS],
    summary="Your list as CSV",
    response_class=Response,
    responses=_CSV_RESPONSE,
)
async def export_words(principal: TenantRead, session: Session) -> Response:
    return _csv(await service.export_csv(session, tenant_id=principal.tenant_id), "words.csv")


ImportBody = Annotated[WordImport, Depends(import_request)]


async def _import(
    body: WordImport, *, tenant_id: str | None, actor: Actor, session: AsyncSession, ctx: AppContext
) -> ImportResult:
    """Merge a word file into one list: a tenant's, or the global one (tenant_id None)."""
    result = await service.import_words(
        session,
        ctx=ctx,
        actor=actor,
        tenant_id=tenant_id,
        content=body.content,
        fmt=body.format,
        category=body.category,
        action=body.action,
    )
    return ImportResult(**result.as_dict())


@router.post(
    "/compliance/words/import",
    tags=[_WORDS],
    summary="Merge a text or CSV word file into your list",
    openapi_extra=_IMPORT_BODY,
)
async def import_words(
    body: ImportBody, principal: TenantManage, session: Session, request: Request, ctx: Ctx
) -> ImportResult:
    return await _import(
        body,
        tenant_id=principal.tenant_id,
        actor=actor_of(request, principal),
        session=session,
        ctx=ctx,
    )


@router.get("/compliance/words/{word_id}", tags=[_WORDS], summary="One of your words")
async def get_word(word_id: str, principal: TenantRead, session: Session) -> WordOut:
    return word_out(await service.get_word(session, tenant_id=principal.tenant_id, word_id=word_id))


@router.delete(
    "/compliance/words/{word_id}",
    tags=[_WORDS],
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a word from your list",
)
async def remove_word(
    word_id: str, principal: TenantManage, session: Session, request: Request, ctx: Ctx
) -> None:
    await service.remove_word(
        session,
        ctx=ctx,
        actor=actor_of(request, principal),
        tenant_id=principal.tenant_id,
        word_id=word_id,
    )


@router.post(
    "/content/check",
    tags=["compliance: content"],
    summary="Check a text: sensitive words, segments, the text as the handset shows it",
)
async def check_content(
    body: ContentCheck, principal: TenantRead, session: Session, ctx: Ctx
) -> ContentCheckOut:
    return await content.check_content(session, ctx=ctx, tenant_id=principal.tenant_id, req=body)


# --- the operator's global list ---------------------------------------------------------------


@admin.get("/compliance/words", tags=[_ADMIN_WORDS], summary="List the global sensitive words")
async def admin_list_words(
    _: Operator,
    session: Session,
    paging: Paging,
    category: CategoryFilter = None,
    action: ActionFilter = None,
    q: SearchFilter = None,
) -> Page[WordOut]:
    return await _page(session, None, paging, category, action, q)


@admin.post(
    "/compliance/words",
    tags=[_ADMIN_WORDS],
    status_code=status.HTTP_201_CREATED,
    summary="Add a word to the global list",
)
async def admin_add_word(
    body: WordCreate, principal: Operator, session: Session, request: Request, ctx: Ctx
) -> WordOut:
    row = await service.add_word(
        session, ctx=ctx, actor=actor_of(request, principal), tenant_id=None, req=body
    )
    return word_out(row)


@admin.get(
    "/compliance/words/export",
    tags=[_ADMIN_WORDS],
    summary="The global list as CSV",
    response_class=Response,
    responses=_CSV_RESPONSE,
)
async def admin_export_words(_: Operator, session: Session) -> Response:
    return _csv(await service.export_csv(session, tenant_id=None), "global-words.csv")


@admin.post(
    "/compliance/words/import",
    tags=[_ADMIN_WORDS],
    summary="Merge a text or CSV word file into the global list",
    openapi_extra=_IMPORT_BODY,
)
async def admin_import_words(
    body: ImportBody, principal: Operator, session: Session, request: Request, ctx: Ctx
) -> ImportResult:
    return await _import(
        body, tenant_id=None, actor=actor_of(request, principal), session=session, ctx=ctx
    )


@admin.post(
    "/compliance/words/import-defaults",
    tags=[_ADMIN_WORDS],
    summary="Merge the shipped default lists into the global list again",
)
async def admin_import_defaults(
    principal: Operator, session: Session, request: Request, ctx: Ctx
) -> ImportResult:
    result = await service.import_defaults(session, ctx=ctx, actor=actor_of(request, principal))
    return ImportResult(**result.as_dict())


@admin.get("/compliance/words/{word_id}", tags=[_ADMIN_WORDS], summary="One global word")
async def admin_get_word(word_id: str, _: Operator, session: Session) -> WordOut:
    return word_out(await service.get_word(session, tenant_id=None, word_id=word_id))


@admin.delete(
    "/compliance/words/{word_id}",
    tags=[_ADMIN_WORDS],
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a word from the global list",
)
async def admin_remove_word(
    word_id: str, principal: Operator, session: Session, request: Request, ctx: Ctx
) -> None:
    await service.remove_word(
        session, ctx=ctx, actor=actor_of(request, principal), tenant_id=None, word_id=word_id
    )


@admin.post(
    "/content/check",
    tags=["admin: compliance words"],
    summary="Check a text with the global list and, if named, a tenant's list",
)
async def admin_check_content(
    body: ContentCheck,
    _: Operator,
    session: Session,
    ctx: Ctx,
    tenant_id: Annotated[str | None, Query(description="Also apply this tenant's list.")] = None,
) -> ContentCheckOut:
    return await content.check_content(session, ctx=ctx, tenant_id=tenant_id, req=body)
