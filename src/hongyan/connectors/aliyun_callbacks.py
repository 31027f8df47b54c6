"""Where Aliyun SMS pushes receipts (SmsReport) and handsets' replies (SmsUp).

Register in the vendor's console (HTTP batch push mode), with the connector's id and its
``callback_token``::

    <public_url>/callbacks/aliyun/<connector_id>/receipts?token=<callback_token>
    <public_url>/callbacks/aliyun/<connector_id>/inbound?token=<callback_token>

The vendor signs nothing, so the token in the URL is what authenticates a push: a wrong or
missing token (or a connector with none set) is refused with 403 and nothing is stored. A push
is answered ``{"code": 0, "msg": "成功"}`` only once what it carried is stored; when storing
fails the answer is a 500, so the vendor pushes again (after 1, 5 and 10 minutes).
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from hongyan import errors
from hongyan.api.context import AppContext
from hongyan.api.deps import Ctx
from hongyan.connectors import aliyun_wire as wire
from hongyan.connectors import callback_kit
from hongyan.connectors.base import InboundSms, Receipt
from hongyan.dlr import service as dlr
from hongyan.inbound import service as inbound

log = structlog.get_logger("hongyan.connectors.aliyun")

router = APIRouter(prefix="/callbacks/aliyun", tags=["vendor callbacks"])

Token = Annotated[str, Query(description="The connector's callback_token.")]
ACCEPTED = {"code": 0, "msg": "成功"}  # what the vendor expects (it checks the code is a number)


async def check_token(ctx: AppContext, connector_id: str, token: str) -> None:
    """CALLBACK_SIGNATURE_INVALID unless ``token`` is the callback_token of an aliyun connector."""
    try:
        settings = await callback_kit.connector_settings(ctx, connector_id, "aliyun")
    except errors.HongyanError:  # no such connector: refused like a wrong token
        settings = {}
    expected = settings.get("callback_token")
    if not expected or not hmac.compare_digest(str(expected).encode(), token.encode()):
        log.warning("callback refused: wrong token", connector_id=connector_id)
        raise errors.CALLBACK_SIGNATURE_INVALID()


async def _items(request: Request) -> list[dict[str, Any]]:
    """The pushed JSON array's objects (anything else in it is dropped)."""
    try:
        body = await request.json()
    except ValueError:
        raise errors.BODY_NOT_JSON() from None
    if not isinstance(body, list):
        raise errors.FIELD_INVALID(field="body", reason="the vendor pushes a JSON array")
    return [item for item in body if isinstance(item, dict)]


def receipt_of(connector_id: str, item: dict[str, Any]) -> Receipt | None:
    """A Receipt from one SmsReport entry; None when it names no BizId and number."""
    # {"phone_number": "13800138000", "send_time": "2017-01-01 00:00:00",
    #  "report_time": "2017-01-01 00:00:00", "success": true, "err_code": "DELIVERED",
    #  "err_msg": "用户接收成功", "sms_size": "1", "biz_id": "900619746936498440^0",
    #  "out_id": "msg_01jd3x8m2q0000000000000000"}
    biz_id, number = item.get("biz_id"), item.get("phone_number")
    if not isinstance(biz_id, str) or not biz_id or not isinstance(number, str | int):
        return None
    success = item.get("success")
    code = item.get("err_code")
    return wire.make_receipt(
        connector_id,
        wire.upstream_id(biz_id, str(number)),
        success=success is True or str(success).lower() == "true",
        code=code if isinstance(code, str) else None,
        done_at=wire.beijing_time(item.get("report_time")),
    )


def inbound_of(connector_id: str, item: dict[str, Any]) -> InboundSms | None:
    """An InboundSms from one SmsUp entry; None when it has no sender or content."""
    # {"phone_number": "13800138000", "content": "TD", "send_time": "2017-01-01 00:00:00",
    #  "dest_code": "1234", "sequence_id": 1234567890, "sign_name": "鸿雁"}
    number, content = item.get("phone_number"), item.get("content")
    if not isinstance(number, str | int) or not isinstance(content, str):
        return None
    sequence = item.get("sequence_id")
    return InboundSms(
        connector_id=connector_id,
        msisdn=str(number),
        to=str(item.get("dest_code") or item.get("sign_name") or ""),
        text=content,
        received_at=wire.beijing_time(item.get("send_time")),
        upstream_id=str(sequence) if sequence not in (None, "") else None,
    )


def _dropped(what: str, connector_id: str, items: Sequence[object], kept: int) -> None:
    if kept < len(items):
        log.warning(
            "malformed push entries dropped",
            what=what,
            connector_id=connector_id,
            count=len(items) - kept,
        )


@router.post("/{connector_id}/receipts", summary="Aliyun receipts (SmsReport push)")
async def receipts(
    connector_id: str, request: Request, ctx: Ctx, token: Token = ""
) -> JSONResponse:
    """Store the pushed receipts, then answer the vendor; a 500 makes it push them again."""
    await check_token(ctx, connector_id, token)
    items = await _items(request)
    found = [r for r in (receipt_of(connector_id, i) for i in items) if r is not None]
    _dropped("receipts", connector_id, items, len(found))
    try:
        await dlr.ingest(ctx, found)
    except Exception:
        log.exception("pushed receipts not stored", connector_id=connector_id)
        return JSONResponse({"code": 1, "msg": "not stored; push again"}, status_code=500)
    return JSONResponse(ACCEPTED)


@router.post("/{connector_id}/inbound", summary="Aliyun inbound messages (SmsUp push)")
async def inbound_messages(
    connector_id: str, request: Request, ctx: Ctx, token: Token = ""
) -> JSONResponse:
    """Store the pushed replies, then answer the vendor; a 500 makes it push them again."""
    await check_token(ctx, connector_id, token)
    items = await _items(request)
    found = [m for m in (inbound_of(connector_id, i) for i in items) if m is not None]
    _dropped("inbound messages", connector_id, items, len(found))
    try:
        await inbound.receive(ctx, found)
    except Exception:
        log.exception("pushed inbound messages not stored", connector_id=connector_id)
        return JSONResponse({"code": 1, "msg": "not stored; push again"}, status_code=500)
    return JSONResponse(ACCEPTED)
