"""Webhooks on both backends, delivered to a real local HTTP server.

The receiver is a threaded ``http.server`` on 127.0.0.1 that records every request and can be
told, per path, to fail the first N requests, to answer with a status, or to answer slowly.
Time is driven by passing ``now`` to ``deliver_batch`` rather than by sleeping. Other tests
share the database, so assertions look at this test's own deliveries only.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select

from hongyan.api.context import AppContext
from hongyan.models import WebhookDelivery, WebhookEndpoint, utcnow
from hongyan.webhooks import delivery, service, tasks
from hongyan.webhooks.verify import verify_signature
from tests.conftest import KeyPair, make_tenant

Json = dict[str, Any]
# Deliveries these tests leave pending go nowhere: port 9 on loopback refuses at once, where a
# real domain would make every later test's batch wait on the network.
NOWHERE = "http://127.0.0.1:9"


# --- the receiver -----------------------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class _Server(ThreadingHTTPServer):
    # The default listen backlog (5) drops SYNs when a batch opens a dozen connections at
    # once; the client then waits a second to retry, past the tests' short timeout.
    request_queue_size = 128


class Receiver:
    """A local HTTP server whose behaviour is set per path."""

    def __init__(self) -> None:
        self.requests: dict[str, list[Received]] = defaultdict(list)
        self.fail_first: dict[str, int] = {}
        self.status: dict[str, int] = {}
        self.delay: dict[str, float] = {}
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    seen = receiver.requests[self.path]
                    seen.append(Received(self.path, dict(self.headers.items()), body))
                    count = len(seen)
                time.sleep(receiver.delay.get(self.path, 0.0))
                failing = count <= receiver.fail_first.get(self.path, 0)
                code = 500 if failing else receiver.status.get(self.path, 200)
                answer = b"boom" if failing else b"ok"
                try:
                    self.send_response(code)
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (the slow path): as a real server would

            def log_message(self, *args: object) -> None:
                pass

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False  # a slow handler must not hold up the teardown
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def path(self, name: str) -> str:
        return f"/{secrets.token_hex(4)}/{name}"

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def got(self, path: str) -> list[Received]:
        with self.lock:
            return list(self.requests[path])


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
async def wctx(ctx: AppContext) -> AsyncIterator[AppContext]:
    """A worker's context on the test database, with a short POST timeout."""
    settings = ctx.settings.model_copy(update={"webhook_timeout_secs": 0.5})
    worker_ctx = AppContext(settings=settings, db=ctx.db, box=ctx.box, auth=ctx.auth)
    yield worker_ctx
    await tasks.stop(worker_ctx)


# --- helpers ----------------------------------------------------------------------------------


async def create(client: httpx.AsyncClient, who: KeyPair, url: str, events: list[str]) -> Json:
    body = {"url": url, "events": events, "description": "test"}
    response = await client.post("/v1/webhooks", json=body, headers=who.basic)
    assert response.status_code == 201, response.text
    created: Json = response.json()
    return created


async def enqueue(
    wctx: AppContext, tenant_id: str, event: str = "message.delivered", **extra: Any
) -> int:
    payload = {"id": f"msg_{secrets.token_hex(4)}", "status": event.split(".")[-1]}
    async with wctx.db.session() as session:
        return await service.enqueue(
            session, ctx=wctx, tenant_id=tenant_id, event=event, payload=payload, **extra
        )


async def run(wctx: AppContext, now: datetime | None = None) -> None:
    """Deliver until nothing is due at ``now`` (other tests' deliveries may be due too)."""
    while await delivery.deliver_batch(wctx, now=now):
        pass


async def deliveries(wctx: AppContext, tenant_id: str) -> list[WebhookDelivery]:
    async with wctx.db.session() as session:
        stmt = (
            select(WebhookDelivery)
            .where(WebhookDelivery.tenant_id == tenant_id)
            .order_by(WebhookDelivery.id)
        )
        return list((await session.execute(stmt)).scalars())


