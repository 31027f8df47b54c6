"""Kannel end to end into Hongyan: Debian's bearerbox binds to Hongyan's SMPP server for tenants.

Hongyan runs in the test's process as ``hongyan run`` runs it (the SMPP server, the worker, the
receipt path), on a database of its own per backend; the operator issues the tenant an SMPP
credential through the admin API and routes the tenant to a simulator. Kannel, a separate
process that knows nothing of Hongyan, binds with that credential as a transceiver; messages go
in through its ``sendsms`` HTTP interface and the receipts come back to its ``dlr-url``:

    sendsms -> smsbox -> bearerbox --submit_sm--> Hongyan -> simulator
    dlr-url <- smsbox <- bearerbox <--deliver_sm-- Hongyan <- receipt

Kannel's dlr-url value ``%d``: 8 accepted by the SMSC (Hongyan's submit_sm_resp, ``%F`` its
message id), 1 delivered, 2 not delivered (receipt), 16 refused at submit (``%A`` then reads
``NACK/<command_status>/<reason>``).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from hongyan import runtime
from hongyan.api.app import create_app
from hongyan.api.context import AppContext
from hongyan.config import Settings
from hongyan.smpp.constants import CommandStatus
from hongyan.smpp_server.server import SmppServer
from hongyan.smpp_server.status_map import HyStatus
from hongyan.worker.run import Worker
from tests.conftest import BACKENDS
from tests.fresh_db import fresh_database
from tests.kannel.kannel import Kannel, SmscLink, requires_kannel
from tests.kannel.recorder import Hit, HttpRecorder
from tests.senders import Sender, make_sender
from tests.senders import _approve as approve

pytestmark = [requires_kannel, pytest.mark.slow]

SENDER = "1069001"  # the source_addr Kannel submits with (the tenant's long number)
DLR = "/dlr?type=%d&reply=%A&fid=%F&receiver=%p"
DELIVERED, NOT_DELIVERED, SMSC_ACCEPTED, SMSC_REFUSED = "1", "2", "8", "16"
COUNT = 12  # messages per run: tens, not thousands (CI time)
# Over 70 UCS-2 characters with its sign: Kannel sends it as two UDH-concatenated submit_sm.
LONG_TEMPLATE = (
    "您的订单${order}已从杭州仓库发出，由鸿雁快递承运，预计两到三天内送达，请保持电话畅通。"
    "如需修改收货地址或预约送货时间，请在订单详情页操作，感谢您的耐心等待。"
)


# The ways tenants write a number for sendsms. Kannel's defaults pass "+86..." as TON 1 without
# its "+", anything else as TON 2 as written; Hongyan reads TON 2 with China as the default
# region, so each form reaches the same E.164 number.
NUMBER_FORMS: list[Callable[[str], str]] = [
    lambda e164: e164,  # +8613800138000
    lambda e164: e164[1:],  # 8613800138000
    lambda e164: "00" + e164[1:],  # 008613800138000
    lambda e164: e164[3:],  # 13800138000, national
]


@dataclass
class Hongyan:
    """Hongyan running in this process: its context, API client and SMPP server."""

    ctx: AppContext
    client: httpx.AsyncClient
    smpp: SmppServer


@dataclass
class Tenant:
    """A sending-ready tenant with an SMPP credential and a simulator route."""

    sender: Sender
    system_id: str
    password: str


@pytest.fixture(scope="module", params=BACKENDS)
async def hongyan(
    request: pytest.FixtureRequest, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Hongyan]:
    """``hongyan run`` in-process on a database of its own (its worker claims every message)."""
    async with fresh_database(request.param, tmp_path_factory.mktemp("kannel")) as db:
        overrides = {"database_url": db.url, "routing_refresh_secs": 0.0}
        ctx = AppContext.build(settings.model_copy(update=overrides), db)
        runtime.start(ctx)
        smpp = SmppServer(ctx, host="127.0.0.1", port=0)
        await smpp.start()
        worker = Worker(ctx)
        running = asyncio.ensure_future(worker.run())
        transport = httpx.ASGITransport(app=create_app(ctx=ctx))
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://hy.test") as client:
                yield Hongyan(ctx, client, smpp)
        finally:
            worker.stop()
            await asyncio.wait_for(asyncio.gather(running, return_exceptions=True), 10)
            await runtime.stop(ctx)  # the SMPP server too (it is in ctx.caches)


@pytest.fixture(scope="module")
async def tenant(hongyan: Hongyan) -> Tenant:
    """The tenant, its simulator route and its SMPP credential, made as an operator would."""
    client = hongyan.client
    sender = await make_sender(client, hongyan.ctx)
    admin = sender.operator.basic
    connector = await client.post(
        "/v1/admin/connectors",
        headers=admin,
        json={
            "name": f"sim-{secrets.token_hex(3)}",
            "kind": "simulator",
            "settings": {"receipt_delay_ms": 100},
        },
    )
    assert connector.status_code == 201, connector.text
    route = await client.post(
        "/v1/admin/routes",
        headers=admin,
        json={
            "name": f"kannel-{secrets.token_hex(3)}",
            "connector_id": connector.json()["id"],
            "tenant_ids": [sender.tenant_id],
        },
    )
    assert route.status_code == 201, route.text
    long = await client.post(
        "/v1/templates",
        headers=sender.key.basic,
        json={"kind": "notification", "name": "long notice", "content": LONG_TEMPLATE},
    )
    assert long.status_code == 201, long.text
    await approve(client, sender.operator, long.json()["id"])
    word = await client.post(
        "/v1/compliance/words", headers=sender.key.basic, json={"word": "刷单返利"}
    )
    assert word.status_code == 201, word.text
    system_id = f"kannel{secrets.token_hex(3)}"
    credential = await client.post(
        "/v1/admin/smpp/credentials",
        headers=admin,
        json={"tenant_id": sender.tenant_id, "system_id": system_id, "allowed_sources": [SENDER]},
    )
    assert credential.status_code == 201, credential.text
    return Tenant(sender, system_id, credential.json()["password"])


@pytest.fixture
def recorder() -> Iterator[HttpRecorder]:
    with HttpRecorder() as recorder:
        yield recorder


@pytest.fixture
async def kannel(tmp_path: Path, hongyan: Hongyan, tenant: Tenant) -> AsyncIterator[Kannel]:
    link = SmscLink("127.0.0.1", hongyan.smpp.port, tenant.system_id, tenant.password)
    async with Kannel(tmp_path, link) as kannel:
        yield kannel


def code_text(sign: str, code: str) -> str:
    """The text of the tenant's approved verification template with its 【sign】."""
    return f"【{sign}】您的验证码是{code},5分钟内有效。"


