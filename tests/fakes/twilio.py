"""A local Twilio Messaging API, following Twilio's documented wire format.

- ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` (form-encoded, HTTP Basic with the
  account SID and auth token, or an API key SID and secret): 401 ``{code: 20003}`` on wrong
  credentials, else the documented checks and errors, else 201 with the message JSON.
- ``GET /2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json``: the message, whose status is
  final once ``delivery_delay_secs`` passed since it was created.
- It signs the status callbacks and inbound messages it pushes as Twilio does
  (``X-Twilio-Signature``: Base64 HMAC-SHA1 with the auth token over the URL and the sorted
  POST parameters), written here from Twilio's documentation, not from Hongyan's code.

What happens to a message, by the end of its To number:

=====================  ===================================================================
To ends in             answer
=====================  ===================================================================
(not E.164)            400 21211 invalid 'To'
``21610``              400 21610 unsubscribed recipient
``21614``              400 21614 not a mobile number
``21408`` / ``21612``  400 region not enabled / not reachable from this sender
``20429``              429 20429 too many requests
``20500``              500 20500 internal error
``30001``              201, then ``failed`` with ErrorCode 30001 (queue overflow)
``3000N`` / ``30034``  201, then ``undelivered`` with that ErrorCode
anything else          201, then ``delivered``
=====================  ===================================================================

``mode`` makes every create time out (``"timeout"``: the answer waits until the fake stops) or
answer 500 (``"error"``). ``serve`` runs the fake on a real socket inside the running event loop,
so it can push to a Hongyan app served in the same loop (``push_client``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import queue
import re
import secrets
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any, Literal

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "f00dbabe" * 4
API_KEY_SID = "SK" + "fedcba9876543210" * 2
API_KEY_SECRET = "twilio-api-key-secret"
SERVICE_SID = "MG" + "00112233445566778899aabbccddeeff"
FROM_NUMBER = "+14155550100"

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
REFUSED: dict[str, tuple[int, int, str]] = {
    "21610": (400, 21610, "Attempt to send to unsubscribed recipient"),
    "21614": (400, 21614, "'To' number is not a valid mobile number"),
    "21408": (
        400,
        21408,
        "Permission to send an SMS has not been enabled for the region indicated by the "
        "'To' number: {to}.",
    ),
    "21612": (
        400,
        21612,
        "The 'To' phone number: {to}, is not currently reachable using the 'From' phone "
        "number: {from_} via SMS.",
    ),
    "20429": (429, 20429, "Too Many Requests"),
    "20500": (500, 20500, "An internal server error has occurred"),
}
UNDELIVERED = ("30003", "30004", "30005", "30006", "30007", "30008", "30034")


def twilio_signature(token: str, url: str, params: dict[str, str]) -> str:
    """X-Twilio-Signature as Twilio computes it for a form POST to ``url``."""
    data = url + "".join(f"{name}{params[name]}" for name in sorted(params))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def _sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def _error(status: int, code: int, message: str) -> JSONResponse:
    # Twilio's error body: {code, message, more_info, status}
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return JSONResponse(body, status_code=status)


@dataclass
class FakeMessage:
    sid: str
    to: str
    from_: str | None
    service: str | None
    body: str
    status_callback: str | None
    validity_period: str | None
    final_status: str
    error_code: int | None
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    status: str = "queued"


@dataclass
class Pushed:
    url: str
    params: dict[str, str]
    signature: str
    status_code: int


class FakeTwilio:
    """The fake; see the module docstring."""

    def __init__(self, *, auth_token: str = AUTH_TOKEN) -> None:
        self.account_sid = ACCOUNT_SID
        self.auth_token = auth_token
        self.api_keys = {API_KEY_SID: API_KEY_SECRET}
        self.numbers = {FROM_NUMBER}
        self.services = {SERVICE_SID}
        self.mode: Literal["ok", "timeout", "error"] = "ok"
        self.delivery_delay_secs = 0.0
        self.auto_callbacks = False  # push "sent" and the final status after each create
        self.push_client: httpx.AsyncClient | None = None  # where pushes go (None: the network)
        self.messages: dict[str, FakeMessage] = {}
        self.creates = 0  # create requests received, accepted or not
        self.refused_auth = 0
        self.pushed: list[Pushed] = []
        self._release = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        prefix = "/2010-04-01/Accounts/{account}/Messages"
        self.app = Starlette(
            routes=[
                Route(prefix + ".json", self._create, methods=["POST"]),
                Route(prefix + "/{sid}.json", self._fetch, methods=["GET"]),
            ]
        )

    # --- the API ------------------------------------------------------------------------------

    def _authorized(self, request: Request) -> bool:
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except ValueError:
            return False
        expected = self.auth_token if user == self.account_sid else self.api_keys.get(user)
        if expected is None or not hmac.compare_digest(password, expected):
            return False
        return request.path_params["account"] == self.account_sid

    async def _create(self, request: Request) -> JSONResponse:
        self.creates += 1
        if not self._authorized(request):
            self.refused_auth += 1
            return _error(401, 20003, "Authenticate")
        if self.mode == "timeout":
            await self._release.wait()
        if self.mode != "ok":
            return _error(500, 20500, "An internal server error has occurred")
        form = {k: str(v) for k, v in (await request.form()).items()}
        refused = self._check(form)
        if refused is not None:
            return refused
        message = self._accept(form)
        if self.auto_callbacks and message.status_callback:
            self._spawn(self._push_progress(message))
        return JSONResponse(self._json(message), status_code=201)

    def _check(self, form: dict[str, str]) -> JSONResponse | None:
        to, body = form.get("To", ""), form.get("Body", "")
        sender, service = form.get("From"), form.get("MessagingServiceSid")
        if not to:
            return _error(400, 21604, "A 'To' phone number is required.")
        if not body:
            return _error(400, 21602, "Message body is required.")
        if len(body) > 1600:
            return _error(400, 21617, "The concatenated message body exceeds the 1600 limit.")
        if service is not None and service not in self.services:
            return _error(404, 21701, "The Messaging Service does not exist")
        if service is None and sender is None:
            return _error(400, 21603, "A 'From' phone number is required.")
        if service is None and sender not in self.numbers:
            return _error(
                400,
                21606,
                f"The From phone number {sender} is not a valid, SMS-capable inbound "
                "phone number or short code for your account.",
            )
        if not E164.match(to):
            return _error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        for suffix, (status, code, text) in REFUSED.items():
            if to.endswith(suffix):
                return _error(status, code, text.format(to=to, from_=sender))
        return None

    def _accept(self, form: dict[str, str]) -> FakeMessage:
        to = form["To"]
        final, error = "delivered", None
        if to.endswith("30001"):
            final, error = "failed", 30001
        elif to.endswith(UNDELIVERED):
            final, error = "undelivered", int(to[-5:])
        message = FakeMessage(
            sid=_sid("SM"),
            to=to,
            from_=form.get("From"),
            service=form.get("MessagingServiceSid"),
            body=form["Body"],
            status_callback=form.get("StatusCallback"),
            validity_period=form.get("ValidityPeriod"),
            final_status=final,
            error_code=error,
        )
        self.messages[message.sid] = message
        return message

    async def _fetch(self, request: Request) -> JSONResponse:
        if not self._authorized(request):
            return _error(401, 20003, "Authenticate")
        message = self.messages.get(request.path_params["sid"])
        if message is None:
            return _error(404, 20404, "The requested resource was not found")
        age = (datetime.now(UTC) - message.created_at).total_seconds()
        if age >= self.delivery_delay_secs:
            message.status = message.final_status
        return JSONResponse(self._json(message))

    def _json(self, m: FakeMessage) -> dict[str, Any]:
        gsm = all(ord(c) < 128 for c in m.body)
        single, part = (160, 153) if gsm else (70, 67)
        segments = 1 if len(m.body) <= single else -(-len(m.body) // part)
        created = format_datetime(m.created_at)
        final = m.status in ("delivered", "undelivered", "failed")
        return {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": m.body,
            "date_created": created,
            "date_sent": created if m.status != "queued" else None,
            "date_updated": created,
            "direction": "outbound-api",
            "error_code": m.error_code if final else None,
            "error_message": None,
            "from": m.from_,
            "messaging_service_sid": m.service,
            "num_media": "0",
            "num_segments": str(segments),
            "price": None,
            "price_unit": "USD",
            "sid": m.sid,
            "status": m.status,
            "subresource_uris": {
                "media": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{m.sid}/Media.json"
            },
            "to": m.to,
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{m.sid}.json",
        }

    # --- pushing to Hongyan -------------------------------------------------------------------

    def status_params(self, message: FakeMessage, status: str) -> dict[str, str]:
        """The form Twilio posts to a message's StatusCallback."""
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": "2010-04-01",
            "From": message.from_ or FROM_NUMBER,
            "MessageSid": message.sid,
            "MessageStatus": status,
            "SmsSid": message.sid,
            "SmsStatus": status,
            "To": message.to,
        }
        if message.service:
            params["MessagingServiceSid"] = message.service
        if status in ("undelivered", "failed") and message.error_code:
            params["ErrorCode"] = str(message.error_code)
        return params

    async def push_status(
        self, sid: str, status: str | None = None, *, token: str | None = None
    ) -> Pushed:
        """POST the message's (final, unless named) status to its StatusCallback, signed."""
        message = self.messages[sid]
        status = status or message.final_status
        message.status = status
        assert message.status_callback, "the message was sent without a StatusCallback"
        return await self.push(
            message.status_callback, self.status_params(message, status), token=token
        )

    async def push_inbound(
        self, url: str, *, sender: str, text: str, to: str = FROM_NUMBER, token: str | None = None
    ) -> Pushed:
        """POST a handset's message to an inbound webhook URL, signed."""
        sid = _sid("SM")
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": "2010-04-01",
            "Body": text,
            "From": sender,
            "MessageSid": sid,
            "NumMedia": "0",
            "NumSegments": "1",
            "SmsMessageSid": sid,
            "SmsSid": sid,
            "SmsStatus": "received",
            "To": to,
        }
        return await self.push(url, params, token=token)

    async def push(self, url: str, params: dict[str, str], *, token: str | None = None) -> Pushed:
        """POST ``params`` to ``url`` signed with the auth token (or ``token``, to test refusal)."""
        signature = twilio_signature(token or self.auth_token, url, params)
        headers = {"X-Twilio-Signature": signature, "User-Agent": "TwilioProxy/1.1"}
        client = self.push_client or httpx.AsyncClient()
        try:
            answer = await client.post(url, data=params, headers=headers)
        finally:
            if client is not self.push_client:
                await client.aclose()
        pushed = Pushed(url, params, signature, answer.status_code)
        self.pushed.append(pushed)
        return pushed

    async def _push_progress(self, message: FakeMessage) -> None:
        await asyncio.sleep(self.delivery_delay_secs)
        await self.push_status(message.sid, "sent")
        await self.push_status(message.sid)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- running ------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def serve(self) -> AsyncIterator[str]:
        """Serve on 127.0.0.1 (a free port) in the running loop; yields the base URL."""
        async with serve_app(self.app) as base_url:
            try:
                yield base_url
            finally:
                self._release.set()  # answers held back by mode="timeout" end now
                for task in list(self._tasks):
                    task.cancel()