async def endpoint_row(wctx: AppContext, endpoint_id: str) -> WebhookEndpoint:
    async with wctx.db.session() as session:
        row = await session.get(WebhookEndpoint, endpoint_id)
        assert row is not None
        return row


def error_code(response: httpx.Response) -> str:
    code: str = response.json()["error"]["code"]
    return code


def counted(outcome: str) -> float:
    value = REGISTRY.get_sample_value("hongyan_webhook_deliveries_total", {"outcome": outcome})
    return value or 0.0


# --- endpoints over the API -------------------------------------------------------------------


async def test_endpoint_lifecycle_and_secret_shown_once(
    client: httpx.AsyncClient, tenant: KeyPair
) -> None:
    created = await create(client, tenant, "https://example.com/hooks", ["message.delivered"])
    assert created["id"].startswith("whk_") and created["secret"].startswith("whsec_")
    assert created["secret_hint"] == created["secret"][-4:] and created["enabled"] is True
    wid, auth = created["id"], tenant.basic

    listed = (await client.get("/v1/webhooks", headers=auth)).json()
    assert [e["id"] for e in listed["data"]] == [wid] and "secret" not in listed["data"][0]
    one = (await client.get(f"/v1/webhooks/{wid}", headers=auth)).json()
    assert one["url"] == "https://example.com/hooks" and "secret" not in one

    patch = {"events": ["message.failed", "*"], "description": None}
    changed = (await client.patch(f"/v1/webhooks/{wid}", json=patch, headers=auth)).json()
    assert changed["events"] == ["*"] and changed["description"] is None

    rotated = (await client.post(f"/v1/webhooks/{wid}/rotate-secret", headers=auth)).json()
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != created["secret"]

    assert (await client.delete(f"/v1/webhooks/{wid}", headers=auth)).status_code == 204
    gone = await client.get(f"/v1/webhooks/{wid}", headers=auth)
    assert gone.status_code == 404 and error_code(gone) == "WEBHOOK_NOT_FOUND"


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"url": "ftp://example.com/x", "events": ["*"]}, "WEBHOOK_URL_INVALID", "url"),
        ({"url": "https:///nohost", "events": ["*"]}, "WEBHOOK_URL_INVALID", "url"),
        (
            {"url": "https://example.com/x", "events": ["message.read"]},
            "WEBHOOK_EVENT_UNKNOWN",
            "events",
        ),
        ({"url": "https://example.com/x", "events": []}, "FIELD_TOO_SHORT", "events"),
        ({"url": "https://example.com/x"}, "FIELD_REQUIRED", "events"),
    ],
)
async def test_bad_endpoints_are_refused(
    client: httpx.AsyncClient, tenant: KeyPair, body: Json, code: str, field: str
) -> None:
    response = await client.post("/v1/webhooks", json=body, headers=tenant.basic)
    assert response.status_code == 422 and error_code(response) == code
    assert response.json()["error"]["field"] == field
    assert (await client.get("/v1/webhooks", headers=tenant.basic)).json()["data"] == []


async def test_private_hosts_refused_when_the_operator_says_so(ctx: AppContext) -> None:
    from hongyan.errors import HongyanError
    from hongyan.webhooks.urls import validate_url

    for url in (
        "http://127.0.0.1:8080/x",
        "http://localhost/x",
        "http://10.1.2.3/",
        "http://[::1]/",
    ):
        assert validate_url(url, allow_private=True) == url
        with pytest.raises(HongyanError) as caught:
            validate_url(url, allow_private=False)
        assert caught.value.code == "WEBHOOK_URL_INVALID"
    assert validate_url(" https://8.8.8.8/x ", allow_private=False) == "https://8.8.8.8/x"