async def messages_of(hongyan: Hongyan, tenant: Tenant) -> dict[str, dict[str, Any]]:
    """The tenant's messages as its API lists them, by id."""
    got = await hongyan.client.get(
        "/v1/messages", params={"limit": 100}, headers=tenant.sender.key.basic
    )
    assert got.status_code == 200, got.text
    return {m["id"]: m for m in got.json()["data"]}


def by_receiver(hits: list[Hit], numbers: dict[str, str] | None = None) -> dict[str, Hit]:
    """Kannel's receipts by receiver (``%p``, as given to sendsms; mapped by ``numbers``)."""
    numbers = numbers or {}
    return {numbers.get(h.params["receiver"], h.params["receiver"]): h for h in hits}


def of_type(*kinds: str) -> Callable[[Hit], bool]:
    """Kannel's receipts of these dlr types (``%d``)."""
    return lambda hit: hit.params["type"] in kinds


async def test_messages_through_kannel_are_delivered_with_receipts_back(
    kannel: Kannel, hongyan: Hongyan, tenant: Tenant, recorder: HttpRecorder
) -> None:
    sign = tenant.sender.sign
    # Numbers ending 8000..: the simulator delivers them; ...0001: it reports undelivered.
    sent = {f"+861380013{8000 + i}": code_text(sign, f"{100000 + i}") for i in range(COUNT)}
    sent["+8613900130001"] = code_text(sign, "246810")
    before = set(await messages_of(hongyan, tenant))
    given = {NUMBER_FORMS[n % len(NUMBER_FORMS)](to): to for n, to in enumerate(sent)}
    for number, to in given.items():
        answer = await kannel.send(number, sent[to], sender=SENDER, dlr_url=recorder.url(DLR))
        assert answer.accepted, answer

    # Each submit_sm is answered with Hongyan's message id (Kannel: type 8, %F).
    acks = await recorder.wait_for("/dlr", len(sent), 30, of_type(SMSC_ACCEPTED))
    accepted = by_receiver(acks, given)
    assert set(accepted) == set(sent), kannel.logs()
    ids = {to: hit.params["fid"] for to, hit in accepted.items()}
    stored = {i: m for i, m in (await messages_of(hongyan, tenant)).items() if i not in before}
    assert set(stored) == set(ids.values())
    assert {m["to"]: m["text"] for m in stored.values()} == sent

    # Then the receipts: delivered for each, undelivered for ...0001, matched by Kannel.
    hits = await recorder.wait_for("/dlr", len(sent), 30, of_type(DELIVERED, NOT_DELIVERED))
    final = {h.params["fid"]: h for h in hits}
    assert set(final) == set(ids.values()), kannel.logs()
    for to, message_id in ids.items():
        undelivered = to.endswith("0001")
        assert final[message_id].params["type"] == (NOT_DELIVERED if undelivered else DELIVERED)
        assert given[final[message_id].params["receiver"]] == to
        stat = "UNDELIV" if undelivered else "DELIVRD"
        assert f"id:{message_id} " in final[message_id].params["reply"]
        assert f"stat:{stat}" in final[message_id].params["reply"]
    statuses = {m["to"]: m["status"] for m in (await messages_of(hongyan, tenant)).values()}
    assert all(
        statuses[to] == ("undelivered" if to.endswith("0001") else "delivered") for to in sent
    )


