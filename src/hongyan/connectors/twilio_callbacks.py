"""Twilio's calls to Hongyan: message status callbacks and inbound messages.

Register in Twilio (per number, or on the messaging service):

- status callback: ``<public base>/callbacks/twilio/<connector id>/status`` (sent with every
  message when the connector has ``status_callback_base``);
- "A message comes in": ``<public base>/callbacks/twilio/<connector id>/inbound`` (HTTP POST).

Both are checked against ``X-Twilio-Signature`` with the connector's auth token, over the URL
as Twilio called it (``callback_kit.public_urls``); a bad signature gets 403 and nothing is
stored. Receipts and inbound messages are stored before the answer, so a failure answers 5xx.
"""

from __future__ import annotations

import structlog
from fastapi import APIRouter, Request, Response

from hongyan import errors
from hongyan.api.deps import Ctx
from hongyan.connectors import callback_kit, twilio
from hongyan.connectors.base import InboundSms
from hongyan.dlr import service as dlr
from hongyan.inbound import service as inbound
from hongyan.models.base import utcnow

log = structlog.get_logger("hongyan.connectors.twilio")

router = APIRouter(prefix=twilio.CALLBACK_PREFIX)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'

Params = dict[str, list[str]]


async def _signed_params(request: Request, ctx: Ctx, connector_id: str) -> Params:
    """The POST parameters, once their X-Twilio-Signature checks; 403 otherwise."""
    plain = await callback_kit.connector_settings(ctx, connector_id, twilio.TwilioConnector.kind)
    settings = twilio.TwilioSettings.model_validate(plain)
    params: Params = {}
    for name, value in (await request.form()).multi_items():
        if isinstance(value, str):
            params.setdefault(name, []).append(value)
    given = request.headers.get("x-twilio-signature", "")
    urls = callback_kit.public_urls(request, ctx, settings.status_callback_base)
    token = settings.auth_token
    if token is None or not twilio.signature_valid(token, urls, params, given):
        log.warning("twilio callback signature does not match", connector_id=connector_id)
        raise errors.CALLBACK_SIGNATURE_INVALID()
    return params


def _one(params: Params, *names: str) -> str:
    for name in names:
        if params.get(name):
            return params[name][0]
    return ""


@router.post("/{connector_id}/status", status_code=204, response_class=Response)
async def status_callback(connector_id: str, request: Request, ctx: Ctx) -> Response:
    """A message's status from Twilio: final ones are stored as receipts."""
    params = await _signed_params(request, ctx, connector_id)
    # MessageSid=SM1f0e...&MessageStatus=undelivered&ErrorCode=30003&AccountSid=AC...
    # &From=%2B14155550100&To=%2B14155550111&ApiVersion=2010-04-01&SmsSid=SM1f0e...
    sid = _one(params, "MessageSid", "SmsSid")
    status = _one(params, "MessageStatus", "SmsStatus")
    receipt = (
        twilio.receipt_of(connector_id, sid, status, _one(params, "ErrorCode")) if sid else None
    )
    if receipt is not None:
        await dlr.ingest(ctx, [receipt])
    return Response(status_code=204)


@router.post("/{connector_id}/inbound", response_class=Response)
async def inbound_message(connector_id: str, request: Request, ctx: Ctx) -> Response:
    """A message from a handset: stored as inbound; answered with empty TwiML (no reply)."""
    params = await _signed_params(request, ctx, connector_id)
    # MessageSid=SM9a3c...&AccountSid=AC...&MessagingServiceSid=MG...&From=%2B14155550111
    # &To=%2B14155550100&Body=STOP&NumSegments=1&NumMedia=0&ApiVersion=2010-04-01
    sender = _one(params, "From")
    if sender:
        sms = InboundSms(
            connector_id=connector_id,
            msisdn=sender,
            to=_one(params, "To"),
            text=_one(params, "Body"),
            received_at=utcnow(),
            upstream_id=_one(params, "MessageSid", "SmsSid") or None,
        )
        await inbound.receive(ctx, [sms])
    return Response(EMPTY_TWIML, media_type="text/xml")
