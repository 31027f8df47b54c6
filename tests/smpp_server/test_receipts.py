"""Receipts and inbound messages back to the tenant as deliver_sm, kept until acknowledged."""

from __future__ import annotations

import asyncio
import secrets

from hongyan.api.context import AppContext
from hongyan.connectors.base import InboundSms, Receipt, ReceiptStatus
from hongyan.dlr import service as dlr
from hongyan.inbound import service as inbound
from hongyan.messages import repository as messages_repo
from hongyan.messages import transitions
from hongyan.models import utcnow
from hongyan.smpp import parse_receipt
from hongyan.smpp.constants import MessageState
from hongyan.smpp_server import repository as repo
from hongyan.smpp_server.server import SmppServer
from tests.smpp_server.conftest import SmppTenant, bound
from tests.smpp_server.esme import SyncEsme
from tests.smpp_server.test_submit import mobile

CONNECTOR = "con_smppservertest"


async def submitted(esme: SyncEsme, tenant: SmppTenant, to: str, registered: int = 1) -> str:
    """Submit a template message over SMPP; Hongyan's message id."""
    text = f"【{tenant.sender.sign}】您的订单A{secrets.randbelow(999)}已发货,请注意查收。"
    sequences = await esme.submit(text, to=to, registered_delivery=registered)
    (answer,) = await esme.answers_for(sequences)
    assert answer.status == 0
    return answer.message_id


async def finish(ctx: AppContext, message_id: str, status: ReceiptStatus = "delivered") -> None:
    """Send the message (recorded as a carrier would take it), then apply the carrier's receipt."""
    upstream = f"up-{secrets.token_hex(6)}"
    async with ctx.db.session() as session:
        (message,) = await messages_repo.get_many(session, [message_id])
        change = transitions.Change(message, "sent", connector_id=CONNECTOR)
        await transitions.apply(session, ctx=ctx, changes=[change])
        part = {"message_id": message_id, "seq": 1, "connector_id": CONNECTOR}
        await messages_repo.insert_parts(session, [{**part, "upstream_id": upstream}])
    result = await dlr.ingest(ctx, [Receipt(CONNECTOR, upstream, status)])
    assert result.finalized == 1


async def outbox_rows(ctx: AppContext, tenant: SmppTenant) -> int:
    async with ctx.db.session() as session:
        return await repo.outbox_count(session, tenant.credential_id)


async def no_rows_left(ctx: AppContext, tenant: SmppTenant, timeout_secs: float = 5.0) -> None:
    """Wait (polling, bounded) until the tenant's outbox is empty."""
    async with asyncio.timeout(timeout_secs):
        while await outbox_rows(ctx, tenant):  # noqa: ASYNC110  # rows in the database, no event
            await asyncio.sleep(0.02)


async def test_receipt_reaches_the_receiver_bind(
    server: SmppServer, smpp_tenant: SmppTenant, sctx: AppContext, esmes: list[SyncEsme]
) -> None:
    sender = await bound(server, smpp_tenant, esmes, "transmitter")
    receiver = await bound(server, smpp_tenant, esmes, "receiver")
    to = mobile()
    message_id = await submitted(sender, smpp_tenant, to)
    await finish(sctx, message_id)
    (pdu,) = await receiver.wait_delivered(1)
    assert pdu.esm_class == 0x04
    assert pdu.receipted_message_id.rstrip(b"\0").decode() == message_id
    assert pdu.message_state == MessageState.DELIVERED
    assert pdu.source_addr.decode() == to and pdu.destination_addr.decode() == "HONGYAN"
    receipt = parse_receipt(pdu.short_message.decode("ascii"))
    assert receipt is not None
    assert (receipt.message_id, receipt.stat, receipt.err) == (message_id, "DELIVRD", "000")
    await no_rows_left(sctx, smpp_tenant)  # deleted once the client's answer arrived


async def test_failure_only_receipt_and_no_receipt(
    server: SmppServer, smpp_tenant: SmppTenant, sctx: AppContext, esmes: list[SyncEsme]
) -> None:
    esme = await bound(server, smpp_tenant, esmes)
    delivered = await submitted(esme, smpp_tenant, mobile(), registered=2)
    failed = await submitted(esme, smpp_tenant, mobile(), registered=2)
    silent = await submitted(esme, smpp_tenant, mobile(), registered=0)
    await finish(sctx, delivered)
    await finish(sctx, failed, "undelivered")
    await finish(sctx, silent, "undelivered")
    (pdu,) = await esme.wait_delivered(1)
    assert pdu.receipted_message_id.rstrip(b"\0").decode() == failed
    assert pdu.message_state == MessageState.UNDELIVERABLE
    await esme.listen(0.5)
    assert len(esme.delivered) == 1


async def test_receipt_kept_until_a_receiver_binds(
    server: SmppServer, smpp_tenant: SmppTenant, sctx: AppContext, esmes: list[SyncEsme]
) -> None:
    sender = await bound(server, smpp_tenant, esmes, "transmitter")
    message_id = await submitted(sender, smpp_tenant, mobile())
    await finish(sctx, message_id, "expired")
    await sender.listen(0.5)
    assert sender.delivered == []  # a transmitter gets no deliver_sm
    assert await outbox_rows(sctx, smpp_tenant) == 1
    receiver = await bound(server, smpp_tenant, esmes, "receiver")
    (pdu,) = await receiver.wait_delivered(1)
    assert pdu.message_state == MessageState.EXPIRED
    await no_rows_left(sctx, smpp_tenant)


async def test_unacknowledged_receipt_is_sent_again_after_reconnect(
    server: SmppServer, smpp_tenant: SmppTenant, sctx: AppContext, esmes: list[SyncEsme]
) -> None:
    sender = await bound(server, smpp_tenant, esmes, "transmitter")
    mute = await bound(server, smpp_tenant, esmes, "receiver")
    mute.ack = False  # reads the deliver_sm and never answers it
    message_id = await submitted(sender, smpp_tenant, mobile())
    await finish(sctx, message_id)
    await mute.wait_delivered(1)
    await mute.drop()  # gone without an answer
    esmes.remove(mute)
    assert await outbox_rows(sctx, smpp_tenant) == 1
    again = await bound(server, smpp_tenant, esmes, "receiver")
    (pdu,) = await again.wait_delivered(1)
    assert pdu.receipted_message_id.rstrip(b"\0").decode() == message_id
    await no_rows_left(sctx, smpp_tenant)


async def test_inbound_message_is_delivered_to_the_tenant(
    server: SmppServer, smpp_tenant: SmppTenant, sctx: AppContext, esmes: list[SyncEsme]
) -> None:
    esme = await bound(server, smpp_tenant, esmes)
    to = mobile()
    await submitted(esme, smpp_tenant, to)  # the conversation the reply belongs to
    reply = InboundSms(CONNECTOR, "+" + to, "10690001", "好的,谢谢", received_at=utcnow())
    result = await inbound.receive(sctx, [reply])
    assert result.stored == 1 and result.unmatched == 0
    (pdu,) = await esme.wait_delivered(1)
    assert pdu.esm_class == 0
    assert pdu.source_addr.decode() == to and pdu.destination_addr.decode() == "10690001"
    assert pdu.data_coding == 8
    assert pdu.short_message.decode("utf-16-be") == "好的,谢谢"
