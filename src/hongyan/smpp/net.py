"""Open SMPP links: ``connect()`` for the ESME side, ``serve()`` for the SMSC side."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from typing import Any

from hongyan.smpp.session import SmppSession

__all__ = ["connect", "serve"]


async def connect(
    host: str,
    port: int,
    *,
    tls: ssl.SSLContext | None = None,
    connect_timeout_secs: float = 10.0,  # a carrier that does not accept in this long is down
    **session_options: Any,
) -> SmppSession:
    """Open a TCP (or TLS) connection and return its session, not yet bound.

    ``session_options`` are ``SmppSession`` keyword arguments (window, timers, on_request...).
    """
    loop = asyncio.get_running_loop()
    _, session = await asyncio.wait_for(
        loop.create_connection(lambda: SmppSession(**session_options), host, port, ssl=tls),
        connect_timeout_secs,
    )
    return session


async def serve(
    host: str,
    port: int,
    session_factory: Callable[[], SmppSession],
    *,
    tls: ssl.SSLContext | None = None,
) -> asyncio.Server:
    """Listen for ESMEs; every connection gets a session from ``session_factory``."""
    loop = asyncio.get_running_loop()
    return await loop.create_server(session_factory, host, port, ssl=tls, reuse_address=True)
