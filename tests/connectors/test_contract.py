"""The contract every connector passes, whatever it talks to.

To add a connector, append a ``ContractCase`` to ``CASES``: how to build it (from the same
settings dict the registry would pass), a number its peer delivers, and, if the peer can be
made to refuse one, a number it refuses permanently. Peers must be real local servers (an SMSC
for SMPP, an HTTP server following the vendor's documented wire format), never mocks of our
own code.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import pytest

from hongyan.connectors import registry
from hongyan.connectors.base import (
    Connector,
    OutboundSms,
    PermanentSendError,
    RetryableSendError,
    SendError,
    SendResult,
)
from tests.connectors import test_smpp_connector as smpp_peer
from tests.fakes import aliyun as aliyun_fake
from tests.fakes import generic_http as generic_http_fake
from tests.fakes import tencent as tencent_fake
from tests.fakes import twilio as twilio_fake
from tests.sinks import Collector

FINAL = {"delivered", "undelivered", "expired", "rejected", "unknown"}


@dataclass
class ContractCase:
    """One connector under test."""

    name: str
    kind: str
    settings: dict[str, Any]
    deliverable: str  # E.164 number the peer accepts and reports delivered
    refused: str | None = None  # E.164 number the peer refuses permanently, if it can
    receipt_timeout_secs: float = 10.0
    # Starts the peer the connector talks to (a local SMSC, a vendor-shaped HTTP server) and
    # yields the settings pointing at it; stops it on exit. None: no peer needed.
    peer: Callable[[dict[str, Any]], AbstractAsyncContextManager[dict[str, Any]]] | None = None

    def settings_with_peer(self) -> AbstractAsyncContextManager[dict[str, Any]]:
        return self.peer(self.settings) if self.peer else nullcontext(self.settings)


CASES = [
    ContractCase(
        name="simulator",
        kind="simulator",
        settings={"receipt_delay_ms": 10},
        deliverable="+8613800138000",
        refused="+8613800000002",
    ),
    ContractCase(
        name="aliyun",
        kind="aliyun",
        settings=aliyun_fake.CONTRACT_SETTINGS,
        deliverable="+8613800138000",
        refused="+8613800000002",
        peer=aliyun_fake.contract_peer,
    ),
    ContractCase(
        name="tencent",
        kind="tencent",
        settings=tencent_fake.CONTRACT_SETTINGS,
        deliverable="+8613800138000",
        refused="+8613800000002",
        peer=tencent_fake.contract_peer,
    ),
    ContractCase(
        name="twilio",
        kind="twilio",
        settings=twilio_fake.CONTRACT_SETTINGS,
        deliverable="+14155550123",
        refused="+14155521614",
        peer=twilio_fake.contract_peer,
    ),
    ContractCase(
        name="http",
        kind="http",
        settings=generic_http_fake.CONTRACT_SETTINGS,
        deliverable="+8613800138000",
        refused="+8613800001001",
        peer=generic_http_fake.contract_peer,
    ),
    ContractCase(
        name="smpp",
        kind="smpp",
        settings=smpp_peer.CONTRACT_SETTINGS,
        deliverable="+8613800138000",
        refused="+8613800000002",
        peer=smpp_peer.contract_peer,
    ),
]


@pytest.fixture(params=CASES, ids=[c.name for c in CASES])
def case(request: pytest.FixtureRequest) -> ContractCase:
    found: ContractCase = request.param
    return found


@pytest.fixture
async def built(case: ContractCase) -> AsyncIterator[tuple[Connector, Collector]]:
    """The connector, built through the registry and started."""
    async with case.settings_with_peer() as settings:
        connector = registry.build(case.kind, "con_contract", settings)
        collector = Collector()
        await connector.start(collector.sinks)
        yield connector, collector
        await connector.close()


def message(msisdn: str, index: int, segments: int = 1) -> OutboundSms:
    return OutboundSms(
        message_id=f"msg_contract_{index}",
        tenant_id="ten_contract",
        msisdn=msisdn,
        text="Hongyan contract test " * segments,
        encoding="gsm7",
        segments=segments,
        kind="notification",
        region="CN",
    )


async def until(predicate: Callable[[], bool], within_secs: float) -> None:
    deadline = asyncio.get_running_loop().time() + within_secs
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out waiting"
        await asyncio.sleep(0.01)


def test_declares_its_kind_and_limits(case: ContractCase) -> None:
    cls: Any = registry.factory(case.kind)
    assert cls.kind == case.kind and registry.REGISTRY[case.kind] is cls
    assert isinstance(cls.max_segments, int) and cls.max_segments >= 1
    assert cls.rate_per_sec is None or cls.rate_per_sec > 0
    assert registry.settings_model(case.kind) is not None
    assert registry.secret_keys(case.kind) <= set(registry.settings_model(case.kind).model_fields)


async def test_is_a_connector(built: tuple[Connector, Collector]) -> None:
    connector, _ = built
    assert isinstance(connector, Connector) and connector.id == "con_contract"


async def test_send_returns_one_entry_per_message_in_order(
    case: ContractCase, built: tuple[Connector, Collector]
) -> None:
    connector, _ = built
    numbers = [case.deliverable] * 3 + ([case.refused] if case.refused else [])
    results = await connector.send([message(n, i) for i, n in enumerate(numbers)])
    assert len(results) == len(numbers)
    assert all(isinstance(r, SendResult) for r in results[:3])
    if case.refused:
        assert isinstance(results[3], PermanentSendError) and results[3].code
    assert await connector.send([]) == []


async def test_upstream_ids_are_unique_one_per_part_or_per_message(
    case: ContractCase, built: tuple[Connector, Collector]
) -> None:
    connector, _ = built
    results = await connector.send(
        [message(case.deliverable, 0), message(case.deliverable, 1, segments=3)]
    )
    ids = [uid for r in results if isinstance(r, SendResult) for uid in r.upstream_ids]
    assert len(ids) == len(set(ids)) and all(ids)
    assert isinstance(results[1], SendResult) and len(results[1].upstream_ids) in (1, 3)


async def test_receipts_arrive_for_sent_messages_with_their_upstream_ids(
    case: ContractCase, built: tuple[Connector, Collector]
) -> None:
    connector, collector = built
    results = await connector.send([message(case.deliverable, i) for i in range(5)])
    sent = {uid for r in results if isinstance(r, SendResult) for uid in r.upstream_ids}
    assert len(sent) >= 5
    await until(
        lambda: sent <= {r.upstream_id for r in collector.receipts}, case.receipt_timeout_secs
    )
    for receipt in collector.receipts:
        assert receipt.connector_id == connector.id and receipt.upstream_id in sent
    finals = [r for r in collector.receipts if r.status in FINAL]
    assert {r.upstream_id for r in finals} == sent
    assert all(r.status == "delivered" for r in finals)


async def test_close_is_idempotent_and_stops_sending(
    case: ContractCase, built: tuple[Connector, Collector]
) -> None:
    connector, _ = built
    await connector.close()
    await connector.close()
    try:
        results: list[SendResult | SendError] = await connector.send([message(case.deliverable, 0)])
    except RetryableSendError:
        return  # refusing the whole batch is the documented way
    assert all(isinstance(r, RetryableSendError) for r in results)


async def test_close_without_start(case: ContractCase) -> None:
    async with case.settings_with_peer() as settings:
        connector = registry.build(case.kind, "con_contract", settings)
        await connector.close()
        await connector.close()
