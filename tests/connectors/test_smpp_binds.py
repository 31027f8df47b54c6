"""The SMPP connector's binds against smpp34's SMSC: transmitter + receiver pairs, several binds
with a window each, binds opened and closed while running, one bind lost among several."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hongyan.connectors import registry
from hongyan.connectors.base import SendResult
from hongyan.connectors.smpp import SmppConnector
from hongyan.smpp import BindMode, DeliverSm, Pdu, SmppSession, SubmitSmResp
from tests.smpp.peers import PASSWORD, Proxy, Smsc, eventually

smpp34 = pytest.importorskip("smpp34")
from tests.connectors.test_smpp_connector import (  # noqa: E402
    Collector,
    SmscPeer,
    settings,
    sms,
    started,
)


def hold(event: Any, n: int) -> None:
    return None  # leave every submit unanswered (in peer.held)


async def test_transmitter_receiver_pair_submits_on_one_and_takes_receipts_on_the_other() -> None:
    # Our own SMSC here: smpp34's server answers a deliver_sm_resp on a receiver bind with
    # generic_nack, so it cannot play a receiver's SMSC.
    submitted_on: list[SmppSession] = []

    def answer(session: SmppSession, pdu: Pdu) -> Pdu | int | None:
        submitted_on.append(session)
        return SubmitSmResp(message_id="5f3a")

    smsc = await Smsc(policy=answer).start()
    try:
        extra = {"bind_mode": "transmitter_receiver", "password": PASSWORD}
        async with started(smsc.port, **extra) as (connector, collector):
            modes = {s.bound: s for s in smsc.sessions}
            assert set(modes) == {BindMode.TRANSMITTER, BindMode.RECEIVER}
            [result] = await connector.send([sms()])
            assert isinstance(result, SendResult) and result.upstream_ids == ("5f3a",)
            assert submitted_on == [modes[BindMode.TRANSMITTER]]
            text = b"id:5f3a sub:001 dlvrd:001 stat:DELIVRD err:000 text:x"
            deliver = DeliverSm(source_addr="8613800138000", esm_class=0x04, short_message=text)
            resp = await modes[BindMode.RECEIVER].request(deliver)
            assert resp.command_status == 0 and len(collector.receipts) == 1
            assert connector.bound_binds() == frozenset({0}) and connector.binds == 2
    finally:
        await smsc.stop()


async def test_submits_spread_over_the_binds_each_with_its_own_window() -> None:
    async with SmscPeer(hold) as peer, started(peer.port, binds=3, window=1) as (connector, _):
        await eventually(lambda: len(peer.esmes) == 3)
        assert connector.bound_binds() == frozenset({0, 1, 2})
        batch = [sms(msisdn=f"+861380013800{i}") for i in range(4)]
        sending = asyncio.ensure_future(connector.send(batch))
        await eventually(lambda: len(peer.held) == 3)
        # One submit per bind: each window (1) is full, the fourth waits for a slot.
        assert {e.session_id for e in peer.held} == {e.session_id for e in peer.esmes}
        assert len(peer.submits) == 3
        for event in list(peer.held):
            event.accept(event.destination_addr[-4:])  # ids name the number they answer
        await eventually(lambda: len(peer.held) == 4)
        peer.held[3].accept(peer.held[3].destination_addr[-4:])
        results = await asyncio.wait_for(sending, 5)
        assert [r.upstream_ids for r in results if isinstance(r, SendResult)] == [
            (m.msisdn[-4:],) for m in batch
        ]


async def test_binds_are_opened_and_closed_as_allowed() -> None:
    async with SmscPeer() as peer:
        connector = registry.build("smpp", "con_smpp", settings(peer.port, binds=2))
        assert isinstance(connector, SmppConnector)
        connector.allow_binds(frozenset({1}))
        changes: list[int] = []
        connector.bind_listener = lambda: changes.append(1)
        await connector.start(Collector().sinks)
        try:
            assert connector.bound_binds() == frozenset({1})
            await eventually(lambda: len(peer.esmes) == 1)
            await connector.set_binds(frozenset({0, 1}))
            await eventually(lambda: connector.bound_binds() == frozenset({0, 1}))
            assert len(peer.esmes) == 2 and changes
            await connector.set_binds(frozenset({0}))
            assert connector.bound_binds() == frozenset({0})
            await eventually(lambda: peer.unbound == 1)
            await connector.set_binds(frozenset({5}))  # no such bind: nothing opens
            assert not connector.bound and connector.binds == 2
        finally:
            await connector.close()
    assert SmppConnector.bind_slots({"binds": 4}) == 4 and SmppConnector.bind_slots({}) == 1


class OneCutProxy(Proxy):
    """A proxy that can drop just the first connection it relays."""

    def cut_first(self) -> None:
        for writer in self._writers[:2]:
            writer.transport.abort()


async def test_a_bind_lost_leaves_the_others_sending_and_comes_back() -> None:
    async with SmscPeer() as peer:
        proxy = await OneCutProxy(peer.port).start()
        extra = {"binds": 2, "reconnect_min_secs": 1.0}  # long enough to see one bind down
        async with started(proxy.port, **extra) as (connector, _):
            await eventually(lambda: len(peer.esmes) == 2)
            proxy.cut_first()
            await eventually(lambda: len(connector.bound_binds()) == 1)
            results = await connector.send([sms(msisdn=f"+86138001380{i:02d}") for i in range(6)])
            assert all(isinstance(r, SendResult) for r in results)
            assert len(peer.submits) == 6
            await eventually(lambda: connector.bound_binds() == frozenset({0, 1}))
            assert connector.binds == 3
        await proxy.stop()


def test_bind_mode_and_binds_are_checked() -> None:
    checked = registry.validate_settings(
        "smpp", settings(2775, bind_mode="transmitter_receiver", binds=2)
    )
    assert (checked["bind_mode"], checked["binds"]) == ("transmitter_receiver", 2)
    for bad in ({"bind_mode": "receiver"}, {"binds": 0}):
        with pytest.raises(Exception, match=r"CONNECTOR_SETTINGS_INVALID|settings"):
            registry.validate_settings("smpp", settings(2775, **bad))
