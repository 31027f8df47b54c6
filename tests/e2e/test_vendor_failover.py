"""Failover between vendors through `hongyan run`: Aliyun first, Tencent second, on one route
table, both vendors played by their local fakes (tests/fakes).

- Aliyun refuses a number permanently: the message fails there, and Tencent never sees it.
- Aliyun answers a retryable error, then times out: every message goes out through Tencent,
  exactly once (counted at both fakes), and ends delivered by Tencent's pushed receipts.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.vendor_kit import Hongyan, start_hongyan, stop_hongyan
from tests.fakes import aliyun as aliyun_fake
from tests.fakes import tencent as tencent_fake

TOKEN = "failover-callback-token-0123456789"


def _numbers(count: int) -> list[str]:
    """Mainland numbers neither fake has a rule for (their rules look at endings 0001-0008)."""
    return [f"+86139{secrets.randbelow(10**5):05d}{i}55" for i in range(count)]


def _digits(number: str) -> str:
    return "".join(ch for ch in number if ch.isdigit())[-11:]


def _aliyun_codes(aliyun: aliyun_fake.FakeAliyun) -> list[str]:
    return [c.code for c in aliyun.calls if c.action == "SendSms"]


@pytest.fixture
def fakes() -> Iterator[tuple[aliyun_fake.FakeAliyun, str, tencent_fake.FakeTencent, str]]:
    aliyun = aliyun_fake.FakeAliyun()
    tencent = tencent_fake.FakeTencent()
    with aliyun_fake.serving(aliyun) as aliyun_url, tencent_fake.serving(tencent) as tencent_url:
        yield aliyun, aliyun_url, tencent, tencent_url
        aliyun.mode = "error:isp.SYSTEM_ERROR"  # requests still held: refused when released


@pytest.fixture
def hongyan(tmp_path: Path) -> Iterator[Hongyan]:
    running = start_hongyan(tmp_path)
    try:
        yield running
    finally:
        stop_hongyan(running)


def test_aliyun_fails_over_to_tencent_exactly_once(
    hongyan: Hongyan,
    fakes: tuple[aliyun_fake.FakeAliyun, str, tencent_fake.FakeTencent, str],
) -> None:
    aliyun, aliyun_url, tencent, tencent_url = fakes
    first = hongyan.connector(
        "aliyun-first",
        "aliyun",
        aliyun_fake.connector_settings(
            aliyun_url,
            aliyun,
            default_sign=hongyan.sign,
            free_text_template="SMS_900001",
            timeout_secs=1,
        ),
    )
    second = hongyan.connector(
        "tencent-second",
        "tencent",
        {
            **tencent_fake.CONTRACT_SETTINGS,
            "endpoint": tencent_url,
            "poll_receipts": False,
            "callback_token": TOKEN,
        },
    )
    tencent.receipt_url = f"{hongyan.base}/callbacks/tencent/{second}/receipts?token={TOKEN}"
    hongyan.only_these_routes()
    hongyan.route("vendors-aliyun", first, priority=10)
    hongyan.route("vendors-tencent", second, priority=20)

    # A permanent refusal at the first vendor is final: not retried elsewhere.
    refused = hongyan.send("+8613900000002")
    [message] = hongyan.wait_final([refused]).values()
    assert (message["status"], message["error"]["code"]) == ("failed", "NUMBER_INVALID")
    assert (message["connector_id"], message["raw_code"]) == (first, "isv.MOBILE_NUMBER_ILLEGAL")
    assert aliyun.count("SendSms") == 1 and tencent.send_calls() == []

    # A retryable error, then time-outs, at the first vendor: out through the second.
    numbers = _numbers(4)
    aliyun.mode = "error:isp.SYSTEM_ERROR"
    ids = [hongyan.send(n) for n in numbers[:2]]
    hongyan.wait_final(ids)
    assert _aliyun_codes(aliyun) == ["isv.MOBILE_NUMBER_ILLEGAL", *["isp.SYSTEM_ERROR"] * 2]
    aliyun.mode = "timeout"  # held until the end of the test: the connector gives up after 1 s
    ids += [hongyan.send(n) for n in numbers[2:]]
    done = hongyan.wait_final(ids)
    assert len(_aliyun_codes(aliyun)) == 5 and len(aliyun.sent) == 0  # 2 more, both held

    assert {m["status"] for m in done.values()} == {"delivered"}, done
    assert {m["connector_id"] for m in done.values()} == {second}
    sent_by_tencent = Counter(_digits(n) for n in tencent.numbers_sent())
    assert sent_by_tencent == Counter(_digits(n) for n in numbers)  # each once, nothing else
    assert not any(_digits(s.phone) in sent_by_tencent for s in aliyun.sent)
    for message_id in ids:
        history = hongyan.message(message_id)["history"]
        assert [h["status"] for h in history].count("sent") == 1
