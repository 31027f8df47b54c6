"""The SMPP server for tenants: binds, submits into the pipeline, deliver_sm out of the outbox.

One ``SmppServer`` per process listens on ``smpp_server_host:smpp_server_port``. Each
connection is a ``TenantSession`` (our asyncio session, Hongyan as SMSC):

- **bind** (transmitter, receiver, transceiver): checked by ``service.authenticate`` and
  counted against max_binds (``service.register_bind``); refusals answer with the command
  status of ``status_map``. The answer carries ``smpp_server_system_id``.
- **submit_sm / data_sm**: over the credential's messages_per_sec -> ESME_RTHROTTLED at once;
  parts of a concatenated message are held (``reassembly``) and answered together; a whole
  message joins the next batch (``flow.SubmitBatcher``, then ``submit.accept``), answered
  with Hongyan's message id or the mapped refusal. Batches form from what arrives while the
  previous one is being stored, so a burst costs a few transactions, not one per PDU.
- **deliver_sm out**: receipts and inbound messages from the outbox (``outbox.OutboxSender``)
  through the receiver-capable binds (receiver, transceiver), within each bind's window.
- enquire_link, unbind, generic_nack and bind-state checks are the session's.

A heartbeat keeps this process's bind rows counted, closes binds whose credential was
disabled or deleted, and drops deliver_sm kept past their time.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import secrets
import socket
from collections import defaultdict
from typing import Any

import structlog

from hongyan import errors
from hongyan.api.context import AppContext
from hongyan.errors import HongyanError
from hongyan.smpp.binding import BindMode, bind_mode
from hongyan.smpp.constants import INTERFACE_VERSION
from hongyan.smpp.constants import CommandStatus as S
from hongyan.smpp.net import serve
from hongyan.smpp.pdu import CancelSm, DataSm, Pdu, QuerySm, SubmitSm
from hongyan.smpp.session import SmppSession
from hongyan.smpp.tlv import Tlvs
from hongyan.smpp_server import outbox, service
from hongyan.smpp_server.decode import decode_text, read_fragment
from hongyan.smpp_server.flow import SubmitBatcher, TokenBucket, answer
from hongyan.smpp_server.metrics import BIND_REFUSALS, BINDS
from hongyan.smpp_server.reassembly import Part, Reassembler
from hongyan.smpp_server.service import BoundCredential
from hongyan.smpp_server.status_map import command_status
from hongyan.smpp_server.submit import Outcome, submission_of

log = structlog.get_logger("hongyan.smpp_server")

Submit = SubmitSm | DataSm
_RECEIVING = (BindMode.RECEIVER, BindMode.TRANSCEIVER)


class TenantSession(SmppSession):
    """A tenant's connection: our session plus what its bind decided."""

    credential: BoundCredential | None = None
    bind_id: str | None = None
    binding = False  # a bind is being checked, or was accepted: no second one
    bound_mode = ""  # transmitter | receiver | transceiver, once accepted (session.bound is
    # cleared when the link closes, before the close is handled)
    parts: Reassembler

    @property
    def host(self) -> str | None:
        peer = self.peer
        return str(peer[0]) if isinstance(peer, tuple) and peer else None


