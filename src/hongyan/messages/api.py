"""The sending API: single, batch and scheduled sends, cancel, look-ups and lists."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, status
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from hongyan import errors
from hongyan.api.deps import Ctx, Paging, Session, TenantRead, TenantSend
from hongyan.api.errors import ERROR_RESPONSES
from hongyan.kit.pagination import Page, page_of
from hongyan.messages import group, idempotency, repository, service
from hongyan.messages.schemas import (
    BatchOut,
    BatchRequest,
    ErrorOut,
    EventOut,
    MessageDetail,
    MessageOut,
    PartOut,
    RejectedOut,
    SendRequest,
    Status,
)
from hongyan.models import Message
from hongyan.numbers.service import parser_of
from hongyan.worker import wakeup

router = APIRouter(prefix="/v1", tags=["messages"], responses=ERROR_RESPONSES)

IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", description="Replays the first answer for the same body."),
]


def message_out(message: Message, lang: errors.Lang = "en") -> MessageOut:
    error = None
    if message.error_code:
        spec = errors.CATALOG.get(message.error_code)
        text = spec.message(lang) if spec else (message.error_detail or message.error_code)
        error = ErrorOut(code=message.error_code, message=message.error_detail or text)
    return MessageOut.model_validate(
        {
            "id": message.id,
            "status": message.status,
            "to": message.msisdn,
            "kind": message.kind,
            "sign": message.sign,
            "template": message.template_id,
            "text": message.text,
            "encoding": message.encoding,
            "segments": message.segments,
            "price": message.amount,
            "currency": message.currency,
            "send_at": message.due_at if message.status in ("scheduled", "canceled") else None,
            "validity_until": message.validity_until,
            "out_id": message.out_id,
            "tag": message.tag,
            "test_mode": message.test_mode,
            "connector_id": message.connector_id,
            "error": error,
            "raw_code": message.raw_code,
            "created_at": message.created_at,
            "sent_at": message.sent_at,
            "done_at": message.done_at,
        }
    )


def _lang(request: Request) -> errors.Lang:
    return errors.lang_from_header(request.headers.get("accept-language"))


@router.post(
    "/messages",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Send one message",
    response_model=MessageOut,
)
async def send_message(
    body: SendRequest,
    principal: TenantSend,
    ctx: Ctx,
    request: Request,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    lang = _lang(request)
    assert principal.tenant_id
    fingerprint = idempotency.request_hash("POST", request.url.path, await request.body())

    def answer(message: Message) -> dict[str, Any]:
        return message_out(message, lang).model_dump(mode="json")

    async def produce() -> tuple[int, dict[str, Any]]:
        # Written together with the concurrent sends of this process (group commit).
        record = None
        if idempotency_key is not None:
            record = group.Record(idempotency_key, fingerprint, answer)
        message = await group.send(ctx, principal=principal, req=body, lang=lang, record=record)
        return 202, answer(message)

    code, payload = await idempotency.run_stored(
        ctx,
        tenant_id=principal.tenant_id,
        key=idempotency_key,
        fingerprint=fingerprint,
        produce=produce,
    )
    if payload.get("status") == "queued":  # a scheduled message gives the worker nothing to do
        wakeup.wake_local(ctx)
    return JSONResponse(payload, status_code=code)


@router.post(
    "/messages/batch",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=BatchOut,
    summary="Send to up to 1,000 recipients; bad entries are listed, not fatal",
)
async def send_batch(
    body: BatchRequest,
    principal: TenantSend,
    ctx: Ctx,
    request: Request,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    lang = _lang(request)
    assert principal.tenant_id

    async def produce(session: AsyncSession) -> tuple[int, dict[str, Any]]:
        result = await service.send_batch(
            session, ctx=ctx, principal=principal, req=body, lang=lang
        )
        out = BatchOut(
            accepted=[message_out(m, lang) for m in result.messages],
            rejected=[
                RejectedOut(
                    index=item.index,
                    to=item.to,
                    error=ErrorOut(code=exc.code, message=exc.message(lang), field=exc.field),
                )
                for item, exc in result.rejected
            ],
        )
        return 202, out.model_dump(mode="json")

    code, payload = await idempotency.run(
        ctx,
        tenant_id=principal.tenant_id,
        key=idempotency_key,
        fingerprint=idempotency.request_hash("POST", request.url.path, await request.body()),
        produce=produce,
    )
    wakeup.wake_local(ctx)
    return JSONResponse(payload, status_code=code)


@router.post("/messages/{message_id}/cancel", summary="Cancel a scheduled message")
async def cancel_message(
    message_id: str, principal: TenantSend, ctx: Ctx, request: Request
) -> MessageOut:
    assert principal.tenant_id
    async with ctx.db.session() as session:
        message = await service.cancel(
            session, ctx=ctx, tenant_id=principal.tenant_id, message_id=message_id
        )
    return message_out(message, _lang(request))


@router.get("/messages/{message_id}", summary="One message, with its history and parts")
async def get_message(
    message_id: str, principal: TenantRead, session: Session, request: Request
) -> MessageDetail:
    assert principal.tenant_id
    message = await service.get(session, tenant_id=principal.tenant_id, message_id=message_id)
    events = await repository.events_of(session, message.id)
    parts = await repository.parts_of(session, [message.id])
    return MessageDetail.model_validate(
        {
            **message_out(message, _lang(request)).model_dump(),
            "history": [EventOut.model_validate(e, from_attributes=True) for e in events],
            "parts": [PartOut.model_validate(p, from_attributes=True) for p in parts],
        }
    )


@router.get("/messages", summary="Messages, newest first, filtered")
async def list_messages(
    principal: TenantRead,
    session: Session,
    paging: Paging,
    ctx: Ctx,
    request: Request,
    to: Annotated[str | None, Query(description="A number in any format")] = None,
    message_status: Annotated[Status | None, Query(alias="status")] = None,
    sign: Annotated[str | None, Query()] = None,
    template: Annotated[str | None, Query()] = None,
    tag: Annotated[str | None, Query()] = None,
    out_id: Annotated[str | None, Query()] = None,
    since: Annotated[datetime | None, Query(alias="from")] = None,
    until: Annotated[datetime | None, Query(alias="to_time")] = None,
) -> Page[MessageOut]:
    assert principal.tenant_id
    msisdn = None
    if to is not None:
        msisdn = parser_of(ctx).parse(to, region="CN").e164 or to
    rows = await repository.list_messages(
        session,
        tenant_id=principal.tenant_id,
        limit=paging.limit,
        before_id=paging.before_id,
        filters={
            "msisdn": msisdn,
            "status": message_status,
            "sign": sign,
            "template_id": template,
            "tag": tag,
            "out_id": out_id,
        },
        since=since,
        until=until,
    )
    page, cursor = page_of(rows, paging.limit)
    lang = _lang(request)
    return Page[MessageOut](data=[message_out(m, lang) for m in page], next_cursor=cursor)
