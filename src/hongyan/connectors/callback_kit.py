"""What vendor callback routes share: the connector's settings, and the URL the vendor called.

Vendors reach Hongyan through its public address, often via a TLS-terminating proxy, so the
URL a vendor signed is not always the one the application sees. ``public_urls`` gives every URL
the request may have been made to: the connector's own public base (where it told the vendor to
call), the ``public_url`` setting, the proxy's ``X-Forwarded-Proto`` / ``X-Forwarded-Host``,
and the request as received. A signature names its secret, so accepting any of them lets
nothing unsigned through; the path and query always come from the request itself.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import Request

from hongyan import errors
from hongyan.api.context import AppContext
from hongyan.routing import service as routing

CACHE_KEY = "connectors.callback_settings"


async def connector_settings(ctx: AppContext, connector_id: str, kind: str) -> dict[str, Any]:
    """The decrypted settings of a ``kind`` connector; CONNECTOR_NOT_FOUND otherwise.

    Disabled connectors still answer: receipts for what they sent keep coming. Settings are
    cached for ``routing_refresh_secs``, so a burst of callbacks reads the row once.
    """
    if not connector_id.startswith("con_"):
        raise errors.CONNECTOR_NOT_FOUND(id=connector_id)
    cache: dict[str, tuple[float, str, dict[str, Any]]] = ctx.caches.setdefault(CACHE_KEY, {})
    now = time.monotonic()
    hit = cache.get(connector_id)
    if hit is None or hit[0] <= now:
        async with ctx.db.session() as session:
            row = await routing.get_connector(session, connector_id)
            plain = routing.plain_settings(ctx, row)
        hit = cache[connector_id] = (now + ctx.settings.routing_refresh_secs, row.kind, plain)
    if hit[1] != kind:
        raise errors.CONNECTOR_NOT_FOUND(id=connector_id)
    return hit[2]


def _first(value: str | None) -> str | None:
    if not value:
        return None
    return value.split(",")[0].strip() or None


def public_urls(request: Request, ctx: AppContext, *bases: str | None) -> list[str]:
    """Every full URL this request may have been made to (see the module docstring)."""
    tail = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    proto = _first(request.headers.get("x-forwarded-proto")) or request.url.scheme
    host = _first(request.headers.get("x-forwarded-host")) or request.headers.get("host")
    found = [b.rstrip("/") + tail for b in (*bases, ctx.settings.public_url) if b]
    if host:
        found.append(f"{proto}://{host}{tail}")
    found.append(str(request.url))
    return list(dict.fromkeys(found))