class SmppServer:
    """Listens for tenants' binds; see the module docstring."""

    def __init__(self, ctx: AppContext, *, host: str | None = None, port: int | None = None):
        self.ctx = ctx
        settings = ctx.settings
        self.host = settings.smpp_server_host if host is None else host
        self.port = settings.smpp_server_port if port is None else port
        self.server_id = f"{socket.gethostname()[:24]}:{os.getpid()}:{secrets.token_hex(3)}"
        self.sessions: set[TenantSession] = set()
        self._receivers: dict[str, list[TenantSession]] = defaultdict(list)
        self._buckets: dict[str, TokenBucket] = {}
        self._bind_numbers = itertools.count(1)
        self._background: set[asyncio.Future[Any]] = set()
        self.batcher = SubmitBatcher(ctx)
        self.outbox = outbox.OutboxSender(
            ctx, owner=self.server_id, receivers=self._receiver_for, bound_credentials=self._bound
        )
        self._server: asyncio.Server | None = None
        self._tasks: list[asyncio.Future[None]] = []
        self._stopping = asyncio.Event()

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen and start the outbox sender and the heartbeat."""
        self._server = await serve(self.host, self.port, self._new_session)
        self.port = self._server.sockets[0].getsockname()[1]
        self.ctx.caches[outbox.SERVER_CACHE_KEY] = self
        self._tasks = [
            asyncio.ensure_future(self.outbox.run()),
            asyncio.ensure_future(self._heartbeat()),
        ]
        log.info("smpp server listening", host=self.host, port=self.port, server=self.server_id)

    async def stop(self) -> None:
        """Stop listening, unbind every tenant (bounded), finish pending work, forget binds."""
        if self._server is None:
            return
        self._server.close()
        self._stopping.set()
        self.outbox.stop()
        sessions = list(self.sessions)
        await asyncio.gather(*(s.unbind() for s in sessions), return_exceptions=True)
        await self.batcher.close()
        await asyncio.gather(*self._tasks, *self._background, return_exceptions=True)
        await self._server.wait_closed()
        self.ctx.caches.pop(outbox.SERVER_CACHE_KEY, None)
        self._server = None
        log.info("smpp server stopped", server=self.server_id)

    def wake(self) -> None:
        """New deliver_sm were queued in this process: send them now."""
        self.outbox.wake()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- sessions -------------------------------------------------------------------------------

    def _new_session(self) -> TenantSession:
        settings = self.ctx.settings
        session = TenantSession(
            self._on_request,
            on_close=self._on_close,
            window=settings.smpp_server_window,
            max_pending_requests=1000,  # held parts count; well above any client's window
            response_timeout_secs=settings.smpp_server_response_timeout_secs,
            enquire_link_secs=settings.smpp_server_enquire_link_secs,
            enquire_link_timeout_secs=settings.smpp_server_enquire_link_secs,
            bind_timeout_secs=settings.smpp_server_bind_timeout_secs,
            name="smpp-server",
        )
        session.parts = Reassembler(
            asyncio.get_running_loop(),
            timeout_secs=settings.smpp_server_part_timeout_secs,
            on_expired=lambda parts: self._parts_expired(session, parts),
        )
        self.sessions.add(session)
        return session

    def _on_close(self, session: SmppSession, exc: BaseException | None) -> None:
        assert isinstance(session, TenantSession)
        self.sessions.discard(session)
        session.parts.close()
        credential = session.credential
        if credential is not None:
            links = self._receivers.get(credential.id, [])
            if session in links:
                links.remove(session)
            if not links:
                self._receivers.pop(credential.id, None)
        if session.bind_id is not None:
            BINDS.labels(session.bound_mode).dec()
            self._spawn(service.forget_binds(self.ctx, [session.bind_id]))
            log.info("smpp unbound", system_id=credential and credential.system_id)

    def _on_request(self, session: SmppSession, pdu: Pdu) -> Pdu | int | None:
        assert isinstance(session, TenantSession)
        if bind_mode(pdu) is not None:
            if session.binding:  # a second bind while the first is being checked
                return S.ESME_RALYBND
            session.binding = True
            self._spawn(self._bind(session, pdu))
            return None
        if isinstance(pdu, SubmitSm | DataSm):
            return self._submit(session, pdu)
        if isinstance(pdu, QuerySm):
            return S.ESME_RQUERYFAIL  # not served: receipts say what query_sm would
        if isinstance(pdu, CancelSm):
            return S.ESME_RCANCELFAIL
        return S.ESME_RINVCMDID

    # -- binding --------------------------------------------------------------------------------

    async def _bind(self, session: TenantSession, pdu: Any) -> None:
        mode = bind_mode(pdu)
        assert mode is not None
        bind_id = f"{self.server_id}-{next(self._bind_numbers)}"
        try:
            credential = await service.authenticate(
                self.ctx, system_id=pdu.system_id, password=pdu.password, ip=session.host
            )
            await service.register_bind(
                self.ctx,
                credential_id=credential.id,
                bind_id=bind_id,
                server_id=self.server_id,
                mode=mode.value,
                peer=str(session.host),
            )
        except HongyanError as exc:
            log.info("smpp bind refused", code=exc.code, system_id=pdu.system_id, peer=session.host)
            session.binding = False  # the client may try again on this connection
            BIND_REFUSALS.labels(exc.code).inc()
            session.respond(pdu, command_status(exc))
            return
        except Exception:
            log.exception("smpp bind failed", system_id=pdu.system_id)
            session.binding = False
            session.respond(pdu, command_status(errors.SMPP_SERVER_BUSY()))
            return
        if not session.is_open:  # the client left while we checked
            await service.forget_binds(self.ctx, [bind_id])
            return
        session.credential, session.bind_id, session.bound_mode = credential, bind_id, mode.value
        self._bucket(credential)
        response = pdu.response_class(
            system_id=self.ctx.settings.smpp_server_system_id,
            tlvs=Tlvs(sc_interface_version=INTERFACE_VERSION),
        )
        session.respond(pdu, response)
        log.info("smpp bound", system_id=credential.system_id, mode=mode.value, peer=session.host)
        BINDS.labels(mode.value).inc()
        if mode in _RECEIVING:
            self._receivers[credential.id].append(session)
            self.outbox.wake()  # what was kept while no receiver was bound

    def _bucket(self, credential: BoundCredential) -> TokenBucket:
        """The credential's bucket in this process, new when its rate changed (at a rebind)."""
        bucket = self._buckets.get(credential.id)
        if bucket is None or bucket.rate != credential.messages_per_sec:
            bucket = self._buckets[credential.id] = TokenBucket(credential.messages_per_sec)
        return bucket

    def _bound(self) -> list[str]:
        return list(self._receivers)

    def _receiver_for(self, credential_id: str) -> SmppSession | None:
        """A receiver of the credential with an open link, rotating among several."""
        links = self._receivers.get(credential_id)
        while links:
            link = links.pop(0)
            if link.is_open:
                links.append(link)
                return link
        return None

    # -- submits --------------------------------------------------------------------------------

    def _submit(self, session: TenantSession, pdu: Submit) -> int | None:
        credential = session.credential
        if credential is None:  # bound on the wire, but its bind is still being checked
            return command_status(errors.SMPP_SERVER_BUSY())
        if not self._bucket(credential).take():
            return command_status(errors.SMPP_THROTTLED(rate=credential.messages_per_sec))
        try:
            parts = session.parts.add(Part(pdu, read_fragment(pdu)))
        except HongyanError as exc:
            return command_status(exc)
        if parts is None:
            return None  # answered with the other parts
        pdus = [p.pdu for p in parts]
        try:
            body = b"".join(p.fragment.body for p in parts)
            text = decode_text(body, parts[0].fragment.data_coding)
            submission = submission_of(credential, pdus, text)
        except HongyanError as exc:
            answer(session, pdus, Outcome(error=exc))
            return None
        self.batcher.add(session, pdus, submission)
        return None

    def _parts_expired(self, session: TenantSession, parts: list[Part]) -> None:
        secs = self.ctx.settings.smpp_server_part_timeout_secs
        log.info("smpp concatenated submit incomplete", held=len(parts), secs=secs)
        error = errors.SMPP_PARTS_INCOMPLETE(secs=secs)
        answer(session, [p.pdu for p in parts], Outcome(error=error))

    # -- heartbeat ------------------------------------------------------------------------------

    async def _heartbeat(self) -> None:
        every = self.ctx.settings.smpp_server_bind_heartbeat_secs
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=every)
            if self._stopping.is_set():
                return
            try:
                await self._beat()
            except Exception:
                log.exception("smpp heartbeat failed")

    async def _beat(self) -> None:
        bound = [s for s in self.sessions if s.bind_id is not None and s.credential is not None]
        await service.heartbeat(self.ctx, [s.bind_id for s in bound if s.bind_id])
        still = await service.still_allowed(
            self.ctx, sorted({s.credential.id for s in bound if s.credential})
        )
        for session in bound:
            if session.credential is not None and session.credential.id not in still:
                log.info("smpp bind closed: credential disabled", system_id=session.system_id)
                self._spawn(session.unbind())
        await outbox.purge_expired(self.ctx)
