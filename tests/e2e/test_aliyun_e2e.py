"""Aliyun SMS end to end through `hongyan run`, the vendor played by its local fake.

The operator adds an aliyun connector (template_map for the tenant's template) and a route to
it; the tenant sends a template message; the fake pushes the receipt to Hongyan's callback URL
and the message ends delivered; a handset's reply (SmsUp) arrives as an inbound message; with
``poll_receipts`` on, a message whose receipt is never pushed is delivered by polling.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.vendor_kit import Hongyan, start_hongyan, stop_hongyan, wait_for
from tests.fakes.aliyun import FakeAliyun, connector_settings, serving
from tests.senders import COMPANY

TOKEN = "aliyun-e2e-callback-token-0123456789"
CONTENT = "您的订单${order}已发货,请注意查收。"
VENDOR_TEMPLATE = "SMS_270000001"


@pytest.fixture
def hongyan(tmp_path: Path) -> Iterator[Hongyan]:
    running = start_hongyan(tmp_path)
    try:
        yield running
    finally:
        stop_hongyan(running)


@pytest.fixture
def fake(hongyan: Hongyan) -> Iterator[tuple[FakeAliyun, str]]:
    vendor = FakeAliyun(signs={hongyan.sign}, templates={VENDOR_TEMPLATE: CONTENT})
    with serving(vendor) as url:
        yield vendor, url


def _tenant(hongyan: Hongyan, method: str, path: str, **kwargs: Any) -> Any:
    answer = httpx.request(method, hongyan.base + path, auth=hongyan.tenant, **kwargs)
    assert answer.status_code < 300, answer.text
    return answer.json()


def _approved_template(hongyan: Hongyan) -> str:
    """A notification template of the demo tenant, approved by the operator; its id."""
    _tenant(hongyan, "POST", "/v1/tenant/verification", json=COMPANY)
    tenant_id = _tenant(hongyan, "GET", "/v1/tenant")["id"]
    hongyan.admin("POST", f"/v1/admin/tenants/{tenant_id}/verification/approve")
    body = {"kind": "notification", "name": "order shipped", "content": CONTENT}
    template_id = str(_tenant(hongyan, "POST", "/v1/templates", json=body)["id"])
    reviews = hongyan.admin("GET", "/v1/admin/reviews", params={"subject_id": template_id})
    for review in reviews["data"]:
        hongyan.admin("POST", f"/v1/admin/reviews/{review['id']}/approve")
    return template_id


def _send(hongyan: Hongyan, to: str, template_id: str) -> str:
    body = {"to": to, "sign": hongyan.sign, "template": template_id, "params": {"order": "A1"}}
    return str(_tenant(hongyan, "POST", "/v1/messages", json=body)["id"])


def _status(hongyan: Hongyan, message_id: str) -> str:
    return str(hongyan.message(message_id)["status"])


def test_send_receipt_by_push_and_by_poll_and_inbound(
    hongyan: Hongyan, fake: tuple[FakeAliyun, str]
) -> None:
    vendor, url = fake
    template_id = _approved_template(hongyan)
    settings = connector_settings(
        url, vendor, template_map={template_id: VENDOR_TEMPLATE}, callback_token=TOKEN
    )
    connector_id = hongyan.connector("aliyun-main", "aliyun", settings)
    hongyan.only_these_routes()
    hongyan.route("to-aliyun", connector_id, priority=10)
    callbacks = f"{hongyan.base}/callbacks/aliyun/{connector_id}"

    # Sent through the vendor, delivered by the pushed receipt.
    number = f"+86139{secrets.randbelow(10**6):06d}77"
    pushed = _send(hongyan, number, template_id)
    wait_for(lambda: _status(hongyan, pushed) == "sent")
    [sms] = vendor.sent
    assert (sms.phone, sms.sign, sms.template, sms.params) == (
        number[3:],
        hongyan.sign,
        VENDOR_TEMPLATE,
        {"order": "A1"},
    )
    refused = vendor.push_receipts_sync(f"{callbacks}/receipts?token=not-the-token-at-all")
    assert refused.status_code == 403 and _status(hongyan, pushed) == "sent"
    answer = vendor.push_receipts_sync(f"{callbacks}/receipts?token={TOKEN}")
    assert answer.status_code == 200 and answer.json() == {"code": 0, "msg": "成功"}
    message = hongyan.message(pushed)
    assert (message["status"], message["raw_code"]) == ("delivered", "DELIVERED")

    # The handset replies: an inbound message of the tenant that messaged it.
    body = vendor.inbound_body(number[3:], "收到,谢谢", dest_code="01", sign_name=hongyan.sign)
    assert httpx.post(f"{callbacks}/inbound?token={TOKEN}", json=body).json()["code"] == 0
    inbound = _tenant(hongyan, "GET", "/v1/inbound")["data"]
    assert [(m["msisdn"], m["text"], m["in_reply_to"]) for m in inbound] == [
        (number, "收到,谢谢", pushed)
    ]

    # No push this time: with poll_receipts on, the connector asks QuerySendDetails.
    patch = {"settings": {"poll_receipts": True, "poll_interval_secs": 0.2}}
    hongyan.admin("PATCH", f"/v1/admin/connectors/{connector_id}", json=patch)
    polled = _send(hongyan, f"+86139{secrets.randbelow(10**6):06d}78", template_id)
    wait_for(lambda: _status(hongyan, polled) == "delivered")
    assert vendor.count("QuerySendDetails", accepted=True) >= 1
    assert not any(s.pushed for s in vendor.sent[1:])  # delivered without a push
