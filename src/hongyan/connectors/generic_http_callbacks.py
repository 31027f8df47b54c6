"""Receipts pushed by a vendor behind a generic HTTP connector.

Register ``<public base>/callbacks/http/<connector id>/receipts?token=<callback_token>`` at the
vendor. The body is JSON (an array, one object, or either under ``receipts.items_path``) or a
form (one receipt); each item is read with the connector's ``receipts`` mapping. The receipts
are stored before the answer (``receipts.response_body``), so a failure answers 5xx and the
vendor can push again; a wrong token gets 403 and nothing is stored.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

import structlog
from fastapi import APIRouter, Query, Request, Response

from hongyan import errors
from hongyan.api.deps import Ctx
from hongyan.connectors import callback_kit
from hongyan.connectors.generic_http import GenericHttpConnector, GenericHttpSettings
from hongyan.connectors.http_template import get_path
from hongyan.dlr import service as dlr

log = structlog.get_logger("hongyan.connectors.generic_http")

router = APIRouter(prefix="/callbacks/http")

MAX_ITEMS = 1000  # receipts in one push


async def _items(request: Request, items_path: str | None) -> list[Any]:
    """The pushed items: a JSON array or object (at ``items_path``), or one form."""
    if request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        return [{k: v for k, v in form.items() if isinstance(v, str)}]
    try:
        body = json.loads(await request.body())
    except ValueError:
        raise errors.BODY_NOT_JSON() from None
    found = get_path(body, items_path)
    items = found if isinstance(found, list) else [found] if isinstance(found, dict) else None
    if items is None or len(items) > MAX_ITEMS:
        raise errors.FIELD_INVALID(
            field=items_path or "body", reason=f"expected 1 to {MAX_ITEMS} receipt objects"
        )
    return items


@router.post("/{connector_id}/receipts", response_class=Response)
async def receipts(
    connector_id: str, request: Request, ctx: Ctx, token: str = Query("", max_length=200)
) -> Response:
    """Receipts from the vendor, read with the connector's mapping and stored."""
    plain = await callback_kit.connector_settings(ctx, connector_id, GenericHttpConnector.kind)
    settings = GenericHttpSettings.model_validate(plain)
    mapping, expected = settings.receipts, settings.callback_token
    if mapping is None or expected is None:
        raise errors.CONNECTOR_NOT_FOUND(id=connector_id)  # it takes no pushed receipts
    if not hmac.compare_digest(token.encode(), expected.encode()):
        log.warning("receipt push with a wrong token", connector_id=connector_id)
        raise errors.CALLBACK_SIGNATURE_INVALID()
    items = await _items(request, mapping.items_path)
    found = [mapping.receipt(connector_id, item) for item in items]
    stored = [r for r in found if r is not None]
    if len(stored) < len(found):
        log.warning(
            "pushed receipts without an id or a mapped status were skipped",
            connector_id=connector_id,
            count=len(found) - len(stored),
        )
    await dlr.ingest(ctx, stored)
    return Response(mapping.response_body, media_type=mapping.response_content_type)
