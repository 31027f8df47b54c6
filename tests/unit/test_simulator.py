"""The simulator connector: its rules, receipts, batching, inbound, and settings checks."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from hongyan import errors
from hongyan.connectors import registry, simulator
from hongyan.connectors.base import (
    OutboundSms,
    PermanentSendError,
    Receipt,
    RetryableSendError,
    SendResult,
)
from hongyan.connectors.simulator import SimulatorConnector
from tests.sinks import Collector as KeepingSinks


class Collector(KeepingSinks):
    """Sinks that keep what they are given, count receipt calls and can fail the first ones."""

    def __init__(self, *, fail_first: int = 0) -> None:
        super().__init__()
        self.calls = 0
        self.fail_first = fail_first

    async def on_receipts(self, items: Sequence[Receipt]) -> None:
        self.calls += 1
        if self.calls <= self.fail_first:
            raise ConnectionError("sink down")
        await super().on_receipts(items)


def sms(msisdn: str, *, segments: int = 1, index: int = 0) -> OutboundSms:
    return OutboundSms(
        message_id=f"msg_{index}",
        tenant_id="ten_x",
        msisdn=msisdn,
        text="【鸿雁】您的验证码是 123456",
        encoding="ucs2",
        segments=segments,
        kind="verification",
        region="CN",
    )


async def started(collector: Collector, **settings: Any) -> SimulatorConnector:
    settings.setdefault("receipt_delay_ms", 0)
    connector = SimulatorConnector("con_sim", settings)
    await connector.start(collector.sinks)
    return connector


async def wait_for(predicate: Any, within_secs: float = 5.0) -> None:
    """Poll until predicate() is true; fail after a bound (not a timing assertion)."""
    deadline = asyncio.get_running_loop().time() + within_secs
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.005)


CASES = [
    # number, result type, code, receipt status (None: no receipt)
    ("+8613800000001", SendResult, None, "undelivered"),
    ("+8613800000002", PermanentSendError, "REJECTED_BY_CARRIER", None),
    ("+8613800000003", RetryableSendError, "CONNECTOR_UNAVAILABLE", None),
    ("+8613800000004", SendResult, None, "expired"),
    ("+8613800000005", RetryableSendError, "SUBMIT_TIMEOUT", None),
    ("+8613800000006", SendResult, None, None),
    ("+8613800138000", SendResult, None, "delivered"),
]


@pytest.mark.parametrize(("msisdn", "kind", "code", "receipt"), CASES)
async def test_default_rules(
    msisdn: str, kind: type, code: str | None, receipt: str | None
) -> None:
    collector = Collector()
    connector = await started(collector)
    [result] = await connector.send([sms(msisdn)])
    assert isinstance(result, kind)
    if code is not None:
        assert getattr(result, "code", None) == code
        assert getattr(result, "raw_code", "").startswith("SIM_")
    if receipt is None:
        await asyncio.sleep(0.02)
        assert collector.receipts == []
    else:
        await wait_for(lambda: collector.receipts)
        [got] = collector.receipts
        assert isinstance(result, SendResult) and got.upstream_id == result.upstream_ids[0]
        assert got.status == receipt and got.connector_id == "con_sim"
        assert got.raw_code is not None and got.raw_code.startswith("SIM_")
        expected = {"undelivered": "UNDELIVERABLE", "expired": "DELIVERY_EXPIRED"}.get(receipt)
        assert got.error_code == expected
    await connector.close()


async def test_one_upstream_id_and_one_receipt_per_segment() -> None:
    collector = Collector()
    connector = await started(collector)
    [result] = await connector.send([sms("+8613800138000", segments=3)])
    assert isinstance(result, SendResult) and result.raw_code == "SIM_ACCEPTD"
    assert len(result.upstream_ids) == len(set(result.upstream_ids)) == 3
    assert all(uid.startswith("sim-") for uid in result.upstream_ids)
    await wait_for(lambda: len(collector.receipts) == 3)
    assert {r.upstream_id for r in collector.receipts} == set(result.upstream_ids)
    await connector.close()


async def test_receipts_wait_for_their_delay_and_come_in_one_batch() -> None:
    collector = Collector()
    connector = await started(collector, receipt_delay_ms=50)
    tasks_before = len(asyncio.all_tasks())
    results = await connector.send([sms(f"+8613800{i:04d}99", index=i) for i in range(100)])
    assert all(isinstance(r, SendResult) for r in results)
    # One timer for the batch, not a task per message; nothing delivered before the delay.
    assert len(asyncio.all_tasks()) == tasks_before
    assert collector.receipts == [] and connector.pending_receipts() == 100
    await wait_for(lambda: len(collector.receipts) == 100)
    assert collector.calls == 1
    assert connector.accepted == 100 and connector.pending_receipts() == 0
    await connector.close()


async def test_a_failing_sink_gets_the_receipts_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(simulator, "_SINK_RETRY_SECS", 0.01)
    collector = Collector(fail_first=2)
    connector = await started(collector)
    [result] = await connector.send([sms("+8613800138000")])
    await wait_for(lambda: len(collector.receipts) == 1)
    assert isinstance(result, SendResult)
    assert collector.calls == 3 and collector.receipts[0].upstream_id == result.upstream_ids[0]
    await connector.close()


async def test_close_hands_over_pending_receipts_and_is_idempotent() -> None:
    collector = Collector()
    connector = await started(collector, receipt_delay_ms=3_600_000)
    await connector.send([sms("+8613800138000"), sms("+8613800000001", index=1)])
    assert collector.receipts == []
    await connector.close()
    assert sorted(r.status for r in collector.receipts) == ["delivered", "undelivered"]
    await connector.close()
    with pytest.raises(RetryableSendError):
        await connector.send([sms("+8613800138000")])


async def test_failure_percent_down_and_seed() -> None:
    collector = Collector()
    always = await started(collector, failure_percent=100)
    results = await always.send([sms("+8613800138000", index=i) for i in range(10)])
    assert all(isinstance(r, RetryableSendError) for r in results)
    down = await started(collector, down=True)
    with pytest.raises(RetryableSendError) as raised:
        await down.send([sms("+8613800138000")])
    assert raised.value.raw_code == "SIM_DOWN"
    batch = [sms(f"+8613800{i:04d}99", index=i) for i in range(50)]
    first = await started(collector, failure_percent=50, seed=7)
    second = await started(collector, failure_percent=50, seed=7)
    kinds = [[type(r) for r in await c.send(batch)] for c in (first, second)]
    assert kinds[0] == kinds[1] and len(set(kinds[0])) == 2  # repeatable, and mixed
    for connector in (always, down, first, second):
        await connector.close()


async def test_custom_rules_regex_prefix_percent_and_code() -> None:
    collector = Collector()
    rules = [
        {"pattern": "^\\+1", "match": "regex", "outcome": "rejected", "error_code": "BLOCKED_US"},
        {"pattern": "+44", "match": "prefix", "outcome": "undelivered", "percent": 0},
        {"pattern": "+44", "match": "prefix", "outcome": "retryable_error"},
    ]
    connector = await started(collector, rules=rules)
    us, uk, cn = await connector.send(
        [sms("+12025550100"), sms("+447700900123", index=1), sms("+8613800000001", index=2)]
    )
    assert isinstance(us, PermanentSendError) and us.code == "BLOCKED_US"
    assert isinstance(uk, RetryableSendError)  # the 0% rule never applies; the next one does
    assert isinstance(cn, SendResult)  # custom rules replace the defaults: 0001 delivers
    await wait_for(lambda: collector.receipts)
    assert collector.receipts[0].status == "delivered"
    await connector.close()


async def test_emit_inbound_is_labelled_simulated() -> None:
    collector = Collector()
    connector = await started(collector)
    got = await connector.emit_inbound("+8613800138000", "TD", "1069000012345")
    assert collector.inbound == [got]
    assert (
        got.connector_id == "con_sim" and got.upstream_id and got.upstream_id.startswith("sim-mo-")
    )
    assert (got.msisdn, got.to, got.text) == ("+8613800138000", "1069000012345", "TD")
    await connector.close()


async def test_send_before_start_and_empty_batch() -> None:
    connector = SimulatorConnector("con_sim", {})
    with pytest.raises(RetryableSendError):
        await connector.send([sms("+8613800138000")])
    await connector.start(Collector().sinks)
    assert await connector.send([]) == []
    await connector.close()


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"latency_ms": -1}, "settings.latency_ms"),
        ({"failure_percent": 101}, "settings.failure_percent"),
        ({"colour": "red"}, "settings.colour"),
        (
            {"rules": [{"pattern": "(", "match": "regex", "outcome": "delivered"}]},
            "settings.rules.0",
        ),
        ({"rules": [{"pattern": "1", "outcome": "exploded"}]}, "settings.rules.0.outcome"),
    ],
)
def test_bad_settings_are_refused_with_the_setting_named(
    settings: dict[str, Any], field: str
) -> None:
    with pytest.raises(errors.HongyanError) as raised:
        registry.validate_settings("simulator", settings)
    assert raised.value.code == "CONNECTOR_SETTINGS_INVALID" and raised.value.field == field


def test_registry_defaults_kinds_and_description() -> None:
    checked = registry.validate_settings("simulator", {})
    assert checked["receipt_delay_ms"] == 1000 and len(checked["rules"]) == 6
    assert checked["rules"][0] == {
        "pattern": "0001",
        "match": "suffix",
        "outcome": "undelivered",
        "error_code": None,
        "percent": 100.0,
    }
    with pytest.raises(errors.HongyanError) as raised:
        registry.build("carrier-pigeon", "con_x", {})
    assert raised.value.code == "CONNECTOR_KIND_UNKNOWN" and "simulator" in raised.value.message()
    described = registry.describe("simulator")
    assert described["simulated"] is True and described["secret_settings"] == []
    assert "receipt_delay_ms" in described["settings_schema"]["properties"]
