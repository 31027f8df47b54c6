"""Which URLs Hongyan agrees to POST events to.

Only http and https. With ``webhook_allow_private_hosts`` off, a URL naming a loopback,
private, link-local or otherwise reserved address (or ``localhost``) is refused when it is
registered, and every host is resolved again before each POST, so a name that later points into
the private network is refused too. Operators who need more (allow-lists, an egress proxy)
set ``HTTPS_PROXY``: the delivery client honours the standard proxy variables.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from hongyan import errors
from hongyan.models.webhooks import URL_MAX_LENGTH


def validate_url(url: str, *, allow_private: bool, field: str = "url") -> str:
    """The URL, stripped, or WEBHOOK_URL_INVALID saying what is wrong with it."""
    url = url.strip()
    if len(url) > URL_MAX_LENGTH:
        raise errors.WEBHOOK_URL_INVALID(field=field, reason="longer than 2048 characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise errors.WEBHOOK_URL_INVALID(field=field, reason=str(exc)) from None
    if parts.scheme not in ("http", "https"):
        raise errors.WEBHOOK_URL_INVALID(field=field, reason="only http and https are allowed")
    host = parts.hostname
    if not host:
        raise errors.WEBHOOK_URL_INVALID(field=field, reason="the host is missing")
    if any(ch.isspace() for ch in url):
        raise errors.WEBHOOK_URL_INVALID(field=field, reason="it contains spaces")
    if port == 0:
        raise errors.WEBHOOK_URL_INVALID(field=field, reason="port 0")
    if not allow_private and is_private_host(host):
        raise errors.WEBHOOK_URL_INVALID(
            field=field, reason=f"{host} is a private or local address, which is not allowed"
        )
    return url


def is_private_host(host: str) -> bool:
    """Whether a host name or address literal is local or private (no DNS lookup)."""
    name = host.strip("[]").lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return not ipaddress.ip_address(name).is_global
    except ValueError:
        return False


async def resolves_privately(url: str) -> bool:
    """Whether the URL's host resolves to any non-public address (checked before a POST)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if is_private_host(host):
        return True
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        return False  # unresolvable: the POST itself fails and is retried
    return any(not ipaddress.ip_address(str(info[4][0]).split("%")[0]).is_global for info in infos)
