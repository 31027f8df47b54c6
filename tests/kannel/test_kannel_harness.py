"""The Kannel harness proven against an independent SMSC: the server of ``smpp34`` (Rust codec).

Before Kannel is pointed at Hongyan, these tests show that the harness itself works with an SMSC
that is not ours: Kannel binds with the configured credentials, a sendsms request becomes a
submit_sm, the SMSC's answers and receipts come back through Kannel's dlr-url, inbound messages
reach the sms-service URL, and stopping leaves no process behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.kannel.kannel import Kannel, SmscLink, free_port, requires_kannel
from tests.kannel.recorder import HttpRecorder
from tests.smpp.peers import eventually

smpp34 = pytest.importorskip("smpp34")
pytestmark = requires_kannel

SENDER = "10690001"
DLR_QUERY = "type=%d&reply=%A&fid=%F&receiver=%p&smsc=%i"  # Kannel escapes, filled per receipt


class Smsc:
    """smpp34's server as the SMSC: accepts with ids ``k1, k2...``, refuses ``...0002``."""

    def __init__(self) -> None:
        self.port = free_port()
        self.server = smpp34.Server(host="127.0.0.1", port=self.port, system_id="SMSC")
        self.esmes: list[Any] = []
        self.submits: list[Any] = []  # (event, the id it was accepted with, or None)
        self.ids: list[str | None] = []
        self._driver: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Smsc:
        await self.server.start()
        self._driver = asyncio.ensure_future(self._drive())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def stop(self) -> None:
        """Stop serving (again is fine)."""
        if self._driver is not None:
            for esme in self.esmes:  # as an SMSC going down: unbind its clients first
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(esme.unbind(), 2)
            self._driver.cancel()
            self._driver = None
            await self.server.stop()

    async def _drive(self) -> None:
        while True:
            event = await self.server.next()
            if isinstance(event, smpp34.Esme):
                self.esmes.append(event)
            elif isinstance(event, smpp34.SubmitSmEvent):
                self.submits.append(event)
                if event.destination_addr.endswith("0002"):
                    self.ids.append(None)
                    event.reject(smpp34.ESME_RINVDSTADR)
                else:
                    self.ids.append(f"k{len(self.submits)}")
                    event.accept(f"k{len(self.submits)}")

    async def receipt(self, index: int, stat: str = "DELIVRD") -> Any:
        """The receipt of the ``index``-th submit_sm, as an SMSC sends it (text form)."""
        event, message_id = self.submits[index], self.ids[index]
        text = (
            f"id:{message_id} sub:001 dlvrd:001 submit date:2611252100 done date:2611252101"
            f" stat:{stat} err:000 text:"
        ).encode()
        return await self.esmes[-1].deliver_sm(
            event.source_addr, text, source_addr=event.destination_addr, esm_class=0x04
        )


@pytest.fixture
def recorder() -> Iterator[HttpRecorder]:
    with HttpRecorder() as recorder:
        yield recorder


@pytest.fixture
async def smsc() -> AsyncIterator[Smsc]:
    async with Smsc() as smsc:
        yield smsc


@pytest.fixture
async def kannel(tmp_path: Path, smsc: Smsc, recorder: HttpRecorder) -> AsyncIterator[Kannel]:
    link = SmscLink("127.0.0.1", smsc.port, "kannel", "kannel-pw", system_type="KANNEL")
    async with Kannel(tmp_path, link, mo_url=recorder.url("/mo?from=%p&to=%P&text=%a")) as k:
        yield k
        # smpp34 answers Kannel's unbind by closing, without unbind_resp; bearerbox then waits
        # for one far beyond any grace. Unbound by the SMSC first, it stops on SIGTERM at once.
        await smsc.stop()


async def test_binds_as_a_transceiver_with_its_credentials(kannel: Kannel, smsc: Smsc) -> None:
    assert (await kannel.link_status()).startswith("online")
    [esme] = smsc.esmes
    assert esme.system_id == "kannel" and esme.can_receive  # transceiver: receives too


