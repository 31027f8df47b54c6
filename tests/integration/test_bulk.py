"""Bulk materialization (``messages.bulk``): the batch endpoint's verdicts, chunk by chunk.

The same recipients go once through ``POST /v1/messages/batch`` (one tenant) and once through
``bulk.materialize`` in small chunks (a twin tenant set up the same way): every recipient must
get the same verdict and every accepted one the same row. The module has a database of its
own, because the dispatcher run at the end claims every due message of the table.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from hongyan import errors
from hongyan.api.app import create_app
from hongyan.api.context import AppContext
from hongyan.config import Settings
from hongyan.messages import bulk
from hongyan.messages.bulk import BulkSend, Recipient
from hongyan.models import LedgerEntry, Message, MessageEvent, MessagePart, MessageStat
from hongyan.routing import service as routing
from hongyan.routing.manager import get_manager
from hongyan.worker import dispatcher
from tests.conftest import BACKENDS
from tests.fresh_db import fresh_database
from tests.senders import UNIT_PRICE, Sender, make_sender

ACCEPTED = "accepted"


@pytest.fixture(scope="module", params=BACKENDS)
async def bctx(
    request: pytest.FixtureRequest, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[AppContext]:
    """A context on a database of this module's own, with the default simulator."""
    async with fresh_database(request.param, tmp_path_factory.mktemp("bulk")) as db:
        ctx = AppContext.build(settings.model_copy(update={"database_url": db.url}), db)
        async with db.session() as session:
            await routing.ensure_default_simulator(session, ctx=ctx)
        try:
            yield ctx
        finally:
            await get_manager(ctx).close_all()


@pytest.fixture(scope="module")
async def bclient(bctx: AppContext) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(ctx=bctx))
    async with httpx.AsyncClient(transport=transport, base_url="http://hongyan.test") as http:
        yield http


def mobile() -> str:
    """A bare CN mobile; the default simulator's rules look at the last 4 digits (never 000x)."""
    return f"139{secrets.randbelow(10**4):04d}{secrets.randbelow(9000) + 1000}"


def fifty() -> list[dict[str, Any]]:
    """50 recipients: valid in many forms, invalid, suppressed, repeated, sensitive, bad params."""
    valid = [mobile() for _ in range(30)]
    twice, suppressed = mobile(), [mobile(), mobile()]
    rows: list[dict[str, Any]] = [
        {"to": n, "params": {"order": f"A{i % 4}"}} for i, n in enumerate(valid[:20])
    ]
    rows += [
        {"to": f"+86 {n[:3]} {n[3:7]} {n[7:]}", "params": {"order": "B1"}} for n in valid[20:25]
    ]
    rows += [{"to": f"86{n}", "params": {"order": f"C{i}"}, "out_id": f"c{i}"}
             for i, n in enumerate(valid[25:])]  # fmt: skip
    rows += [
        {"to": "010-12345678", "params": {"order": "X"}},  # a landline: NUMBER_NOT_MOBILE
        {"to": "12345", "params": {"order": "X"}},
        {"to": "not a number", "params": {"order": "X"}},
        {"to": "+999 1234 5678", "params": {"order": "X"}},
        {"to": suppressed[0], "params": {"order": "S"}},
        {"to": f"+86{suppressed[1]}", "params": {"order": "S"}},
        {"to": twice, "params": {"order": "D"}},  # a limit of 2 a day: the third is refused
        {"to": f"+86 {twice}", "params": {"order": "D"}},
        {"to": twice, "params": {"order": "D"}},
        {"to": mobile(), "params": {"order": "赌博"}},  # CONTENT_BLOCKED in a variable
        {"to": "12345", "params": {"order": "赌博"}},  # the number is checked before the content
        {"to": mobile(), "params": {}},  # PARAM_MISSING
        {"to": "12345", "params": {}},  # params are checked before the number
        {"to": mobile(), "params": {"order": "A1", "extra": "1"}},  # PARAM_UNKNOWN
        {"to": mobile(), "params": {"order": "http://evil.example/x"}},  # a link in a variable
        {"to": valid[0], "params": {"order": "A0"}},  # the same number and params again
        {"to": " 139 0000 0000 ", "params": {"order": "E"}},
        {"to": "+85291234567", "params": {"order": "HK"}},  # not mainland: no 【sign】 rule
        {"to": mobile(), "params": {"order": "赌"}},
        {"to": mobile(), "params": {"order": "A2"}},
    ]
    assert len(rows) == 50
    return rows


async def twin(client: httpx.AsyncClient, ctx: AppContext, suppressed: list[str]) -> Sender:
    """A sending-ready tenant with 2 notifications a day per number and these suppressed."""
    sender = await make_sender(client, ctx)
    rules = {"notification": [{"window_secs": 86400, "max": 2}]}
    done = await client.put(
        f"/v1/admin/tenants/{sender.tenant_id}/limits",
        json={"rules": rules},
        headers=sender.operator.basic,
    )
    assert done.status_code == 200, done.text
    for number in suppressed:
        added = await client.post(
            "/v1/suppressions", json={"msisdn": number}, headers=sender.key.basic
        )
        assert added.status_code in (200, 201), added.text
    return sender


