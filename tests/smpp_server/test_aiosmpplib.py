"""aiosmpplib (a real, independent asyncio SMPP client) against the SMPP server for tenants.

It binds, submits a long message whole in message_payload (its default for text longer
than one SMS), and reads the receipt and an inbound message back as deliver_sm.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aiosmpplib import (
    ESME,
    AbstractHook,
    BindMode,
    DeliverSm,
    PhoneNumber,
    SmppCommandStatus,
    SmppError,
    SubmitSm,
    SubmitSmResp,
)
from aiosmpplib.state import NPI, TON

from hongyan.api.context import AppContext
from hongyan.connectors.base import InboundSms
from hongyan.inbound import service as inbound
from hongyan.smpp_server.server import SmppServer
from tests.smpp_server.conftest import SmppTenant, make_smpp_tenant
from tests.smpp_server.test_receipts import finish
from tests.smpp_server.test_submit import mobile


class Collect(AbstractHook):
    """Everything the client receives, in a queue the test reads."""

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[Any] = asyncio.Queue()

    async def sending(self, smpp_message: Any, pdu: bytes, client_id: str) -> None:
        return None

    async def received(self, smpp_message: Any, pdu: bytes, client_id: str) -> None:
        if isinstance(smpp_message, SubmitSmResp | DeliverSm):
            await self.inbox.put(smpp_message)
        elif smpp_message is None:  # a PDU the library could not parse: the raw bytes
            await self.inbox.put(pdu)

    async def send_error(self, smpp_message: Any, error: Exception, client_id: str) -> None:
        await self.inbox.put(error)


def esme(port: int, tenant: SmppTenant, hook: Collect | None = None, **kw: Any) -> ESME:
    return ESME(
        smsc_host="127.0.0.1",
        smsc_port=port,
        system_id=tenant.system_id,
        password=kw.pop("password", tenant.password),
        bind_mode=kw.pop("bind_mode", BindMode.TRANSCEIVER),
        hook=hook,
        log_level=logging.WARNING,
        socket_timeout=10.0,
        **kw,
    )


@contextlib.asynccontextmanager
async def running(client: ESME) -> AsyncIterator[ESME]:
    task = asyncio.ensure_future(client.start())
    try:
        async with asyncio.timeout(10):
            await client._bound.wait()
        yield client
    finally:
        await client.stop()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def next_of(hook: Collect, kind: type[Any]) -> Any:
    async with asyncio.timeout(10):
        while True:
            item = await hook.inbox.get()
            if isinstance(item, kind):
                return item


async def test_bind_refused_with_the_spec_status(
    server: SmppServer, smpp_tenant: SmppTenant
) -> None:
    hook = Collect()
    client = esme(server.port, smpp_tenant, hook, password="wrong123")
    # SMPP 3.4 (4.1.2) sends a refused bind's response without a body; aiosmpplib 0.7.4 then
    # fails to parse it (ValueError) after handing the raw PDU to its hook, where the status is.
    with pytest.raises((SmppError, ValueError)):
        await client.connect()
    raw = await next_of(hook, bytes)
    assert int.from_bytes(raw[8:12], "big") == SmppCommandStatus.ESME_RINVPASWD
    await client._disconnect()


async def test_payload_submit_receipt_and_inbound(
    client: httpx.AsyncClient, server: SmppServer, sctx: AppContext
) -> None:
    tenant = await make_smpp_tenant(client, sctx, free_text_allowed=True)
    hook = Collect()
    to = mobile()
    text = f"【{tenant.sender.sign}】" + "鸿雁传书,一路平安。" * 12  # 120+ characters: UCS-2, long
    async with running(esme(server.port, tenant, hook)) as smpp:
        await smpp.broker.enqueue(
            SubmitSm(
                short_message=text,
                source=PhoneNumber("HONGYAN", TON.ALPHANUMERIC),
                destination=PhoneNumber(to, TON.INTERNATIONAL, NPI.ISDN),
                log_id="order-1",
            )
        )
        answer = await next_of(hook, SubmitSmResp)
        assert answer.command_status == SmppCommandStatus.ESME_ROK
        assert answer.message_id.startswith("msg_")

        await finish(sctx, answer.message_id)
        receipt = await next_of(hook, DeliverSm)
        assert receipt.is_receipt()
        assert receipt.parse_receipt()["id"] == answer.message_id
        assert receipt.parse_receipt()["stat"] == "DELIVRD"
        assert receipt.log_id == "order-1"  # the client matched it to its own submit

        reply = InboundSms("con_aiosmpplib", "+" + to, "10690001", "收到,谢谢!")
        await inbound.receive(sctx, [reply])
        mo = await next_of(hook, DeliverSm)
        assert not mo.is_receipt()
        assert mo.short_message == "收到,谢谢!"
        assert mo.source.number == to