async def test_scopes_and_the_endpoint_limit(client: httpx.AsyncClient, ctx: AppContext) -> None:
    reader = await make_tenant(ctx, scopes=["read"])
    response = await client.post(
        "/v1/webhooks", json={"url": "https://example.com", "events": ["*"]}, headers=reader.basic
    )
    assert response.status_code == 403 and error_code(response) == "SCOPE_MISSING"
    assert (await client.get("/v1/webhooks", headers=reader.basic)).status_code == 200
    assert (await client.get("/v1/webhooks/secret", headers=reader.basic)).status_code == 403

    owner = await make_tenant(ctx)
    for _ in range(ctx.settings.webhook_max_endpoints):
        await create(client, owner, "https://example.com/x", ["*"])
    response = await client.post(
        "/v1/webhooks", json={"url": "https://example.com", "events": ["*"]}, headers=owner.basic
    )
    assert response.status_code == 409 and error_code(response) == "WEBHOOK_LIMIT_REACHED"


async def test_tenants_never_see_each_others_webhooks(
    client: httpx.AsyncClient, ctx: AppContext, wctx: AppContext, receiver: Receiver
) -> None:
    owner, other = await make_tenant(ctx), await make_tenant(ctx)
    path = receiver.path("iso")
    wid = (await create(client, owner, receiver.url(path), ["*"]))["id"]
    await enqueue(wctx, str(owner.tenant_id))
    await run(wctx)
    [row] = await deliveries(wctx, str(owner.tenant_id))

    for method, url in [
        ("GET", f"/v1/webhooks/{wid}"),
        ("PATCH", f"/v1/webhooks/{wid}"),
        ("DELETE", f"/v1/webhooks/{wid}"),
        ("POST", f"/v1/webhooks/{wid}/rotate-secret"),
        ("POST", f"/v1/webhooks/{wid}/test"),
        ("GET", f"/v1/webhooks/{wid}/deliveries"),
        ("GET", f"/v1/webhooks/deliveries/{row.id}"),
        ("POST", f"/v1/webhooks/deliveries/{row.id}/replay"),
    ]:
        body = {"enabled": False} if method == "PATCH" else None
        response = await client.request(method, url, json=body, headers=other.basic)
        assert response.status_code == 404, (method, url, response.text)
        assert error_code(response) in ("WEBHOOK_NOT_FOUND", "DELIVERY_NOT_FOUND")
    log = (await client.get("/v1/webhooks/deliveries", headers=other.basic)).json()
    assert log["data"] == []
    assert (await client.get(f"/v1/webhooks/{wid}", headers=owner.basic)).json()["enabled"]


# --- enqueueing -------------------------------------------------------------------------------


async def test_events_go_to_subscribed_endpoints_or_the_callback_only(
    client: httpx.AsyncClient, ctx: AppContext, wctx: AppContext
) -> None:
    who = await make_tenant(ctx)
    tid = str(who.tenant_id)
    only_delivered = await create(client, who, f"{NOWHERE}/a", ["message.delivered"])
    everything = await create(client, who, f"{NOWHERE}/b", ["*"])

    assert await enqueue(wctx, tid, "message.delivered") == 2
    assert await enqueue(wctx, tid, "message.sent") == 1
    cb = f"{NOWHERE}/callback?m=1"
    assert await enqueue(wctx, tid, "message.failed", callback_url=cb) == 1
    rows = await deliveries(wctx, tid)
    assert [(r.event_type, r.endpoint_id) for r in rows] == [
        ("message.delivered", only_delivered["id"]),
        ("message.delivered", everything["id"]),
        ("message.sent", everything["id"]),
        ("message.failed", None),  # the callback replaces the endpoints
    ]
    assert rows[0].event_id == rows[1].event_id != rows[2].event_id  # one event, two deliveries
    assert rows[3].url == cb and rows[0].url == f"{NOWHERE}/a"
    assert all(r.status == "pending" and r.attempts == 0 for r in rows)

    # Events of other tenants, one insert.
    other = await make_tenant(ctx)
    await create(client, other, f"{NOWHERE}/c", ["message.sent"])
    batch = [
        service.EventIn(tid, "message.sent", {"n": 1}),
        service.EventIn(str(other.tenant_id), "message.sent", {"n": 2}),
        service.EventIn(str(other.tenant_id), "message.delivered", {"n": 3}),
    ]
    async with wctx.db.session() as session:
        assert await service.enqueue_many(session, ctx=wctx, events=batch) == 2