async def test_refusals_reach_kannel_as_failure_receipts_and_store_nothing(
    kannel: Kannel, hongyan: Hongyan, tenant: Tenant, recorder: HttpRecorder
) -> None:
    sign = tenant.sender.sign
    code = code_text(sign, "123456")
    refused = {  # receiver: (text, sender, the command_status Hongyan answers)
        # a blocked sensitive word, in an otherwise approved template
        "+8613800139001": (
            f"【{sign}】您的订单刷单返利已发货,请注意查收。",
            SENDER,
            HyStatus.HY_CONTENT_BLOCKED,
        ),
        # not a phone number
        "+86123": (code, SENDER, CommandStatus.ESME_RINVDSTADR),
        # no approved template says this, and free text is not allowed for the tenant
        "+8613800139002": (f"【{sign}】随便说点什么", SENDER, HyStatus.HY_TEMPLATE_NOT_MATCHED),
        # a source address the credential does not allow
        "+8613800139003": (code, "1069999", CommandStatus.ESME_RINVSRCADR),
    }
    before = set(await messages_of(hongyan, tenant))
    for to, (text, source, _) in refused.items():
        answer = await kannel.send(to, text, sender=source, dlr_url=recorder.url(DLR))
        assert answer.accepted, answer  # Kannel queues first; the refusal is a receipt
    hits = by_receiver(await recorder.wait_for("/dlr", len(refused), 30, of_type(SMSC_REFUSED)))
    assert set(hits) == set(refused), kannel.logs()
    for to, (_, _, status) in refused.items():
        assert hits[to].params["reply"].startswith(f"NACK/0x{int(status):08x}/"), hits[to]
    assert set(await messages_of(hongyan, tenant)) == before


async def test_a_long_message_in_two_parts_is_one_message_with_one_receipt(
    kannel: Kannel, hongyan: Hongyan, tenant: Tenant, recorder: HttpRecorder
) -> None:
    to = "+8613700137000"
    text = f"【{tenant.sender.sign}】" + LONG_TEMPLATE.replace("${order}", "HY20261125")
    assert len(text) > 70
    before = set(await messages_of(hongyan, tenant))
    assert (await kannel.send(to, text, sender=SENDER, dlr_url=recorder.url(DLR))).accepted
    [final] = await recorder.wait_for("/dlr", 1, 30, of_type(DELIVERED, NOT_DELIVERED))
    assert final.params["type"] == DELIVERED, kannel.logs()
    stored = [m for i, m in (await messages_of(hongyan, tenant)).items() if i not in before]
    assert [(m["id"], m["to"], m["text"], m["segments"]) for m in stored] == [
        (final.params["fid"], to, text, 2)
    ]
    await asyncio.sleep(0.5)  # nothing more comes: one receipt for the whole message
    assert len(recorder.matching("/dlr", of_type(DELIVERED, NOT_DELIVERED))) == 1
