"""Submits of a real SMPP client (smpplib) into the pipeline, and their refusals."""

from __future__ import annotations

import secrets
from datetime import timedelta

import httpx
import smpplib.consts

from hongyan.api.context import AppContext
from hongyan.messages import repository as messages_repo
from hongyan.models import Message
from hongyan.smpp import BindTransceiver, DataSm, DataSmResp, Tlvs, connect
from hongyan.smpp.constants import CommandStatus as S
from hongyan.smpp.constants import DataCoding, Ton
from hongyan.smpp_server import repository as repo
from hongyan.smpp_server.server import SmppServer
from hongyan.smpp_server.status_map import HyStatus
from tests.smpp_server.conftest import SmppTenant, bound, make_smpp_tenant
from tests.smpp_server.esme import SyncEsme


def mobile() -> str:
    """A CN mobile in international form without '+' (as SMPP clients write it)."""
    return f"86139{secrets.randbelow(10**4):04d}{secrets.randbelow(9000) + 1000}"


async def stored(ctx: AppContext, message_id: str) -> Message:
    async with ctx.db.session() as session:
        (message,) = await messages_repo.get_many(session, [message_id])
    return message


async def test_template_text_becomes_a_template_message(
    server: SmppServer, smpp_tenant: SmppTenant, sctx: AppContext, esmes: list[SyncEsme]
) -> None:
    esme = await bound(server, smpp_tenant, esmes, "transmitter")
    to = mobile()
    text = f"【{smpp_tenant.sender.sign}】您的验证码是123456,5分钟内有效。"
    (answer,) = await esme.answers_for(await esme.submit(text, to=to))
    assert answer.status == S.ESME_ROK
    assert answer.message_id.startswith("msg_")
    message = await stored(sctx, answer.message_id)
    assert message.tenant_id == smpp_tenant.tenant_id
    assert message.msisdn == "+" + to
    assert message.template_id == smpp_tenant.sender.templates["verification"]
    assert message.params == {"code": "123456"}
    assert message.sign == smpp_tenant.sender.sign
    assert message.text == text
    assert message.status == "queued"
    assert message.channel == "smpp" and message.receipt_requested
    assert message.api_key_id == smpp_tenant.credential_id
    async with sctx.db.session() as session:
        (submit,) = await repo.submits_for(session, [message.id])
    assert (submit.source_addr, submit.destination_addr) == ("HONGYAN", to)


async def test_refusals_carry_the_mapped_status(
    server: SmppServer, smpp_tenant: SmppTenant, esmes: list[SyncEsme]
) -> None:
    esme = await bound(server, smpp_tenant, esmes)
    sign = smpp_tenant.sender.sign
    cases = [
        # (text, destination, expected command_status)
        (f"【{sign}】您的订单A1已发货,请注意查收。", "86123", S.ESME_RINVDSTADR),
        (f"【{sign}】您的订单赌博已发货,请注意查收。", mobile(), HyStatus.HY_CONTENT_BLOCKED),
        (f"【{sign}】随便说点什么", mobile(), HyStatus.HY_TEMPLATE_NOT_MATCHED),
        ("【没有这个签名】您的验证码是123456,5分钟内有效。", mobile(), HyStatus.HY_SIGN_INVALID),
        ("您的验证码是123456,5分钟内有效。", mobile(), HyStatus.HY_SIGN_INVALID),
        (f"【{sign}】您的验证码是12,5分钟内有效。", mobile(), HyStatus.HY_PARAM_INVALID),
    ]
    sequences = [(await esme.submit(text, to=to))[0] for text, to, _ in cases]
    answers = await esme.answers_for(sequences)
    assert [a.status for a in answers] == [status for _, _, status in cases]
    assert all(a.message_id == "" for a in answers)  # no body on an error response


async def test_balance_and_source_address(
    client: httpx.AsyncClient,
    server: SmppServer,
    sctx: AppContext,
    esmes: list[SyncEsme],
) -> None:
    poor = await make_smpp_tenant(client, sctx, balance=0, allowed_sources=["10690001"])
    esme = await bound(server, poor, esmes)
    text = f"【{poor.sender.sign}】您的验证码是123456,5分钟内有效。"
    broke = await esme.submit(text, to=mobile(), source_addr="10690001")
    foreign = await esme.submit(text, to=mobile(), source_addr="10690002")
    answers = await esme.answers_for(broke + foreign)
    assert [a.status for a in answers] == [HyStatus.HY_BALANCE_INSUFFICIENT, S.ESME_RINVSRCADR]


async def test_free_text_and_long_message_in_parts(
    client: httpx.AsyncClient, server: SmppServer, sctx: AppContext, esmes: list[SyncEsme]
) -> None:
    free = await make_smpp_tenant(client, sctx, free_text_allowed=True)
    esme = await bound(server, free, esmes)
    body = "鸿雁传书," * 40  # 200 characters of UCS-2: four parts of a UDH-concatenated submit
    sequences = await esme.submit(f"【{free.sender.sign}】{body}", to=mobile())
    assert len(sequences) == 4
    answers = await esme.answers_for(sequences)
    assert {a.status for a in answers} == {S.ESME_ROK}
    assert len({a.message_id for a in answers}) == 1  # every part answered with the one id
    message = await stored(sctx, answers[0].message_id)
    assert message.template_id is None
    assert message.text == f"【{free.sender.sign}】{body}"
    assert message.segments == 4
    async with sctx.db.session() as session:
        (submit,) = await repo.submits_for(session, [message.id])
    assert submit.parts == 4