async def test_sendsms_becomes_submit_sm_and_receipts_reach_the_dlr_url(
    kannel: Kannel, smsc: Smsc, recorder: HttpRecorder
) -> None:
    sent = {f"+861380013800{i}": f"Your code is 12345{i}" for i in range(4)}
    sent["+8613900139000"] = "【鸿雁】验证码 123456"  # beyond Latin-1: UCS-2
    for to, text in sent.items():
        answer = await kannel.send(
            to, text, sender=SENDER, dlr_url=recorder.url(f"/dlr?{DLR_QUERY}")
        )
        assert answer.accepted, answer
    await eventually(lambda: len(smsc.submits) == len(sent), 10)
    got = {e.destination_addr: _text(e) for e in smsc.submits}
    assert got == {to.lstrip("+"): text for to, text in sent.items()}
    assert all(
        (e.dest_addr_ton, e.source_addr, e.registered_delivery & 1) == (1, SENDER, 1)
        for e in smsc.submits
    )
    acks = await recorder.wait_for("/dlr", len(sent))  # type 8: accepted by the SMSC
    assert {(h.params["type"], h.params["fid"]) for h in acks} == {("8", i) for i in smsc.ids}

    stats = ["DELIVRD", "DELIVRD", "DELIVRD", "UNDELIV", "DELIVRD"]
    for index, stat in enumerate(stats):
        assert (await smsc.receipt(index, stat)).is_success
    hits = (await recorder.wait_for("/dlr", 2 * len(sent)))[len(sent) :]
    final = {h.params["fid"]: (h.params["type"], h.params["receiver"]) for h in hits}
    assert final == {
        message_id: ("1" if stat == "DELIVRD" else "2", "+" + event.destination_addr)
        for message_id, stat, event in zip(smsc.ids, stats, smsc.submits, strict=True)
    }
    replies = {h.params["fid"]: h.params["reply"] for h in hits}  # the receipt text itself
    assert all(f"stat:{s}" in replies[i] for i, s in zip(smsc.ids, stats, strict=True))  # type: ignore[index]


async def test_a_refused_submit_is_reported_as_not_delivered_to_smsc(
    kannel: Kannel, smsc: Smsc, recorder: HttpRecorder
) -> None:
    answer = await kannel.send(
        "+8613800130002", "hello", sender=SENDER, dlr_url=recorder.url(f"/dlr?{DLR_QUERY}")
    )
    assert answer.accepted  # Kannel queues first; the refusal comes back as a receipt
    [hit] = await recorder.wait_for("/dlr", 1)
    assert hit.params["type"] == "16"  # not delivered to SMSC
    assert hit.params["reply"] == "NACK/0x0000000b/Invalid Destination Address"


async def test_an_inbound_message_reaches_the_service_url(
    kannel: Kannel, smsc: Smsc, recorder: HttpRecorder
) -> None:
    response = await smsc.esmes[-1].deliver_sm(SENDER, b"STOP", source_addr="8613800138000")
    assert response.is_success
    [hit] = await recorder.wait_for("/mo", 1)
    assert (hit.params["from"], hit.params["text"]) == ("8613800138000", "STOP")
    await asyncio.sleep(0.5)
    assert smsc.submits == []  # and no reply message was sent back for it


async def test_stop_ends_both_boxes_even_with_the_smsc_gone(tmp_path: Path) -> None:
    async with contextlib.AsyncExitStack() as stack:
        smsc = await stack.enter_async_context(Smsc())
        link = SmscLink("127.0.0.1", smsc.port, "kannel", "pw")
        kannel = await stack.enter_async_context(Kannel(tmp_path, link))
        pids = kannel.pids
        await smsc.stop()
        # The SMSC is gone: bearerbox is reconnecting, with a message queued for the link.
        await kannel.wait_online(10, online=False)
        assert (await kannel.send("+8613800138000", "queued", sender=SENDER)).accepted
        await kannel.stop(grace_secs=3)
    assert set(pids) == {"bearerbox", "smsbox"} and kannel.pids == {}
    for pid in pids.values():
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # reaped: not even a zombie is left


def _text(event: Any) -> str:
    body: bytes = event.short_message
    return body.decode("utf-16-be") if event.data_coding == 8 else body.decode("latin-1")