async def test_enqueue_is_part_of_the_callers_transaction(
    client: httpx.AsyncClient, ctx: AppContext, wctx: AppContext
) -> None:
    from hongyan.errors import HongyanError

    who = await make_tenant(ctx)
    await create(client, who, f"{NOWHERE}/a", ["*"])
    with pytest.raises(RuntimeError):
        async with wctx.db.session() as session:
            await service.enqueue(
                session, ctx=wctx, tenant_id=str(who.tenant_id), event="message.sent", payload={}
            )
            raise RuntimeError("the status change failed")
    assert await deliveries(wctx, str(who.tenant_id)) == []
    with pytest.raises(HongyanError) as caught:
        await enqueue(wctx, str(who.tenant_id), "message.read")
    assert caught.value.code == "WEBHOOK_EVENT_UNKNOWN"


# --- delivering -------------------------------------------------------------------------------


async def test_a_delivery_is_signed_and_verifies(
    client: httpx.AsyncClient, ctx: AppContext, wctx: AppContext, receiver: Receiver
) -> None:
    who = await make_tenant(ctx)
    path = receiver.path("ok")
    created = await create(client, who, receiver.url(path), ["message.delivered"])
    before = counted("delivered")
    assert await enqueue(wctx, str(who.tenant_id)) == 1
    await run(wctx)

    [request] = receiver.got(path)
    [row] = await deliveries(wctx, str(who.tenant_id))
    signature = request.headers["Hongyan-Signature"]
    assert verify_signature(created["secret"], signature, request.body)
    assert not verify_signature("whsec_wrong", signature, request.body)
    event = json.loads(request.body)
    assert event["id"] == row.event_id and event["id"].startswith("evt_")
    assert event["type"] == "message.delivered" and event["data"] == row.payload
    assert event["created_at"].endswith("Z")
    assert request.headers["Hongyan-Event-Id"] == row.event_id
    assert request.headers["Content-Type"].startswith("application/json")
    assert row.status == "delivered" and row.attempts == 1 and row.last_status_code == 200
    assert row.delivered_at is not None and row.next_attempt_at is None and row.lease_token is None
    assert counted("delivered") >= before + 1


async def test_failures_are_retried_with_backoff_until_the_endpoint_recovers(
    client: httpx.AsyncClient, ctx: AppContext, wctx: AppContext, receiver: Receiver
) -> None:
    who = await make_tenant(ctx)
    path = receiver.path("flaky")
    receiver.fail_first[path] = 2
    created = await create(client, who, receiver.url(path), ["*"])
    await enqueue(wctx, str(who.tenant_id))
    t0 = utcnow()

    await run(wctx, t0)
    [row] = await deliveries(wctx, str(who.tenant_id))
    assert row.status == "pending" and row.attempts == 1 and row.last_status_code == 500
    assert row.last_error == "HTTP 500: boom" and row.first_attempt_at == t0
    assert row.next_attempt_at is not None
    wait = row.next_attempt_at - t0
    assert timedelta(seconds=9) <= wait <= timedelta(seconds=11)
    paused = await endpoint_row(wctx, created["id"])
    assert paused.consecutive_failures == 1 and paused.paused_until is not None
    assert paused.paused_until <= row.next_attempt_at

    await run(wctx, t0 + wait / 2)  # not due yet: nothing is sent
    assert len(receiver.got(path)) == 1

    await run(wctx, row.next_attempt_at)
    [row] = await deliveries(wctx, str(who.tenant_id))
    assert row.attempts == 2 and row.status == "pending" and row.next_attempt_at is not None
    second_wait = row.next_attempt_at - (row.last_attempt_at or t0)
    assert timedelta(seconds=27) <= second_wait <= timedelta(seconds=33)

    await run(wctx, row.next_attempt_at)
    [row] = await deliveries(wctx, str(who.tenant_id))
    assert row.status == "delivered" and row.attempts == 3 and row.last_status_code == 200
    assert row.last_error is None
    got = receiver.got(path)
    assert len(got) == 3 and len({r.headers["Hongyan-Event-Id"] for r in got}) == 1
    assert all(
        verify_signature(created["secret"], r.headers["Hongyan-Signature"], r.body) for r in got
    )
    healthy = await endpoint_row(wctx, created["id"])
    assert healthy.consecutive_failures == 0 and healthy.paused_until is None