@contextlib.asynccontextmanager
async def serve_app(app: Any) -> AsyncIterator[str]:
    """Serve an ASGI app on 127.0.0.1 (a free port) as a task of the running loop."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    task = asyncio.get_running_loop().create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # raises why it could not start
        await asyncio.sleep(0.005)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@contextlib.contextmanager
def serve_in_thread(fake: FakeTwilio) -> Iterator[str]:
    """Serve the fake from a thread with a loop of its own (for tests that are not async)."""
    ready: queue.Queue[str] = queue.Queue()
    stop: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    async def main() -> None:
        event = asyncio.Event()
        stop.append((asyncio.get_running_loop(), event))
        async with fake.serve() as url:
            ready.put(url)
            await event.wait()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    url = ready.get(timeout=10)
    try:
        yield url
    finally:
        loop, event = stop[0]
        loop.call_soon_threadsafe(event.set)
        thread.join(10)


# Receipts reach the contract suite's sinks by polling (no Hongyan app there to call back).
CONTRACT_SETTINGS: dict[str, Any] = {
    "account_sid": ACCOUNT_SID,
    "auth_token": AUTH_TOKEN,
    "from_number": FROM_NUMBER,
    "poll_receipts": True,
    "poll_interval_secs": 0.05,
}


@contextlib.asynccontextmanager
async def contract_peer(settings: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
    """For the connector contract suite: a running fake, and the settings pointing at it."""
    fake = FakeTwilio()
    async with fake.serve() as url:
        yield {**settings, "base_url": url}
