"""The links of an SMPP connector: each bind kept up, reconnected with backoff and re-bound.

A bind of the connector (``SmppBind``) is one transceiver link, or a transmitter link (for
submit_sm) plus a receiver link (for deliver_sm: receipts and MO), per ``bind_mode``. Each
``SmppLink`` owns one ``SmppSession`` at a time and one supervising task (per link, never
per message) that reopens it after a drop, doubling its wait from ``reconnect_min_secs`` up
to ``reconnect_max_secs`` while the SMSC refuses.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from typing import Literal, Protocol

import structlog

from hongyan.connectors.smpp_settings import SmppSettings
from hongyan.smpp import (
    BindReceiver,
    BindTransceiver,
    BindTransmitter,
    Pdu,
    SmppError,
    SmppSession,
)
from hongyan.smpp.net import connect

log = structlog.get_logger("hongyan.connectors.smpp")

Role = Literal["transceiver", "transmitter", "receiver"]
_BIND_PDU: dict[Role, type[BindTransceiver | BindTransmitter | BindReceiver]] = {
    "transceiver": BindTransceiver,
    "transmitter": BindTransmitter,
    "receiver": BindReceiver,
}


class LinkHost(Protocol):
    """What a link needs from its connector."""

    id: str
    settings: SmppSettings

    def on_request(self, session: SmppSession, pdu: Pdu) -> Pdu | int | None:
        """deliver_sm and data_sm from the SMSC (the session's request handler)."""
        ...

    def link_changed(self, link: SmppLink) -> None:
        """A link bound, or lost its bind."""
        ...


class SmppLink:
    """One TCP (or TLS) link to the SMSC, bound in one role and kept so."""

    def __init__(self, host: LinkHost, *, index: int, role: Role) -> None:
        self.host = host
        self.index = index
        self.role = role
        self.name = f"{host.id}#{index}" + ("" if role == "transceiver" else f":{role[:2]}")
        self.session: SmppSession | None = None
        self.binds = 0  # successful binds of this link
        self._supervisor: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def bound(self) -> bool:
        """True while the link is open and bound."""
        session = self.session
        return session is not None and session.is_open and session.bound is not None

    async def open(self, *, wait: bool) -> None:
        """Start keeping the link up; ``wait``: make the first attempt before returning."""
        if wait:
            await self._connect_once()
        self._supervisor = asyncio.get_running_loop().create_task(self._keep_up(tried=wait))

    async def close(self) -> None:
        """Stop reconnecting; unbind gracefully (in-flight submits and answers finish)."""
        self._closed = True
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        session, self.session = self.session, None
        if session is not None:
            await session.unbind()

    async def _connect_once(self) -> bool:
        cfg = self.host.settings
        try:
            session = await connect(
                cfg.host,
                cfg.port,
                tls=_tls(cfg),
                connect_timeout_secs=cfg.connect_timeout_secs,
                on_request=self.host.on_request,
                window=cfg.window,
                response_timeout_secs=cfg.response_timeout_secs,
                enquire_link_secs=cfg.enquire_link_secs,
                unbind_timeout_secs=cfg.unbind_timeout_secs,
                bind_timeout_secs=None,
                name=self.name,
            )
        except (OSError, TimeoutError) as exc:
            log.warning("smpp.connect_failed", link=self.name, error=repr(exc))
            return False
        if self._closed:
            session.abort()
            return False
        self.session = session
        bind = _BIND_PDU[self.role]
        try:
            await session.bind(
                bind(system_id=cfg.system_id, password=cfg.password, system_type=cfg.system_type)
            )
        except SmppError as exc:
            log.warning("smpp.bind_failed", link=self.name, error=str(exc))
            session.abort()
            return False
        self.binds += 1
        log.info("smpp.bound", link=self.name, role=self.role, peer=session.peer)
        self.host.link_changed(self)
        return True

    async def _keep_up(self, *, tried: bool) -> None:
        """Reconnect and re-bind after a drop, backing off while the SMSC refuses."""
        cfg = self.host.settings
        delay = cfg.reconnect_min_secs if tried else 0.0
        while not self._closed:
            session = self.session
            if session is not None and session.bound is not None:
                await session.wait_closed()
                delay = cfg.reconnect_min_secs
                if self._closed:
                    return
                log.warning("smpp.link_lost", link=self.name)
                self.host.link_changed(self)
            await asyncio.sleep(delay)
            if self._closed:
                return
            if not await self._connect_once():
                delay = min(max(delay, cfg.reconnect_min_secs) * 2, cfg.reconnect_max_secs)


class SmppBind:
    """One bind of the connector: a transceiver link, or a transmitter + receiver pair."""

    def __init__(self, host: LinkHost, index: int) -> None:
        self.index = index
        if host.settings.bind_mode == "transceiver":
            self.links = [SmppLink(host, index=index, role="transceiver")]
        else:
            self.links = [
                SmppLink(host, index=index, role="transmitter"),
                SmppLink(host, index=index, role="receiver"),
            ]

    @property
    def sender(self) -> SmppLink:
        """The link submits go out on (the transceiver or the transmitter)."""
        return self.links[0]

    @property
    def bound(self) -> bool:
        """True when submits can go out on this bind."""
        return self.sender.bound

    @property
    def binds(self) -> int:
        """Successful binds of its links since it was opened."""
        return sum(link.binds for link in self.links)

    async def open(self, *, wait: bool) -> None:
        """Open its links (both at once for a pair)."""
        await asyncio.gather(*(link.open(wait=wait) for link in self.links))

    async def close(self) -> None:
        """Unbind its links."""
        await asyncio.gather(*(link.close() for link in self.links))


def _tls(cfg: SmppSettings) -> ssl.SSLContext | None:
    if not cfg.tls:
        return None
    context = ssl.create_default_context()
    if not cfg.tls_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
