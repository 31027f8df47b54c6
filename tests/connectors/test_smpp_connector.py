"""The SMPP connector against a real SMSC: the server of ``smpp34`` (Rust-backed codec).

``SmscPeer`` drives smpp34's server: it decides each submit_sm with a policy (a message id to
accept, a command_status to refuse, None to leave it unanswered) and, if asked, sends a receipt
for every accepted one. It also serves the shared contract suite (``contract_peer``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import pytest

from hongyan.connectors import registry
from hongyan.connectors.base import (
    OutboundSms,
    PermanentSendError,
    Receipt,
    RetryableSendError,
    SendError,
    SendResult,
)
from hongyan.connectors.smpp import SmppConnector, normalize_id
from hongyan.kit.segments import analyze
from tests.sinks import Collector as KeepingSinks
from tests.smpp.peers import Proxy, eventually

smpp34 = pytest.importorskip("smpp34")

Policy = Callable[[Any, int], "str | int | None"]  # (event, n) -> id, status, or hold


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def accept_all(event: Any, n: int) -> str | int | None:
    if event.destination_addr.endswith("0002"):
        return int(smpp34.ESME_RINVDSTADR)
    return f"{n:x}"  # hex ids, as most SMSCs


class SmscPeer:
    """smpp34's server as the carrier's SMSC, driven by one task."""

    def __init__(self, policy: Policy = accept_all, *, receipts: bool = False) -> None:
        self.port = _free_port()
        self.server = smpp34.Server(host="127.0.0.1", port=self.port, system_id="SMSC")
        self.policy = policy
        self.receipts = receipts
        self.esmes: list[Any] = []
        self.submits: list[Any] = []
        self.held: list[Any] = []
        self.unbound = 0
        self._tasks: set[asyncio.Future[Any]] = set()
        self._driver: asyncio.Task[None] | None = None

    async def __aenter__(self) -> SmscPeer:
        await self.server.start()
        self._driver = asyncio.ensure_future(self._drive())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._driver is not None
        self._driver.cancel()
        for task in self._tasks:
            task.cancel()
        await self.server.stop()

    async def _drive(self) -> None:
        while True:
            event = await self.server.next()
            if isinstance(event, smpp34.Esme):
                self.esmes.append(event)
            elif isinstance(event, smpp34.Unbound):
                self.unbound += 1
            elif isinstance(event, smpp34.SubmitSmEvent):
                self.submits.append(event)
                decision = self.policy(event, len(self.submits))
                if decision is None:
                    self.held.append(event)
                elif isinstance(decision, str):
                    event.accept(decision)
                    if self.receipts:
                        self._spawn(self.receipt(decision, event.destination_addr))
                else:
                    event.reject(decision)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def receipt(self, message_id: str, msisdn: str, *, tlv: bool = False) -> Any:
        """Send a receipt on the latest bind; returns the deliver_sm_resp."""
        text = (
            f"id:{'' if tlv else message_id} sub:001 dlvrd:001 submit date:2401021530"
            f" done date:2401021531 stat:DELIVRD err:000 text:hello"
        ).encode()
        tlvs = (
            [
                smpp34.Tlv(smpp34.TLV_RECEIPTED_MESSAGE_ID, message_id.encode() + b"\x00"),
                smpp34.Tlv(smpp34.TLV_MESSAGE_STATE, b"\x02"),
            ]
            if tlv
            else []
        )
        return await self.esmes[-1].deliver_sm(
            "Hongyan", text, source_addr=msisdn, esm_class=0x04, tlvs=tlvs
        )


class Collector(KeepingSinks):
    def __init__(self) -> None:
        super().__init__()
        self.gate: asyncio.Event | None = None  # set: sinks wait for it (a slow store)
        self.entered = 0

    async def on_receipts(self, items: Sequence[Receipt]) -> None:
        self.entered += 1
        if self.gate is not None:
            await self.gate.wait()
        await super().on_receipts(items)


def settings(port: int, **extra: Any) -> dict[str, Any]:
    return {"host": "127.0.0.1", "port": port, "system_id": "hongyan", "password": "pw"} | extra


@asynccontextmanager
async def started(port: int, **extra: Any) -> AsyncIterator[tuple[SmppConnector, Collector]]:
    connector = registry.build("smpp", "con_smpp", settings(port, **extra))
    assert isinstance(connector, SmppConnector)
    collector = Collector()
    await connector.start(collector.sinks)
    try:
        yield connector, collector
    finally:
        await connector.close()


def sms(text: str = "Your code is 123456", msisdn: str = "+8613800138000") -> OutboundSms:
    info = analyze(text)
    return OutboundSms(
        message_id="msg_1",
        tenant_id="ten_1",
        msisdn=msisdn,
        text=text,
        encoding=info.encoding.value,
        segments=info.segments,
        kind="notification",
    )


# -- the contract suite's peer ---------------------------------------------------------------

CONTRACT_SETTINGS: dict[str, Any] = {"host": "127.0.0.1", "port": 1, "system_id": "hongyan"} | {
    "password": "pw"
}


@asynccontextmanager
async def contract_peer(base: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
    """An SMSC that accepts, refuses numbers ending in 0002 and sends a receipt for each."""
    async with SmscPeer(receipts=True) as peer:
        yield base | {"port": peer.port}


# -- tests ------------------------------------------------------------------------------------


async def test_single_message_submitted_with_receipt_asked() -> None:
    async with SmscPeer() as peer, started(peer.port, source_addr="Hongyan") as (connector, _):
        [result] = await connector.send([sms()])
        assert isinstance(result, SendResult) and result.upstream_ids == ("1",)
        [event] = peer.submits
        assert (event.destination_addr, event.dest_addr_ton, event.dest_addr_npi) == (
            "8613800138000",
            1,
            1,
        )
        assert (event.source_addr, event.registered_delivery, event.data_coding) == (
            "Hongyan",
            1,
            0,
        )
        assert event.short_message == b"Your code is 123456" and event.esm_class == 0


@pytest.mark.parametrize("method", ["udh8", "udh16", "sar"])
async def test_long_message_one_submit_and_one_id_per_part(method: str) -> None:
    text = "鸿雁传书，" * 30  # 150 UCS-2 characters: 3 parts
    async with SmscPeer() as peer, started(peer.port, long_messages=method) as (connector, _):
        [result] = await connector.send([sms(text)])
        assert isinstance(result, SendResult) and len(result.upstream_ids) == 3
        assert len(set(result.upstream_ids)) == 3
        events = sorted(peer.submits, key=lambda e: e.short_message if method != "sar" else 0)
        assert all(e.data_coding == 8 for e in events)
        if method == "sar":
            seqs = sorted(next(t.value for t in e.tlvs if t.tag == 0x020F) for e in events)
            assert seqs == [b"\x01", b"\x02", b"\x03"]
            rebuilt = {
                next(t.value for t in e.tlvs if t.tag == 0x020F): e.short_message for e in events
            }
            assert b"".join(rebuilt[k] for k in sorted(rebuilt)).decode("utf-16-be") == text
            return
        udh_len = 6 if method == "udh8" else 7
        assert all(e.esm_class == 0x40 for e in events)
        by_seq = {e.short_message[udh_len - 1]: e.short_message[udh_len:] for e in events}
        assert b"".join(by_seq[k] for k in sorted(by_seq)).decode("utf-16-be") == text


async def test_long_message_as_one_payload() -> None:
    text = "Hongyan " * 40
    async with SmscPeer() as peer, started(peer.port, long_messages="payload") as (connector, _):
        [result] = await connector.send([sms(text)])
        assert isinstance(result, SendResult) and len(result.upstream_ids) == 1
        [event] = peer.submits
        assert event.tlvs[0].tag == 0x0424 and event.tlvs[0].value == text.encode()


async def test_receipt_is_acknowledged_only_after_the_sink_stored_it() -> None:
    async with SmscPeer() as peer, started(peer.port) as (connector, collector):
        [result] = await connector.send([sms()])
        assert isinstance(result, SendResult)
        collector.gate = asyncio.Event()
        resp = asyncio.ensure_future(peer.receipt(result.upstream_ids[0], "8613800138000"))
        await eventually(lambda: collector.entered == 1)
        await asyncio.sleep(0.05)
        assert not resp.done()  # the sink is still storing: no deliver_sm_resp yet
        collector.gate.set()
        assert (await asyncio.wait_for(resp, 5)).is_success
        [receipt] = collector.receipts
        assert (receipt.upstream_id, receipt.status, receipt.raw_code) == (
            "1",
            "delivered",
            "DELIVRD",
        )
        assert receipt.connector_id == "con_smpp" and receipt.done_at is not None


async def test_receipt_in_tlvs_and_ids_normalized_from_hex_to_decimal() -> None:
    async with (
        SmscPeer(lambda e, n: "1F") as peer,
        started(peer.port, submit_id_format="hex", receipt_id_format="dec") as (connector, got),
    ):
        [result] = await connector.send([sms()])
        assert isinstance(result, SendResult) and result.upstream_ids == ("31",)
        assert (await peer.receipt("031", "8613800138000", tlv=True)).is_success
        await eventually(lambda: len(got.receipts) == 1)
        assert got.receipts[0].upstream_id == "31"
    assert normalize_id("0A", "hex", "hex") == "a" and normalize_id("x-1", "dec", "hex") == "x-1"


async def test_throttled_then_accepted() -> None:
    def throttle_twice(event: Any, n: int) -> str | int:
        return int(smpp34.ESME_RTHROTTLED) if n <= 2 else "ok"

    async with (
        SmscPeer(throttle_twice) as peer,
        started(peer.port, throttle_backoff_secs=0.01) as (connector, _),
    ):
        [result] = await connector.send([sms()])
        assert isinstance(result, SendResult) and result.upstream_ids == ("ok",)
        assert len(peer.submits) == 3


async def test_throttled_for_good_is_retryable_and_bounded() -> None:
    async with (
        SmscPeer(lambda e, n: int(smpp34.ESME_RMSGQFUL)) as peer,
        started(peer.port, throttle_backoff_secs=0.001, throttle_retries=2) as (connector, _),
    ):
        [result] = await connector.send([sms()])
        assert isinstance(result, RetryableSendError) and result.raw_code == "ESME_RMSGQFUL"
        assert len(peer.submits) == 3


async def test_refused_number_is_permanent_with_the_status_name() -> None:
    async with SmscPeer() as peer, started(peer.port) as (connector, _):
        results = await connector.send([sms(msisdn="+8613800000002"), sms()])
        assert isinstance(results[0], PermanentSendError)
        assert (results[0].code, results[0].raw_code) == ("NUMBER_INVALID", "ESME_RINVDSTADR")
        assert isinstance(results[1], SendResult)


async def test_no_answer_in_time_means_outcome_unknown() -> None:
    async with (
        SmscPeer(lambda e, n: None) as peer,
        started(peer.port, response_timeout_secs=0.2) as (connector, _),
    ):
        [result] = await connector.send([sms()])
        assert type(result) is SendError and result.code == "SUBMIT_OUTCOME_UNKNOWN"
        assert len(peer.held) == 1


async def test_not_bound_is_retryable_so_routing_fails_over() -> None:
    connector = registry.build("smpp", "con_smpp", settings(_free_port(), connect_timeout_secs=1))
    await connector.start(Collector().sinks)  # the SMSC is down: start does not raise
    with pytest.raises(RetryableSendError) as failed:
        await connector.send([sms()])
    assert failed.value.code == "CONNECTOR_UNAVAILABLE"
    await connector.close()


async def test_reconnects_and_rebinds_after_a_drop() -> None:
    async with SmscPeer() as peer:
        proxy = await Proxy(peer.port).start()
        async with started(proxy.port, reconnect_min_secs=0.05) as (connector, collector):
            assert isinstance((await connector.send([sms()]))[0], SendResult)
            proxy.cut()
            await eventually(lambda: connector.binds == 2)
            [result] = await connector.send([sms()])
            assert isinstance(result, SendResult)
            assert (await peer.receipt(result.upstream_ids[0], "8613800138000")).is_success
            await eventually(lambda: len(collector.receipts) == 1)
        await proxy.stop()


async def test_mo_message_reaches_the_inbound_sink() -> None:
    async with SmscPeer() as peer, started(peer.port) as (_, collector):
        await eventually(lambda: len(peer.esmes) == 1)
        resp = await peer.esmes[0].deliver_sm(
            "106900001234",
            "退订".encode("utf-16-be"),
            source_addr="8613800138000",
            source_addr_ton=1,
            data_coding=8,
        )
        assert resp.is_success
        [mo] = collector.inbound
        assert (mo.msisdn, mo.to, mo.text) == ("+8613800138000", "106900001234", "退订")


async def test_close_unbinds_gracefully() -> None:
    async with SmscPeer() as peer:
        async with started(peer.port):
            await eventually(lambda: len(peer.esmes) == 1)
        await eventually(lambda: peer.unbound == 1)


def test_settings_declare_the_password_secret_and_check_the_bind_mode() -> None:
    assert registry.secret_keys("smpp") == {"password"}
    with pytest.raises(Exception, match="bind_mode"):
        registry.validate_settings("smpp", settings(2775, bind_mode="transmitter"))
    checked = registry.validate_settings("smpp", settings(2775))
    assert (checked["window"], checked["long_messages"], checked["tls"]) == (10, "udh8", False)


async def test_a_field_that_does_not_fit_fails_only_its_message() -> None:
    async with SmscPeer() as peer, started(peer.port) as (connector, _):
        too_long = dataclasses.replace(sms(), sender="x" * 30)
        results = await connector.send([too_long, sms()])
        assert isinstance(results[0], PermanentSendError) and results[0].raw_code == "PDU_ENCODE"
        assert isinstance(results[1], SendResult) and len(peer.submits) == 1
