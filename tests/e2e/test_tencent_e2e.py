"""Tencent Cloud SMS through `hongyan run`, the vendor played by its local fake: a message
sent, its receipt pulled (PullSmsSendStatus, no push configured), and a reply (MO) pushed to
the reply callback ending up as the tenant's inbound message."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.vendor_kit import Hongyan, start_hongyan, stop_hongyan, wait_for
from tests.fakes import tencent as tencent_fake

TOKEN = "tencent-e2e-callback-token-0123456789"


@pytest.fixture
def hongyan(tmp_path: Path) -> Iterator[Hongyan]:
    running = start_hongyan(tmp_path)
    try:
        yield running
    finally:
        stop_hongyan(running)


def test_send_receipt_by_pull_and_reply(hongyan: Hongyan) -> None:
    fake = tencent_fake.FakeTencent()
    number = f"+86139{secrets.randbelow(10**5):05d}555"
    with tencent_fake.serving(fake) as url:
        settings = {
            **tencent_fake.CONTRACT_SETTINGS,
            "endpoint": url,
            "default_sign": hongyan.sign,
            "poll_receipts": True,
            "poll_interval_secs": 0.2,
            "callback_token": TOKEN,
        }
        connector_id = hongyan.connector("tencent", "tencent", settings)
        hongyan.only_these_routes()
        hongyan.route("tencent-all", connector_id, priority=10)

        message_id = hongyan.send(number, "您的订单已发货")
        [message] = hongyan.wait_final([message_id]).values()
        assert (message["status"], message["raw_code"]) == ("delivered", "DELIVRD")
        assert message["connector_id"] == connector_id
        [sent] = fake.sent
        assert (sent.phone, sent.template_id, sent.params) == (number, "100009", ["您的订单已发货"])
        assert any(c.action == "PullSmsSendStatus" for c in fake.calls)

        answer = asyncio.run(_reply(hongyan, connector_id, number))
        assert answer.status_code == 200 and answer.json() == {"result": 0, "errmsg": "OK"}

    def replied() -> bool:
        found = httpx.get(f"{hongyan.base}/v1/inbound", auth=hongyan.tenant).json()["data"]
        return [(i["msisdn"], i["text"], i["in_reply_to"]) for i in found] == [
            (number, "收到,谢谢", message_id)
        ]

    wait_for(replied, 10)


async def _reply(hongyan: Hongyan, connector_id: str, number: str) -> httpx.Response:
    url = f"{hongyan.base}/callbacks/tencent/{connector_id}/inbound?token={TOKEN}"
    async with httpx.AsyncClient() as client:
        return await tencent_fake.FakeTencent.push_mo(
            client, url, mobile=number[3:], text="收到,谢谢", sign=hongyan.sign
        )
