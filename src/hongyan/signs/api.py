"""HTTP routes of the signs domain: the tenant's sign names and their files."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from starlette.datastructures import UploadFile

from hongyan import errors
from hongyan.api.deps import Ctx, Operator, Paging, Session, TenantManage, TenantRead
from hongyan.api.errors import ERROR_RESPONSES
from hongyan.errors import Lang
from hongyan.kit.pagination import Page, page_of
from hongyan.kit.storage import storage_for
from hongyan.models import Sign
from hongyan.reviews import service as reviews
from hongyan.reviews.schemas import VersionOut, findings_out, version_out
from hongyan.signs import service
from hongyan.signs.schemas import FileOut, SignCreate, SignOut, SignStatus, SignUpdate

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES, tags=["signs"])
admin = APIRouter(prefix="/v1/admin", responses=ERROR_RESPONSES, tags=["admin: reviews"])


def lang_of(request: Request) -> Lang:
    return errors.lang_from_header(request.headers.get("accept-language"))


def sign_out(sign: Sign, lang: Lang = "en") -> SignOut:
    """The API view of a sign."""
    data = {c: getattr(sign, c) for c in SignOut.model_fields if c not in ("findings", "files")}
    return SignOut.model_validate(
        {
            **data,
            "findings": findings_out(sign.findings, lang),
            "files": [FileOut.model_validate(f) for f in sign.files],
        }
    )


@router.get("/signs", summary="List your signs, newest first")
async def list_signs(
    principal: TenantRead,
    session: Session,
    paging: Paging,
    request: Request,
    sign_status: Annotated[
        SignStatus | None,
        Query(alias="status", description="Deleted (canceled) signs are listed only when asked."),
    ] = None,
) -> Page[SignOut]:
    assert principal.tenant_id
    rows = await service.list_signs(
        session,
        tenant_id=principal.tenant_id,
        status=sign_status,
        limit=paging.limit,
        before_id=paging.before_id,
    )
    page, cursor = page_of(rows, paging.limit)
    lang = lang_of(request)
    return Page[SignOut](data=[sign_out(s, lang) for s in page], next_cursor=cursor)


@router.post(
    "/signs", status_code=status.HTTP_201_CREATED, summary="Apply for a sign name (reviewed)"
)
async def create_sign(
    body: SignCreate, principal: TenantManage, session: Session, ctx: Ctx, request: Request
) -> SignOut:
    assert principal.tenant_id
    sign = await service.create(session, ctx=ctx, tenant_id=principal.tenant_id, req=body)
    return sign_out(sign, lang_of(request))


@router.get("/signs/{sign_id}", summary="One of your signs")
async def get_sign(
    sign_id: str, principal: TenantRead, session: Session, request: Request
) -> SignOut:
    assert principal.tenant_id
    sign = await service.get(session, tenant_id=principal.tenant_id, sign_id=sign_id)
    return sign_out(sign, lang_of(request))


@router.patch("/signs/{sign_id}", summary="Change a pending or rejected sign (reviewed again)")
async def update_sign(
    sign_id: str,
    body: SignUpdate,
    principal: TenantManage,
    session: Session,
    ctx: Ctx,
    request: Request,
) -> SignOut:
    assert principal.tenant_id
    sign = await service.update(
        session, ctx=ctx, tenant_id=principal.tenant_id, sign_id=sign_id, req=body
    )
    return sign_out(sign, lang_of(request))


@router.delete(
    "/signs/{sign_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a sign that is not under review (it becomes canceled)",
)
async def delete_sign(sign_id: str, principal: TenantManage, session: Session) -> None:
    assert principal.tenant_id
    await service.delete(session, tenant_id=principal.tenant_id, sign_id=sign_id)


@router.get("/signs/{sign_id}/history", summary="Every version of a sign and its decision")
async def sign_history(
    sign_id: str, principal: TenantRead, session: Session, request: Request
) -> list[VersionOut]:
    assert principal.tenant_id
    sign = await service.get(session, tenant_id=principal.tenant_id, sign_id=sign_id)
    lang = lang_of(request)
    return [version_out(r, lang) for r in await reviews.history(session, subject_id=sign.id)]


_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "PDF, PNG or JPEG, at most 5 MiB",
                        }
                    },
                }
            }
        },
    }
}


async def _uploaded_file(request: Request) -> UploadFile:
    # Parsed here rather than declared as a File parameter: FastAPI would consume the body
    # stream before authentication, which needs the raw body (signed requests hash it).
    form = await request.form(max_files=1, max_fields=10)
    file = form.get("file")
    if not isinstance(file, UploadFile):
        raise errors.FIELD_REQUIRED(field="file")
    return file


@router.post(
    "/signs/{sign_id}/files",
    status_code=status.HTTP_201_CREATED,
    summary="Upload a qualification file (multipart field 'file'; PDF, PNG or JPEG, 5 MiB)",
    openapi_extra=_UPLOAD_BODY,
)
async def upload_file(
    sign_id: str, principal: TenantManage, session: Session, ctx: Ctx, request: Request
) -> FileOut:
    assert principal.tenant_id
    file = await _uploaded_file(request)
    # One byte over the limit is enough to refuse.
    data = await file.read(service.MAX_FILE_BYTES + 1)
    row = await service.add_file(
        session,
        ctx=ctx,
        storage=storage_for(ctx.settings),
        tenant_id=principal.tenant_id,
        sign_id=sign_id,
        filename=file.filename,
        data=data,
    )
    return FileOut.model_validate(row)


def _download(file_name: str, content_type: str, data: bytes) -> Response:
    quoted = file_name.encode("ascii", "replace").decode().replace('"', "")
    return Response(
        data,
        media_type=content_type,
        headers={"Content-Disposition": f'attachment; filename="{quoted}"'},
    )


@router.get(
    "/signs/{sign_id}/files/{file_id}",
    summary="Download a qualification file",
    response_class=Response,
)
async def download_file(
    sign_id: str, file_id: str, principal: TenantRead, session: Session, ctx: Ctx
) -> Response:
    assert principal.tenant_id
    row, data = await service.read_file(
        session,
        storage=storage_for(ctx.settings),
        tenant_id=principal.tenant_id,
        sign_id=sign_id,
        file_id=file_id,
    )
    return _download(row.filename, row.content_type, data)


@router.delete(
    "/signs/{sign_id}/files/{file_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a qualification file from a pending or rejected sign",
)
async def delete_file(
    sign_id: str, file_id: str, principal: TenantManage, session: Session, ctx: Ctx
) -> None:
    assert principal.tenant_id
    await service.remove_file(
        session,
        ctx=ctx,
        storage=storage_for(ctx.settings),
        tenant_id=principal.tenant_id,
        sign_id=sign_id,
        file_id=file_id,
    )


@admin.get(
    "/signs/{sign_id}/files/{file_id}",
    summary="Download a sign's qualification file (for review)",
    response_class=Response,
)
async def admin_download_file(
    sign_id: str, file_id: str, _: Operator, session: Session, ctx: Ctx
) -> Response:
    row, data = await service.read_file(
        session, storage=storage_for(ctx.settings), tenant_id=None, sign_id=sign_id, file_id=file_id
    )
    return _download(row.filename, row.content_type, data)