async def test_dead_after_the_retry_window_then_replayed(
    client: httpx.AsyncClient, ctx: AppContext, wctx: AppContext, receiver: Receiver
) -> None:
    who = await make_tenant(ctx)
    path = receiver.path("down")
    receiver.fail_first[path] = 10**6
    created = await create(client, who, receiver.url(path), ["*"])
    await enqueue(wctx, str(who.tenant_id))
    t0 = utcnow()
    await run(wctx, t0)
    before = counted("dead")
    await run(wctx, t0 + timedelta(hours=24, seconds=1))

    [row] = await deliveries(wctx, str(who.tenant_id))
    assert row.status == "dead" and row.attempts == 2 and row.next_attempt_at is None
    assert counted("dead") >= before + 1
    auth = who.basic
    log = await client.get(f"/v1/webhooks/{created['id']}/deliveries?status=dead", headers=auth)
    [entry] = log.json()["data"]
    assert entry["id"] == row.id and entry["attempts"] == 2 and entry["last_status_code"] == 500
    assert entry["payload"] == row.payload and entry["event_type"] == "message.delivered"

    receiver.fail_first[path] = 0  # the tenant fixed its server
    replayed = await client.post(f"/v1/webhooks/deliveries/{row.id}/replay", headers=auth)
    assert replayed.status_code == 202, replayed.text
    assert replayed.json()["status"] == "pending" and replayed.json()["attempts"] == 0
    again = await client.post(f"/v1/webhooks/deliveries/{row.id}/replay", headers=auth)
    assert again.status_code == 409 and error_code(again) == "DELIVERY_NOT_REPLAYABLE"
    resumed = await endpoint_row(wctx, created["id"])
    assert resumed.paused_until is None  # a replay lifts the pause

    await run(wctx)
    [row] = await deliveries(wctx, str(who.tenant_id))
    assert row.status == "delivered" and row.attempts == 1
    got = receiver.got(path)
    assert got[-1].headers["Hongyan-Event-Id"] == got[0].headers["Hongyan-Event-Id"]
    one = (await client.get(f"/v1/webhooks/deliveries/{row.id}", headers=auth)).json()
    assert one["status"] == "delivered"


