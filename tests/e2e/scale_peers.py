"""The peers of the scale-out test: a carrier's SMSC (smpp34) and a tenant's webhook receiver.

Both count what reaches them, because the test's verdicts on duplicates and webhooks are
judged at the far end, where a duplicate or a missing event would actually be seen:

- ``CountingSmsc`` accepts every submit_sm, counts it by (destination, text) and sends a
  DELIVRD receipt for it. A real SMSC sends a receipt on any live bind of the account, so
  this one does too: receipts of a bind that died (its worker was killed) go to another, and
  wait while there is none.
- ``HookReceiver`` is an HTTP/1.1 server (keep-alive, a thread per connection) that keeps
  every POST: path, headers and raw body, for the signatures to be checked afterwards.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import smpp34

RECEIPT_SENDERS = 16  # deliver_sm in flight at once: each waits until Hongyan stored it
RECEIPT_GIVE_UP_SECS = 60.0  # a receipt with no bind to go to for this long is dropped
STOP_WAIT_SECS = 10.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def decode_text(data_coding: int, short_message: bytes) -> str:
    """The text of a single-part submit_sm (UCS-2 for data_coding 8, else ASCII/GSM)."""
    return short_message.decode("utf-16-be" if data_coding == 8 else "latin-1")


class CountingSmsc:
    """An SMSC on smpp34's server: accepts all, counts submits, sends a receipt for each."""

    def __init__(self) -> None:
        self.port = free_port()
        self.server = smpp34.Server(host="127.0.0.1", port=self.port, system_id="SMSC")
        self.submits: Counter[tuple[str, str]] = Counter()  # (E.164, text) -> submit_sm count
        self.binds: dict[str, Any] = {}  # session id -> live Esme
        self.bound_ever = 0
        self.receipts_sent = 0
        self._receipts: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._serial = 0

    async def __aenter__(self) -> CountingSmsc:
        await self.server.start()
        self._tasks.append(asyncio.ensure_future(self._drive()))
        self._tasks += [
            asyncio.ensure_future(self._send_receipts()) for _ in range(RECEIPT_SENDERS)
        ]
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in self._tasks:
            task.cancel()
        # Bounded: a task waiting in the library's native code may not end at once.
        await asyncio.wait(self._tasks, timeout=STOP_WAIT_SECS)
        await asyncio.wait_for(self.server.stop(), timeout=STOP_WAIT_SECS)

    @property
    def receipts_pending(self) -> int:
        return self._receipts.qsize()

    async def _drive(self) -> None:
        while True:
            event = await self.server.next()
            if isinstance(event, smpp34.Esme):
                self.binds[event.session_id] = event
                self.bound_ever += 1
            elif isinstance(event, smpp34.Unbound):
                self.binds.pop(event.session_id, None)
            elif isinstance(event, smpp34.SubmitSmEvent):
                self._serial += 1
                upstream_id = f"{self._serial:x}"  # hex, as most SMSCs write them
                msisdn = "+" + event.destination_addr
                self.submits[(msisdn, decode_text(event.data_coding, event.short_message))] += 1
                event.accept(upstream_id)
                self._receipts.put_nowait((upstream_id, event.destination_addr))

    async def _send_receipts(self) -> None:
        while True:
            upstream_id, destination = await self._receipts.get()
            await self._deliver(upstream_id, destination)

    async def _deliver(self, upstream_id: str, destination: str) -> None:
        text = (
            f"id:{upstream_id} sub:001 dlvrd:001 submit date:2611251530"
            f" done date:2611251531 stat:DELIVRD err:000 text:hongyan"
        ).encode()
        deadline = time.monotonic() + RECEIPT_GIVE_UP_SECS
        while time.monotonic() < deadline:
            for session_id, esme in list(self.binds.items()):
                try:
                    resp = await asyncio.wait_for(
                        esme.deliver_sm("Hongyan", text, source_addr=destination, esm_class=0x04),
                        timeout=10,
                    )
                except Exception:  # that bind is gone (its worker was killed): try another
                    self.binds.pop(session_id, None)
                    continue
                if resp.is_success:
                    self.receipts_sent += 1
                    return
            await asyncio.sleep(0.2)  # no bind took it: wait for one (a worker rebinding)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as Hongyan's webhook client expects
    server: _HookServer

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        body = self.rfile.read(length)
        if len(body) < length:  # the sender died mid-request (the killed worker): not received
            self.close_connection = True
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        with self.server.lock:
            self.server.received.append((self.path, headers, body))
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


class _HookServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.received: list[tuple[str, dict[str, str], bytes]] = []

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # connections of the killed worker reset mid-request: expected, not news


class HookReceiver:
    """The tenants' webhook endpoint, on a thread of its own."""

    def __init__(self) -> None:
        self._server = _HookServer()
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def received(self) -> list[tuple[str, dict[str, str], bytes]]:
        with self._server.lock:
            return list(self._server.received)

    def __enter__(self) -> HookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
