"""A small SMS vendor with a plain HTTP API, the kind the generic HTTP connector is for.

Two send APIs:

- ``POST /sms/send`` (JSON ``{mobile, content, ref?, template?, params?}``,
  ``Authorization: Bearer <TOKEN>``): always HTTP 200 with ``{code, msg, data: {sid}}``, ``code``
  0 on success; 401 ``{code: 401}`` with a wrong token. ``GET /sms/status/{sid}`` answers
  ``{code: 0, data: {sid, state, err}}``; ``push_receipts`` POSTs
  ``{"reports": [{sid, ref, mobile, state, err}]}`` to a receipt URL.
- ``POST /form/send`` (form ``user, key, to, text, ref``): ``{"result": "OK"}`` and no id of
  its own (its receipts name our ``ref``); 403 ``{"result": "ERROR", "code": "AUTH"}``.

By the end of the number: ``1001`` invalid number, ``1002`` blacklisted, ``1003`` throttled
(all HTTP 200 with that code), ``0500`` HTTP 500 with a text body, ``3000`` success without an
id, ``2001`` accepted then ``UNDELIV``/``MK:0001``, ``2002`` accepted then ``EXPIRED``, anything
else accepted then ``DELIVRD``. ``mode`` = ``"timeout"`` holds every answer until the fake stops;
``"error"`` answers 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from tests.fakes.twilio import serve_app

TOKEN = "vendor-token-5f2a9c"
FORM_USER = "hongyan"
CALLBACK_TOKEN = "callback-token-0123456789"
REFUSALS = {
    "1001": (1001, "invalid mobile"),
    "1002": (1002, "mobile in blacklist"),
    "1003": (1003, "throttled, slow down"),
}


@dataclass
class VendorSms:
    sid: str
    mobile: str
    content: str
    ref: str | None
    request: dict[str, Any]
    headers: dict[str, str]
    state: str = "DELIVRD"
    err: str = ""


class FakeVendor:
    """The fake; see the module docstring."""

    def __init__(self) -> None:
        self.mode: Literal["ok", "timeout", "error"] = "ok"
        self.sent: dict[str, VendorSms] = {}
        self.requests = 0
        self.query: dict[str, str] = {}  # the last send request's query string
        self.headers: dict[str, str] = {}  # the last send request's headers
        self.push_client: httpx.AsyncClient | None = None
        self._release = asyncio.Event()
        self.app = Starlette(
            routes=[
                Route("/sms/send", self._send_json, methods=["POST", "GET"]),
                Route("/form/send", self._send_form, methods=["POST"]),
                Route("/sms/status/{sid}", self._status, methods=["GET"]),
            ]
        )

    async def _gate(self, request: Request) -> Response | None:
        self.requests += 1
        self.headers = dict(request.headers)
        if self.mode == "timeout":
            await self._release.wait()
        if self.mode != "ok":
            return JSONResponse({"code": 503, "msg": "busy"}, status_code=503)
        return None

    def _bearer_ok(self, request: Request) -> bool:
        given = request.headers.get("authorization", "")
        return hmac.compare_digest(given, f"Bearer {TOKEN}")

    async def _send_json(self, request: Request) -> Response:
        closed = await self._gate(request)
        if closed is not None:
            return closed
        if not self._bearer_ok(request):
            return JSONResponse({"code": 401, "msg": "unauthorized"}, status_code=401)
        self.query = dict(request.query_params)
        body = await request.json() if request.method == "POST" else dict(request.query_params)
        mobile = str(body.get("mobile", ""))
        if mobile.endswith("0500"):
            return PlainTextResponse("internal error", status_code=500)
        for suffix, (code, msg) in REFUSALS.items():
            if mobile.endswith(suffix):
                return JSONResponse({"code": code, "msg": msg})
        sms = self._accept(mobile, str(body.get("content", "")), body.get("ref"), body, request)
        if mobile.endswith("3000"):
            return JSONResponse({"code": 0, "msg": "ok"})
        return JSONResponse({"code": 0, "msg": "ok", "data": {"sid": sms.sid}})

    async def _send_form(self, request: Request) -> Response:
        closed = await self._gate(request)
        if closed is not None:
            return closed
        form = {k: str(v) for k, v in (await request.form()).items()}
        if form.get("user") != FORM_USER or not hmac.compare_digest(form.get("key", ""), TOKEN):
            return JSONResponse({"result": "ERROR", "code": "AUTH"}, status_code=403)
        self._accept(form.get("to", ""), form.get("text", ""), form.get("ref"), form, request)
        return JSONResponse({"result": "OK"})

    def _accept(
        self, mobile: str, content: str, ref: Any, body: dict[str, Any], request: Request
    ) -> VendorSms:
        sms = VendorSms(
            sid="V" + secrets.token_hex(12),
            mobile=mobile,
            content=content,
            ref=str(ref) if ref is not None else None,
            request=body,
            headers=dict(request.headers),
        )
        if mobile.endswith("2001"):
            sms.state, sms.err = "UNDELIV", "MK:0001"
        elif mobile.endswith("2002"):
            sms.state = "EXPIRED"
        self.sent[sms.sid] = sms
        return sms

    async def _status(self, request: Request) -> Response:
        if not self._bearer_ok(request):
            return JSONResponse({"code": 401, "msg": "unauthorized"}, status_code=401)
        sms = self.sent.get(request.path_params["sid"])
        if sms is None:
            return JSONResponse({"code": 404, "msg": "no such sid"}, status_code=404)
        return JSONResponse(
            {"code": 0, "data": {"sid": sms.sid, "state": sms.state, "err": sms.err}}
        )

    def by_ref(self, ref: str) -> VendorSms:
        return next(s for s in self.sent.values() if s.ref == ref)

    async def push_receipts(self, url: str, sids: list[str]) -> httpx.Response:
        """POST the final states of ``sids`` to a receipt URL, as the vendor does."""
        reports = [
            {
                "sid": s.sid,
                "ref": s.ref,
                "mobile": s.mobile,
                "state": s.state,
                "err": s.err,
            }
            for s in (self.sent[sid] for sid in sids)
        ]
        client = self.push_client or httpx.AsyncClient()
        try:
            return await client.post(url, json={"reports": reports})
        finally:
            if client is not self.push_client:
                await client.aclose()

    @contextlib.asynccontextmanager
    async def serve(self) -> AsyncIterator[str]:
        """Serve on 127.0.0.1 (a free port) in the running loop; yields the base URL."""
        async with serve_app(self.app) as base_url:
            try:
                yield base_url
            finally:
                self._release.set()


def json_vendor(base_url: str, **extra: Any) -> dict[str, Any]:
    """Generic HTTP connector settings for the JSON API of this vendor."""
    settings: dict[str, Any] = {
        "request": {
            "url": f"{base_url}/sms/send",
            "headers": {"Authorization": "Bearer {secret}"},
            "body": {"mobile": "{to}", "content": "{text}", "ref": "{message_id}"},
            "success_path": "code",
            "success_value": 0,
            "id_path": "data.sid",
            "error_code_path": "code",
            "error_message_path": "msg",
            "retryable_codes": ["1003"],
            "error_map": {"1001": "NUMBER_INVALID", "1002": "NUMBER_SUPPRESSED"},
        },
        "receipts": {
            "items_path": "reports",
            "id_path": "sid",
            "status_path": "state",
            "status_map": {
                "DELIVRD": "delivered",
                "UNDELIV": "undelivered",
                "EXPIRED": "expired",
                "ACCEPTD": "accepted",
            },
            "error_code_path": "err",
            "error_map": {"MK:0001": "UNDELIVERABLE"},
        },
        "secret": TOKEN,
        "callback_token": CALLBACK_TOKEN,
        "timeout_secs": 5,
    }
    settings.update(extra)
    return settings


def poll_settings(base_url: str) -> dict[str, Any]:
    """The status request of the JSON API, for ``poll``."""
    return {
        "url": base_url + "/sms/status/{upstream_id}",
        "headers": {"Authorization": "Bearer {secret}"},
        "item_path": "data",
        "interval_secs": 0.05,
    }


CONTRACT_SETTINGS: dict[str, Any] = {}  # everything comes from the peer (it needs the URL)


@contextlib.asynccontextmanager
async def contract_peer(settings: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
    """For the connector contract suite: a running vendor and settings that poll it."""
    vendor = FakeVendor()
    async with vendor.serve() as url:
        yield {**json_vendor(url, poll=poll_settings(url)), **settings}