async def test_a_slow_endpoint_does_not_hold_up_a_fast_one(
    client: httpx.AsyncClient, ctx: AppContext, wctx: AppContext, receiver: Receiver
) -> None:
    who = await make_tenant(ctx)
    slow, fast = receiver.path("slow"), receiver.path("fast")
    receiver.delay[slow] = 3.0  # well past the 0.5 s timeout
    slow_id = (await create(client, who, receiver.url(slow), ["*"]))["id"]
    fast_id = (await create(client, who, receiver.url(fast), ["*"]))["id"]
    for _ in range(6):
        await enqueue(wctx, str(who.tenant_id))
    t0 = utcnow()

    await delivery.deliver_batch(wctx, now=t0)  # one batch holds all twelve
    rows = await deliveries(wctx, str(who.tenant_id))
    to_fast = [r for r in rows if r.endpoint_id == fast_id]
    to_slow = [r for r in rows if r.endpoint_id == slow_id]
    assert len(to_fast) == 6 and all(r.status == "delivered" for r in to_fast)
    assert len(receiver.got(fast)) == 6
    assert all(r.status == "pending" for r in to_slow)
    tried = [r for r in to_slow if r.attempts == 1]
    postponed = [r for r in to_slow if r.attempts == 0]
    # At most PER_TARGET POSTs went to the slow endpoint; the rest waited untried.
    assert 1 <= len(tried) <= delivery.PER_TARGET and len(postponed) >= 6 - delivery.PER_TARGET
    assert all((r.last_error or "").startswith("timeout") for r in tried)
    assert all((r.last_error or "").startswith("postponed") for r in postponed)
    paused = await endpoint_row(wctx, slow_id)
    assert paused.paused_until is not None and paused.consecutive_failures == 1
    assert all(
        r.next_attempt_at is not None and r.next_attempt_at >= paused.paused_until for r in to_slow
    )

    # While paused, the slow endpoint's deliveries are not claimed; the fast one's new ones are.
    await enqueue(wctx, str(who.tenant_id))
    await run(wctx, t0 + timedelta(seconds=1))
    assert len(receiver.got(fast)) == 7
    assert sum(r.attempts for r in await deliveries(wctx, str(who.tenant_id))) == 7 + len(tried)


async def test_disabling_dead_letters_pending_and_deleting_discards(
    client: httpx.AsyncClient, ctx: AppContext, wctx: AppContext, receiver: Receiver
) -> None:
    who = await make_tenant(ctx)
    tid, auth = str(who.tenant_id), who.basic
    path = receiver.path("off")
    wid = (await create(client, who, receiver.url(path), ["*"]))["id"]
    await enqueue(wctx, tid)
    off = await client.patch(f"/v1/webhooks/{wid}", json={"enabled": False}, headers=auth)
    assert off.json()["enabled"] is False
    [row] = await deliveries(wctx, tid)
    assert row.status == "dead" and row.last_error == "endpoint disabled"
    await client.patch(f"/v1/webhooks/{wid}", json={"enabled": True}, headers=auth)

    # wctx still caches the endpoint: deleted elsewhere, an event is queued for it all the same
    # (a send must never fail over a webhook), and discarded when its turn comes.
    assert (await client.delete(f"/v1/webhooks/{wid}", headers=auth)).status_code == 204
    assert await deliveries(wctx, tid) == []
    assert await enqueue(wctx, tid) == 1
    await run(wctx)
    assert await deliveries(wctx, tid) == [] and receiver.got(path) == []


async def test_callback_urls_are_signed_with_the_tenant_callback_secret(
    client: httpx.AsyncClient, ctx: AppContext, wctx: AppContext, receiver: Receiver
) -> None:
    who = await make_tenant(ctx)
    tid, auth = str(who.tenant_id), who.basic
    await create(client, who, receiver.url(receiver.path("unused")), ["*"])
    path = receiver.path("cb")
    await enqueue(wctx, tid, "message.sent", callback_url=receiver.url(path))
    await run(wctx)  # creates the callback secret on first use

    shown = (await client.get("/v1/webhooks/secret", headers=auth)).json()
    assert shown["secret"].startswith("whsec_")
    assert (await client.get("/v1/webhooks/secret", headers=auth)).json()["secret"] == shown[
        "secret"
    ]
    [request] = receiver.got(path)
    assert verify_signature(shown["secret"], request.headers["Hongyan-Signature"], request.body)

    # Rotation keeping the old secret an hour: both sign, so either receiver config accepts.
    rotate = await client.post(
        "/v1/webhooks/secret/rotate", json={"keep_previous_secs": 3600}, headers=auth
    )
    new = rotate.json()
    assert new["secret"] != shown["secret"] and new["previous_secret_expires_at"] is not None
    await enqueue(wctx, tid, "message.delivered", callback_url=receiver.url(path))
    await run(wctx)
    second = receiver.got(path)[1]
    header = second.headers["Hongyan-Signature"]
    assert header.count("v1=") == 2
    assert verify_signature(new["secret"], header, second.body)
    assert verify_signature(shown["secret"], header, second.body)
    cb_log = (await client.get("/v1/webhooks/deliveries?callback=true", headers=auth)).json()
    assert [d["status"] for d in cb_log["data"]] == ["delivered", "delivered"]
    assert all(d["endpoint_id"] is None for d in cb_log["data"])


