"""Twilio through `hongyan run`, Twilio played by its local fake: messages created with Basic
auth, their signed status callbacks finishing them (delivered, undelivered), and a signed
inbound webhook ending up as the tenant's inbound message."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.vendor_kit import Hongyan, start_hongyan, stop_hongyan, wait_for
from tests.fakes import twilio as twilio_fake


@pytest.fixture
def hongyan(tmp_path: Path) -> Iterator[Hongyan]:
    running = start_hongyan(tmp_path)
    try:
        yield running
    finally:
        stop_hongyan(running)


def test_send_status_callbacks_and_reply(hongyan: Hongyan) -> None:
    fake = twilio_fake.FakeTwilio()
    fake.auto_callbacks = True  # "sent", then the final status, to each StatusCallback
    good = f"+86139{secrets.randbelow(10**5):05d}123"
    unreachable = f"+86139{secrets.randbelow(10**3):03d}30003"
    with twilio_fake.serve_in_thread(fake) as url:
        settings = {
            **twilio_fake.CONTRACT_SETTINGS,
            "base_url": url,
            "poll_receipts": False,
            "status_callback_base": hongyan.base,
        }
        connector_id = hongyan.connector("twilio", "twilio", settings)
        hongyan.only_these_routes()
        hongyan.route("twilio-all", connector_id, priority=10)

        ids = [hongyan.send(good), hongyan.send(unreachable)]
        done = hongyan.wait_final(ids)
        assert [(done[i]["status"], done[i]["raw_code"]) for i in ids] == [
            ("delivered", "delivered"),
            ("undelivered", "30003"),
        ]
        assert {done[i]["connector_id"] for i in ids} == {connector_id}
        assert sorted(m.to for m in fake.messages.values()) == sorted([good, unreachable])
        assert all(m.body.startswith(f"【{hongyan.sign}】") for m in fake.messages.values())
        assert {p.status_code for p in fake.pushed} == {204}

        inbound = f"{hongyan.base}/callbacks/twilio/{connector_id}/inbound"
        reply = asyncio.run(fake.push_inbound(inbound, sender=good, text="Thanks!"))
        forged = asyncio.run(fake.push_inbound(inbound, sender=good, text="x", token="f" * 32))
        assert (reply.status_code, forged.status_code) == (200, 403)

    def replied() -> bool:
        found = httpx.get(f"{hongyan.base}/v1/inbound", auth=hongyan.tenant).json()["data"]
        return [(i["msisdn"], i["text"], i["in_reply_to"]) for i in found] == [
            (good, "Thanks!", ids[0])
        ]

    wait_for(replied, 10)
