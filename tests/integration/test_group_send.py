"""Single sends written together (messages.group): each request still gets its own answer.

Concurrent ``POST /v1/messages`` of one process share a transaction; these tests send many at
once (one event loop: they really do meet in one group) and check that refusals, the balance,
idempotency keys and limits stay per request, on both backends. Also the send path's caches of
signs and tenants: a change made here applies to the very next send.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from hongyan.api.context import AppContext
from hongyan.messages import group
from tests.senders import UNIT_PRICE, Sender, make_sender


@pytest.fixture
async def sender(client: httpx.AsyncClient, ctx: AppContext) -> Sender:
    return await make_sender(client, ctx)


def notice(sender: Sender, to: str, **extra: object) -> dict[str, object]:
    return {
        "to": to,
        "sign": sender.sign,
        "template": sender.templates["notification"],
        "params": {"order": "G1"},
        **extra,
    }


async def send_all(
    client: httpx.AsyncClient, bodies: list[dict[str, Any]], headers: list[dict[str, str]]
) -> list[httpx.Response]:
    pairs = zip(bodies, headers, strict=True)
    return list(
        await asyncio.gather(*(client.post("/v1/messages", json=b, headers=h) for b, h in pairs))
    )


async def balance_of(client: httpx.AsyncClient, sender: Sender) -> tuple[int, int]:
    body = (await client.get("/v1/balance", headers=sender.key.basic)).json()
    return int(body["balance"]), int(body["held"])


async def listed(client: httpx.AsyncClient, sender: Sender) -> list[dict[str, Any]]:
    page = await client.get("/v1/messages", params={"limit": 100}, headers=sender.key.basic)
    return list(page.json()["data"])


async def test_concurrent_sends_share_transactions_and_get_their_own_answers(
    client: httpx.AsyncClient, ctx: AppContext, sender: Sender
) -> None:
    committer = group.committer_of(ctx)
    groups, items = committer.groups, committer.items
    before, _ = await balance_of(client, sender)
    numbers = [f"1370000{n:04d}" for n in range(12)]
    answers = await send_all(
        client, [notice(sender, to, out_id=to) for to in numbers], [sender.key.basic] * 12
    )
    assert [a.status_code for a in answers] == [202] * 12, answers[0].text
    assert [a.json()["out_id"] for a in answers] == numbers  # each its own message
    assert len({a.json()["id"] for a in answers}) == 12
    assert committer.items - items == 12
    assert committer.groups - groups < 12  # some of them were written together
    assert (await balance_of(client, sender))[0] == before - 12 * UNIT_PRICE
    stored = await listed(client, sender)
    assert sorted(m["out_id"] for m in stored) == numbers
    detail = await client.get(f"/v1/messages/{answers[5].json()['id']}", headers=sender.key.basic)
    assert [h["status"] for h in detail.json()["history"]] == ["queued"]
    stats = await client.get("/v1/stats", params={"group_by": "day"}, headers=sender.key.basic)
    assert stats.json()["totals"]["submitted"] == 12
    assert stats.json()["totals"]["cost"] == 12 * UNIT_PRICE


async def test_a_refused_send_in_a_group_writes_nothing_and_fails_alone(
    client: httpx.AsyncClient, sender: Sender
) -> None:
    added = await client.post(
        "/v1/suppressions", json={"msisdn": "+8613700001000"}, headers=sender.key.basic
    )
    assert added.status_code in (200, 201), added.text
    before = await balance_of(client, sender)
    bodies = [notice(sender, to) for to in ("13700001001", "13700001000", "13700001002")]
    answers = await send_all(client, bodies, [sender.key.basic] * 3)
    assert [a.status_code for a in answers] == [202, 422, 202], answers[1].text
    assert answers[1].json()["error"]["code"] == "NUMBER_SUPPRESSED"
    assert sorted(m["to"] for m in await listed(client, sender)) == [
        "+8613700001001",
        "+8613700001002",
    ]
    assert (await balance_of(client, sender))[0] == before[0] - 2 * UNIT_PRICE


async def test_the_balance_covers_what_it_can_and_never_goes_below_zero(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    poor = await make_sender(client, ctx, balance=5 * UNIT_PRICE)
    bodies = [notice(poor, f"1370000{n:04d}") for n in range(2000, 2012)]
    answers = await send_all(client, bodies, [poor.key.basic] * 12)
    codes = sorted(a.status_code for a in answers)
    assert codes == [202] * 5 + [402] * 7
    refused = [a.json()["error"]["code"] for a in answers if a.status_code == 402]
    assert set(refused) == {"INSUFFICIENT_BALANCE"}
    assert await balance_of(client, poor) == (0, 5 * UNIT_PRICE)
    assert len(await listed(client, poor)) == 5


async def test_one_idempotency_key_in_one_group_gives_one_message(
    client: httpx.AsyncClient, sender: Sender
) -> None:
    same = {**sender.key.basic, "Idempotency-Key": "group-same"}
    twice = await send_all(client, [notice(sender, "13700003000")] * 2, [same, same])
    assert [a.status_code for a in twice] == [202, 202], twice[1].text
    assert twice[0].json() == twice[1].json()
    other = {**sender.key.basic, "Idempotency-Key": "group-other"}
    clash = await send_all(
        client, [notice(sender, "13700003001"), notice(sender, "13700003002")], [other, other]
    )
    codes = sorted(a.status_code for a in clash)
    assert codes == [202, 409], [a.text for a in clash]
    assert {(a.json().get("error") or {}).get("code") for a in clash} >= {"IDEMPOTENCY_KEY_REUSED"}
    stored = sorted(m["to"] for m in await listed(client, sender))
    assert len(stored) == 2 and stored[0] == "+8613700003000"
    # The group that failed on the clash gave back its limits before each was retried alone.
    limits = await client.get("/v1/limits", headers=sender.key.basic)
    assert limits.json()["used_today"] == 2


async def test_a_deleted_sign_stops_the_next_send(
    client: httpx.AsyncClient, sender: Sender
) -> None:
    first = await client.post(
        "/v1/messages", json=notice(sender, "13700004000"), headers=sender.key.basic
    )
    assert first.status_code == 202  # the approved sign is now in this process's cache
    signs = (await client.get("/v1/signs", headers=sender.key.basic)).json()["data"]
    (sign,) = [s for s in signs if s["name"] == sender.sign]
    deleted = await client.delete(f"/v1/signs/{sign['id']}", headers=sender.key.basic)
    assert deleted.status_code == 204, deleted.text
    after = await client.post(
        "/v1/messages", json=notice(sender, "13700004001"), headers=sender.key.basic
    )
    assert after.json()["error"]["code"] == "SIGN_NOT_FOUND"


async def test_free_text_turned_off_applies_to_the_next_send(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    chatty = await make_sender(client, ctx, free_text_allowed=True)
    free = {"to": "13700005000", "sign": chatty.sign, "body": "您的快递已到,请取件"}
    assert (
        await client.post("/v1/messages", json=free, headers=chatty.key.basic)
    ).status_code == 202
    patched = await client.patch(
        f"/v1/admin/tenants/{chatty.tenant_id}",
        json={"free_text_allowed": False},
        headers=chatty.operator.basic,
    )
    assert patched.status_code == 200, patched.text
    refused = await client.post(
        "/v1/messages", json={**free, "to": "13700005001"}, headers=chatty.key.basic
    )
    assert refused.json()["error"]["code"] == "FREE_TEXT_NOT_ALLOWED"