async def test_test_event_and_the_worker_job(
    client: httpx.AsyncClient, ctx: AppContext, wctx: AppContext, receiver: Receiver
) -> None:
    who = await make_tenant(ctx)
    path = receiver.path("test")
    created = await create(client, who, receiver.url(path), ["message.failed"])
    sent = await client.post(f"/v1/webhooks/{created['id']}/test", headers=who.basic)
    assert sent.status_code == 202 and sent.json()["event_type"] == "webhook.test"

    # The job only starts a background batch and returns at once; wait for it here.
    await tasks.deliver(wctx)
    runner = wctx.caches[tasks.RUNNER_KEY]
    await asyncio.gather(*runner.tasks)
    [request] = receiver.got(path)
    assert json.loads(request.body)["type"] == "webhook.test"
    assert await tasks.deliver(wctx) >= 1  # the finished batch's count is reported next turn
    await asyncio.gather(*runner.tasks)


async def test_old_finished_deliveries_are_purged(
    client: httpx.AsyncClient, ctx: AppContext, wctx: AppContext, receiver: Receiver
) -> None:
    who = await make_tenant(ctx)
    tid = str(who.tenant_id)
    await create(client, who, receiver.url(receiver.path("purge")), ["*"])
    await enqueue(wctx, tid)
    await run(wctx)
    await enqueue(wctx, tid)  # pending: never purged, however old
    old = utcnow() - timedelta(days=wctx.settings.webhook_retention_days + 1)
    async with wctx.db.session() as session:
        for row in (
            await session.execute(select(WebhookDelivery).where(WebhookDelivery.tenant_id == tid))
        ).scalars():
            row.created_at = old
    assert await tasks.purge(wctx) >= 1
    assert [r.status for r in await deliveries(wctx, tid)] == ["pending"]


async def test_concurrent_workers_never_send_one_delivery_twice(
    client: httpx.AsyncClient, ctx: AppContext, wctx: AppContext, receiver: Receiver
) -> None:
    who = await make_tenant(ctx)
    path = receiver.path("many")
    await create(client, who, receiver.url(path), ["*"])
    events = [service.EventIn(str(who.tenant_id), "message.sent", {"n": n}) for n in range(60)]
    async with wctx.db.session() as session:
        assert await service.enqueue_many(session, ctx=wctx, events=events) == 60

    small = ctx.settings.model_copy(update={"webhook_batch_size": 7})
    workers = [AppContext(settings=small, db=ctx.db, box=ctx.box, auth=ctx.auth) for _ in range(3)]
    try:
        await asyncio.gather(*(run(w) for w in workers))
    finally:
        for w in workers:
            await tasks.stop(w)
    got = receiver.got(path)
    ids = [r.headers["Hongyan-Event-Id"] for r in got]
    assert len(ids) == 60 and len(set(ids)) == 60
    rows = await deliveries(wctx, str(who.tenant_id))
    assert all(r.status == "delivered" and r.attempts == 1 for r in rows)


