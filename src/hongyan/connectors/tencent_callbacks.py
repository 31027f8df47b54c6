"""What Tencent Cloud SMS pushes: delivery receipts (status callback) and replies (MO).

URLs to register in the vendor's console (SMS > application > callback settings), for the
connector ``con_...`` whose ``callback_token`` is ``<token>``::

    status callback   {public_url}/callbacks/tencent/con_.../receipts?token=<token>
    reply callback    {public_url}/callbacks/tencent/con_.../inbound?token=<token>

The vendor signs nothing, so the token in the URL authenticates the push: it is compared in
constant time with the connector's ``callback_token`` (a secret, encrypted at rest); a
connector without one refuses callbacks. ``{"result": 0, "errmsg": "OK"}`` is answered only
once everything is stored; any other answer makes the vendor push again, and a receipt pushed
twice is applied once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from hongyan.api.context import AppContext
from hongyan.connectors import callback_kit
from hongyan.connectors.base import InboundSms, Receipt
from hongyan.connectors.tencent_wire import BEIJING, make_receipt
from hongyan.dlr import service as dlr
from hongyan.errors import HongyanError
from hongyan.inbound import service as inbound

log = structlog.get_logger("hongyan.connectors.tencent")

router = APIRouter(prefix="/callbacks/tencent", tags=["vendor callbacks"])

Token = Annotated[str, Query(max_length=256, description="The connector's callback_token.")]
_OK = {"result": 0, "errmsg": "OK"}


def _refuse(status: int, why: str) -> JSONResponse:
    return JSONResponse({"result": 1, "errmsg": why}, status_code=status)


async def _authorize(ctx: AppContext, connector_id: str, token: str) -> JSONResponse | None:
    """None when the token is the callback_token of this Tencent connector, else the refusal."""
    try:
        settings = await callback_kit.connector_settings(ctx, connector_id, "tencent")
    except HongyanError:
        return _refuse(404, "no such Tencent connector")
    expected = settings.get("callback_token")
    if not expected or not hmac.compare_digest(str(expected).encode(), token.encode()):
        log.warning("callback refused: wrong token", connector_id=connector_id)
        return _refuse(403, "wrong token")
    return None


async def _items(request: Request) -> list[Any] | JSONResponse:
    """The pushed JSON as a list (one object counts as a list of one), or the refusal."""
    try:
        payload = json.loads(await request.body())
    except ValueError:
        return _refuse(400, "the body is not JSON")
    if isinstance(payload, dict):
        return [payload]
    if isinstance(payload, list):
        return payload
    return _refuse(400, "expected a JSON array or object")


@router.post(
    "/{connector_id}/receipts",
    summary="Tencent status callback (delivery receipts)",
    description="Register this URL, with the connector's callback_token, as the status "
    "callback in the Tencent Cloud SMS console.",
)
async def receipts(connector_id: str, request: Request, token: Token = "") -> JSONResponse:
    ctx: AppContext = request.app.state.ctx
    refused = await _authorize(ctx, connector_id, token)
    if refused is not None:
        return refused
    items = await _items(request)
    if isinstance(items, JSONResponse):
        return items
    parsed = parse_receipts(connector_id, items)
    try:
        await dlr.ingest(ctx, parsed)
    except Exception:
        log.exception("receipts not stored; the vendor will push again", connector_id=connector_id)
        return _refuse(500, "not stored; push again")
    return JSONResponse(_OK)


@router.post(
    "/{connector_id}/inbound",
    summary="Tencent reply callback (inbound messages)",
    description="Register this URL, with the connector's callback_token, as the reply "
    "callback in the Tencent Cloud SMS console.",
)
async def inbound_messages(connector_id: str, request: Request, token: Token = "") -> JSONResponse:
    ctx: AppContext = request.app.state.ctx
    refused = await _authorize(ctx, connector_id, token)
    if refused is not None:
        return refused
    items = await _items(request)
    if isinstance(items, JSONResponse):
        return items
    parsed = parse_inbound(connector_id, items)
    try:
        await inbound.receive(ctx, parsed)
    except Exception:
        log.exception("replies not stored; the vendor will push again", connector_id=connector_id)
        return _refuse(500, "not stored; push again")
    return JSONResponse(_OK)


# --- payloads -----------------------------------------------------------------------------------


def _text(item: dict[str, Any], key: str) -> str:
    value = item.get(key)
    return value.strip() if isinstance(value, str) else str(value) if value is not None else ""


def beijing_time(value: str) -> datetime | None:
    """A callback time (``2015-10-17 08:03:04``, Beijing local time) in UTC; None if unreadable."""
    try:
        local = datetime.strptime(value, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None
    return local.replace(tzinfo=BEIJING).astimezone(UTC)


def parse_receipts(connector_id: str, items: Sequence[Any]) -> list[Receipt]:
    """Receipts from a status callback; entries without a sid or status are skipped (logged)."""
    # [{"user_receive_time": "2015-10-17 08:03:04", "nationcode": "86",
    #   "mobile": "13800138000", "report_status": "SUCCESS", "errmsg": "DELIVRD",
    #   "description": "用户短信送达成功", "sid": "2433:1045710669157053657849499619"}]
    found: list[Receipt] = []
    for item in items:
        if not isinstance(item, dict) or not _text(item, "sid") or not _text(item, "report_status"):
            log.warning("receipt entry skipped", connector_id=connector_id, entry=str(item)[:200])
            continue
        found.append(
            make_receipt(
                connector_id,
                sid=_text(item, "sid"),
                report_status=_text(item, "report_status"),
                code=_text(item, "errmsg") or None,
                done_at=beijing_time(_text(item, "user_receive_time")),
            )
        )
    return found


def parse_inbound(connector_id: str, items: Sequence[Any]) -> list[InboundSms]:
    """Inbound messages from a reply callback; entries without a number or text are skipped."""
    # {"extend": "01", "mobile": "13800138000", "nationcode": "86", "sign": "鸿雁",
    #  "text": "退订", "time": 1457336869}
    found: list[InboundSms] = []
    for item in items:
        if not isinstance(item, dict) or not _text(item, "mobile") or "text" not in item:
            log.warning("reply entry skipped", connector_id=connector_id, entry=str(item)[:200])
            continue
        nationcode, mobile = _text(item, "nationcode").lstrip("+"), _text(item, "mobile")
        extend, text = _text(item, "extend"), str(item["text"])
        when = item.get("time")
        # The vendor gives replies no id: one from what identifies the reply keeps a reply
        # pushed twice from being stored twice.
        key = "|".join([nationcode, mobile, str(when), extend, text])
        found.append(
            InboundSms(
                connector_id=connector_id,
                msisdn=f"+{nationcode}{mobile}" if nationcode else mobile,
                to=extend,
                text=text,
                received_at=datetime.fromtimestamp(when, UTC) if isinstance(when, int) else None,
                upstream_id="tc-mo-" + hashlib.sha256(key.encode()).hexdigest()[:32],
            )
        )
    return found