async def test_sar_parts_join_into_one_message(
    client: httpx.AsyncClient, server: SmppServer, sctx: AppContext, esmes: list[SyncEsme]
) -> None:
    free = await make_smpp_tenant(client, sctx, free_text_allowed=True)
    esme = await bound(server, free, esmes)
    text = f"【{free.sender.sign}】" + "The quick brown fox jumps over the lazy dog. " * 5
    raw = text.encode("utf-16-be")
    chunks = [raw[i : i + 134] for i in range(0, len(raw), 134)]
    to, sequences = mobile(), []
    for seq, chunk in enumerate(chunks, 1):
        pdu = await esme._run(
            esme.client.send_message,
            source_addr="HONGYAN",
            dest_addr_ton=smpplib.consts.SMPP_TON_INTL,
            destination_addr=to,
            short_message=chunk,
            data_coding=smpplib.consts.SMPP_ENCODING_ISO10646,
            sar_msg_ref_num=777,
            sar_total_segments=len(chunks),
            sar_segment_seqnum=seq,
        )
        sequences.append(pdu.sequence)
    answers = await esme.answers_for(sequences)
    assert {a.status for a in answers} == {S.ESME_ROK}
    assert len({a.message_id for a in answers}) == 1
    assert (await stored(sctx, answers[0].message_id)).text == text


async def test_incomplete_parts_are_refused_after_the_timeout(
    client: httpx.AsyncClient, server: SmppServer, sctx: AppContext, esmes: list[SyncEsme]
) -> None:
    free = await make_smpp_tenant(client, sctx, free_text_allowed=True)
    esme = await bound(server, free, esmes)
    parts, coding, esm_class = smpplib.gsm.make_parts("鸿雁" * 50)
    pdu = await esme._run(
        esme.client.send_message,
        source_addr="HONGYAN",
        destination_addr=mobile(),
        short_message=parts[0],  # the first of three parts, and no more
        data_coding=coding,
        esm_class=esm_class,
    )
    (answer,) = await esme.answers_for([pdu.sequence])
    assert answer.status == HyStatus.HY_PARTS_INCOMPLETE


async def test_throttled_beyond_messages_per_sec(
    client: httpx.AsyncClient, server: SmppServer, sctx: AppContext, esmes: list[SyncEsme]
) -> None:
    slow = await make_smpp_tenant(client, sctx, messages_per_sec=2)
    esme = await bound(server, slow, esmes)
    text = f"【{slow.sender.sign}】您的验证码是123456,5分钟内有效。"
    sequences = [(await esme.submit(text, to=mobile()))[0] for _ in range(6)]
    statuses = [a.status for a in await esme.answers_for(sequences)]
    assert statuses.count(S.ESME_RTHROTTLED) >= 1
    assert statuses.count(S.ESME_ROK) >= 2
    assert set(statuses) <= {S.ESME_ROK, S.ESME_RTHROTTLED}


async def test_data_sm_with_message_payload(
    client: httpx.AsyncClient, server: SmppServer, sctx: AppContext
) -> None:
    # smpplib has no data_sm: our own ESME session sends it (the codec is cross-checked).
    free = await make_smpp_tenant(client, sctx, free_text_allowed=True)
    text = f"【{free.sender.sign}】" + "长短信整条放在 message_payload 里。" * 8
    link = await connect("127.0.0.1", server.port)
    try:
        await link.bind(BindTransceiver(system_id=free.system_id, password=free.password))
        answer = await link.request(
            DataSm(
                source_addr="HONGYAN",
                dest_addr_ton=Ton.INTERNATIONAL,
                destination_addr=mobile(),
                data_coding=DataCoding.UCS2,
                registered_delivery=1,
                tlvs=Tlvs(message_payload=text.encode("utf-16-be")),
            )
        )
    finally:
        await link.unbind()
    assert isinstance(answer, DataSmResp) and answer.command_status == S.ESME_ROK
    message = await stored(sctx, answer.message_id)
    assert message.text == text and message.receipt_requested


async def test_schedule_and_validity(
    server: SmppServer, smpp_tenant: SmppTenant, sctx: AppContext, esmes: list[SyncEsme]
) -> None:
    esme = await bound(server, smpp_tenant, esmes)
    text = f"【{smpp_tenant.sender.sign}】您的订单B2已发货,请注意查收。"
    sequences = []
    for schedule, validity in (
        ("000000010000000R", "000001000000000R"),  # in an hour; valid until a day from now
        ("", "991231235959000+"),  # now, valid past the API's 7 days: clamped
        ("", "000000000000000X"),  # not an SMPP time
        ("not-a-time-at-al", ""),
    ):
        pdu = await esme._run(
            esme.client.send_message,
            source_addr="HONGYAN",
            dest_addr_ton=smpplib.consts.SMPP_TON_INTL,
            destination_addr=mobile(),
            short_message=text.encode("utf-16-be"),
            data_coding=smpplib.consts.SMPP_ENCODING_ISO10646,
            schedule_delivery_time=schedule,
            validity_period=validity,
        )
        sequences.append(pdu.sequence)
    later, clamped, bad_validity, bad_schedule = await esme.answers_for(sequences)
    assert (bad_validity.status, bad_schedule.status) == (S.ESME_RINVEXPIRY, S.ESME_RINVSCHED)
    scheduled = await stored(sctx, later.message_id)
    assert scheduled.status == "scheduled"
    assert scheduled.validity_until is not None
    assert scheduled.validity_until - scheduled.due_at == timedelta(hours=23)
    kept = await stored(sctx, clamped.message_id)
    assert kept.status == "queued" and kept.validity_until is not None
    assert kept.validity_until - kept.due_at == timedelta(days=7)