async def test_a_dead_workers_lease_is_taken_over_and_its_late_result_ignored(
    client: httpx.AsyncClient, ctx: AppContext, wctx: AppContext, receiver: Receiver
) -> None:
    from hongyan.webhooks import repository as repo

    who = await make_tenant(ctx)
    path = receiver.path("lease")
    await create(client, who, receiver.url(path), ["*"])
    await enqueue(wctx, str(who.tenant_id))
    [row] = await deliveries(wctx, str(who.tenant_id))
    t0 = utcnow()
    async with wctx.db.session() as session:  # a worker claims it, then dies
        claimed = await repo.claim_due(
            session, now=t0, limit=10**6, lease_until=t0 + timedelta(seconds=60), token="dead1"
        )
    assert row.id in {c.id for c in claimed}
    await run(wctx, t0 + timedelta(seconds=30))  # leased: nobody else sends it
    assert receiver.got(path) == []

    await run(wctx, t0 + timedelta(seconds=61))  # the lease ran out: taken over
    [row] = await deliveries(wctx, str(who.tenant_id))
    assert row.status == "delivered" and len(receiver.got(path)) == 1
    late = {"b_id": row.id, "b_token": "dead1", "v_status": "dead", "v_attempts": 9}
    late.update(v_url="x", v_next=None, v_first=None, v_last=None, v_code=None, v_error="late")
    late.update(v_delivered=None)
    async with wctx.db.session() as session:
        await repo.record_outcomes(session, [late])
    [row] = await deliveries(wctx, str(who.tenant_id))
    assert row.status == "delivered" and row.attempts == 1


async def test_enqueue_wakes_the_worker_only_when_committed(
    client: httpx.AsyncClient, ctx: AppContext, wctx: AppContext
) -> None:
    @dataclass
    class FakeWorker:
        wake: asyncio.Event

    worker = FakeWorker(asyncio.Event())
    wctx.caches["worker"] = worker
    who = await make_tenant(ctx)
    await create(client, who, f"{NOWHERE}/w", ["*"])
    with pytest.raises(RuntimeError):
        async with wctx.db.session() as session:
            await service.enqueue(
                session, ctx=wctx, tenant_id=str(who.tenant_id), event="message.sent", payload={}
            )
            raise RuntimeError
    assert not worker.wake.is_set()
    await enqueue(wctx, str(who.tenant_id))
    assert worker.wake.is_set()


async def test_a_secret_that_cannot_be_decrypted_dead_letters_instead_of_blocking(
    client: httpx.AsyncClient, ctx: AppContext, wctx: AppContext, receiver: Receiver
) -> None:
    from hongyan.kit.crypto import SecretBox

    who = await make_tenant(ctx)
    path = receiver.path("rekeyed")
    await create(client, who, receiver.url(path), ["*"])
    await enqueue(wctx, str(who.tenant_id))
    rekeyed = AppContext(
        settings=wctx.settings, db=ctx.db, box=SecretBox(b"another-key"), auth=ctx.auth
    )
    try:
        await run(rekeyed)
    finally:
        await tasks.stop(rekeyed)
    [row] = await deliveries(wctx, str(who.tenant_id))
    assert row.status == "dead" and "cannot be decrypted" in (row.last_error or "")
    assert receiver.got(path) == []


async def test_two_tenants_on_one_callback_url_each_sign_with_their_own_secret(
    client: httpx.AsyncClient, ctx: AppContext, wctx: AppContext, receiver: Receiver
) -> None:
    path = receiver.path("shared")
    first, second = await make_tenant(ctx), await make_tenant(ctx)
    await enqueue(wctx, str(first.tenant_id), "message.sent", callback_url=receiver.url(path))
    await enqueue(wctx, str(second.tenant_id), "message.sent", callback_url=receiver.url(path))
    await run(wctx)  # one batch, one URL
    secrets_of = [
        (await client.get("/v1/webhooks/secret", headers=who.basic)).json()["secret"]
        for who in (first, second)
    ]
    got = receiver.got(path)
    assert len(got) == 2
    for request in got:
        header = request.headers["Hongyan-Signature"]
        matching = [s for s in secrets_of if verify_signature(s, header, request.body)]
        assert len(matching) == 1
    assert {
        tuple(verify_signature(s, r.headers["Hongyan-Signature"], r.body) for s in secrets_of)
        for r in got
    } == {(True, False), (False, True)}