async def rows_of(ctx: AppContext, tenant_id: str) -> list[Message]:
    async with ctx.db.session() as session:
        found = await session.execute(
            select(Message).where(Message.tenant_id == tenant_id).order_by(Message.id)
        )
        return list(found.scalars())


def verdicts(count: int, refused: list[tuple[int, str]]) -> list[str]:
    codes = dict(refused)
    return [codes.get(i, ACCEPTED) for i in range(count)]


def comparable(message: Message) -> tuple[Any, ...]:
    """What must agree between the twins (their sign names differ)."""
    return (
        message.msisdn, message.text.replace(message.sign or "", "S"), message.segments,
        message.encoding, message.amount, message.status, message.out_id, message.params,
        message.region, message.carrier, message.kind, message.priority,
        message.due_at is not None,
    )  # fmt: skip


async def balance_of(client: httpx.AsyncClient, sender: Sender) -> int:
    return int((await client.get("/v1/balance", headers=sender.key.basic)).json()["balance"])


async def test_bulk_gives_the_batch_endpoints_verdicts_and_rows(
    bclient: httpx.AsyncClient, bctx: AppContext
) -> None:
    recipients = fifty()
    suppressed = ["+86" + recipients[34]["to"], recipients[35]["to"]]
    batch_sender = await twin(bclient, bctx, suppressed)
    bulk_sender = await twin(bclient, bctx, suppressed)
    template = batch_sender.templates["notification"]
    response = await bclient.post(
        "/v1/messages/batch",
        headers=batch_sender.key.basic,
        json={"sign": batch_sender.sign, "template": template, "recipients": recipients},
    )
    assert response.status_code == 202, response.text
    expected = verdicts(50, [(r["index"], r["error"]["code"]) for r in response.json()["rejected"]])
    # A chunk of 7 makes repeats and the limit's count cross chunk boundaries.
    result = await bulk.materialize(
        bctx,
        req=BulkSend(
            tenant_id=bulk_sender.tenant_id,
            sign=bulk_sender.sign,
            template=bulk_sender.templates["notification"],
        ),
        recipients=[Recipient(r["to"], r["params"], r.get("out_id")) for r in recipients],
        chunk_size=7,
    )
    assert verdicts(50, result.refusals) == expected
    assert {"NUMBER_SUPPRESSED", "FREQUENCY_LIMITED", "CONTENT_BLOCKED"} <= set(expected)
    assert {"NUMBER_NOT_MOBILE", "PARAM_MISSING", "PARAM_UNKNOWN"} <= set(expected)
    assert result.accepted == expected.count(ACCEPTED) == 36
    assert result.chunks == 8 and result.seen == 50
    assert sum(result.refused.values()) == 50 - result.accepted
    by_batch = [comparable(m) for m in await rows_of(bctx, batch_sender.tenant_id)]
    by_bulk = await rows_of(bctx, bulk_sender.tenant_id)
    assert [comparable(m) for m in by_bulk] == by_batch
    assert all(m.text.startswith(f"【{bulk_sender.sign}】") for m in by_bulk if m.region == "CN")
    assert await balance_of(bclient, bulk_sender) == await balance_of(bclient, batch_sender)
    await _ledger_events_and_stats_match(bctx, batch_sender, bulk_sender, len(by_bulk))
    await _dispatched(bctx, by_bulk)


async def _ledger_events_and_stats_match(
    ctx: AppContext, batch_sender: Sender, bulk_sender: Sender, accepted: int
) -> None:
    """The same holds (amounts, running balance), one first event per message, same statistics."""
    async with ctx.db.session() as session:
        ledgers = []
        for sender in (batch_sender, bulk_sender):
            found = await session.execute(
                select(LedgerEntry.kind, LedgerEntry.amount, LedgerEntry.currency,
                       LedgerEntry.balance_after, LedgerEntry.message_id.is_not(None))
                .where(LedgerEntry.tenant_id == sender.tenant_id)
                .order_by(LedgerEntry.id)
            )  # fmt: skip
            ledgers.append([tuple(row) for row in found])
            holds = sum(1 for row in ledgers[-1] if row[0] == "hold")
            events = await session.scalar(
                select(func.count())
                .select_from(MessageEvent)
                .join(Message, Message.id == MessageEvent.message_id)
                .where(Message.tenant_id == sender.tenant_id)
            )
            assert (holds, events) == (accepted, accepted)
        stats = []
        for sender in (batch_sender, bulk_sender):
            found = await session.execute(
                select(MessageStat.region, MessageStat.submitted, MessageStat.segments,
                       MessageStat.cost)
                .where(MessageStat.tenant_id == sender.tenant_id)
                .order_by(MessageStat.region)
            )  # fmt: skip
            stats.append([tuple(row) for row in found])
    assert stats[0] == stats[1] and sum(row[1] for row in stats[1]) == accepted
    assert ledgers[0] == ledgers[1]


async def _dispatched(ctx: AppContext, messages: list[Message]) -> None:
    """The bulk rows are due and queued: the dispatcher sends them to the simulator."""
    while await dispatcher.dispatch_once(ctx):
        pass
    async with ctx.db.session() as session:
        ids = [m.id for m in messages]
        sent = await session.execute(select(Message).where(Message.id.in_(ids)))
        states = list(sent.scalars())
        parts = await session.scalar(select(func.count()).where(MessagePart.message_id.in_(ids)))
    assert {m.status for m in states} <= {"sent", "delivered"}
    assert all(m.connector_id and m.sent_at for m in states)
    assert parts == sum(m.segments for m in states)


async def test_bulk_refuses_the_rest_when_the_balance_runs_out(
    bclient: httpx.AsyncClient, bctx: AppContext
) -> None:
    sender = await make_sender(bclient, bctx, balance=12 * UNIT_PRICE)
    numbers = [mobile() for _ in range(20)]
    result = await bulk.materialize(
        bctx,
        req=BulkSend(
            tenant_id=sender.tenant_id,
            sign=sender.sign,
            template=sender.templates["notification"],
        ),
        recipients=(Recipient(n, {"order": "1"}) for n in numbers),
        chunk_size=5,
    )
    assert result.accepted == 12
    assert result.refused == {errors.INSUFFICIENT_BALANCE.code: 8}
    assert [index for index, _ in result.refusals] == list(range(12, 20))
    assert await balance_of(bclient, sender) == 0
    assert [m.msisdn for m in await rows_of(bctx, sender.tenant_id)] == [
        "+86" + n for n in numbers[:12]
    ]


async def test_bulk_reads_a_csv_and_schedules(
    bclient: httpx.AsyncClient, bctx: AppContext, tmp_path: Path
) -> None:
    sender = await make_sender(bclient, bctx)
    numbers = [mobile() for _ in range(3)]
    path = tmp_path / "list.csv"
    lines = ["to,order,out_id", *(f"{n},O{i},row{i}" for i, n in enumerate(numbers)), "oops,1,"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    later = datetime.now(UTC) + timedelta(hours=3)
    result = await bulk.materialize(
        bctx,
        req=BulkSend(
            tenant_id=sender.tenant_id,
            sign=sender.sign,
            template=sender.templates["notification"],
            send_at=later,
            tag="spring",
        ),
        recipients=bulk.read_csv(path),
    )
    assert (result.accepted, result.refusals) == (3, [(3, "NUMBER_UNPARSEABLE")])
    stored = await rows_of(bctx, sender.tenant_id)
    assert [(m.status, m.out_id, m.params, m.tag) for m in stored] == [
        ("scheduled", f"row{i}", {"order": f"O{i}"}, "spring") for i in range(3)
    ]
    assert all(m.due_at == later for m in stored)


async def test_request_level_refusals_raise_before_anything_is_written(
    bclient: httpx.AsyncClient, bctx: AppContext
) -> None:
    sender = await make_sender(bclient, bctx)
    base = {"tenant_id": sender.tenant_id, "sign": sender.sign}
    cases: list[tuple[dict[str, Any], str]] = [
        ({"template": "tpl_nope"}, "TEMPLATE_NOT_FOUND"),
        ({"template": sender.templates["notification"], "send_at": datetime.now(UTC)},
         "SEND_AT_INVALID"),
        ({}, "TEMPLATE_OR_BODY_REQUIRED"),
    ]  # fmt: skip
    for fields, code in cases:
        with pytest.raises(errors.HongyanError) as raised:
            await bulk.materialize(
                bctx, req=BulkSend(**base, **fields), recipients=[Recipient(mobile())]
            )
        assert raised.value.code == code
    bad_sign = await bulk.materialize(
        bctx,
        req=BulkSend(
            tenant_id=sender.tenant_id, sign="无此签名", template=sender.templates["notification"]
        ),
        recipients=[Recipient(mobile(), {"order": "1"}) for _ in range(3)],
    )
    assert bad_sign.refused == {"SIGN_NOT_FOUND": 3}
    assert await rows_of(bctx, sender.tenant_id) == []


async def test_the_tenants_request_rate_throttles_chunks_instead_of_refusing(
    bclient: httpx.AsyncClient, bctx: AppContext
) -> None:
    sender = await make_sender(bclient, bctx)
    done = await bclient.put(
        f"/v1/admin/tenants/{sender.tenant_id}/limits",
        json={"rules": {}, "rate_per_sec": 1},
        headers=sender.operator.basic,
    )
    assert done.status_code == 200, done.text
    # Three chunks: each is one request toward the rate of 1 a second, so two of them wait.
    result = await bulk.materialize(
        bctx,
        req=BulkSend(
            tenant_id=sender.tenant_id,
            sign=sender.sign,
            template=sender.templates["notification"],
        ),
        recipients=[Recipient(mobile(), {"order": str(i)}) for i in range(3)],
        chunk_size=1,
    )
    assert (result.accepted, result.refused) == (3, {})
