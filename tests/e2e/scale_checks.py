"""What the scale-out test reads back from the database, and its verdicts on it.

The verdicts are plain functions over what the run left behind (message rows, ledgers, what
the simulators, the SMSC and the webhook receiver saw), so a failure names the message.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from typing import Any

from sqlalchemy import func, select

from hongyan.db import Database
from hongyan.messages.transitions import TERMINAL
from hongyan.models import BillingAccount, LedgerEntry, Message, MessageEvent
from hongyan.webhooks.verify import SIGNATURE_HEADER, verify_signature
from tests.e2e.scale_peers import CountingSmsc, HookReceiver
from tests.e2e.scale_traffic import LIMITS, Traffic

Received = tuple[str, dict[str, str], bytes]  # path, headers, body of one webhook POST


async def unfinished_count(db: Database) -> int:
    async with db.session() as session:
        stmt = select(func.count()).where(Message.status.not_in(TERMINAL))
        return int((await session.execute(stmt)).scalar_one())


async def messages_of(db: Database) -> dict[str, Message]:
    async with db.session() as session:
        return {m.id: m for m in (await session.execute(select(Message))).scalars()}


async def history_of(db: Database) -> dict[str, list[str]]:
    """Each message's status history, one line per event (for the failure messages)."""
    found: dict[str, list[str]] = defaultdict(list)
    async with db.session() as session:
        rows = await session.execute(select(MessageEvent).order_by(MessageEvent.id))
        for e in rows.scalars():
            found[e.message_id].append(f"{e.at:%H:%M:%S.%f} {e.status} {e.code} {e.detail}")
    return found


async def ledger_of(db: Database, tenant_id: str) -> tuple[BillingAccount, list[LedgerEntry]]:
    async with db.session() as session:
        account = await session.get(BillingAccount, tenant_id)
        assert account is not None
        stmt = select(LedgerEntry).where(LedgerEntry.tenant_id == tenant_id)
        return account, list((await session.execute(stmt)).scalars())


def webhook_events(hooks: HookReceiver) -> set[tuple[str, str, str]]:
    """(path, event type, message id) of every POST received."""
    found = set()
    for path, headers, body in hooks.received():
        try:
            event = json.loads(body)
        except ValueError:
            raise AssertionError(f"not JSON: {path} {headers} {body[:300]!r}") from None
        found.add((path, event["type"], event["data"]["id"]))
    return found


def missing_webhooks(messages: dict[str, Message], hooks: HookReceiver) -> list[str]:
    received = {(event, message_id) for _, event, message_id in webhook_events(hooks)}
    return [m.id for m in messages.values() if (f"message.{m.status}", m.id) not in received]


def check_every_message_final(accepted: dict[str, Any], messages: dict[str, Message]) -> None:
    assert len(accepted) > 2_000
    assert set(messages) == set(accepted)  # nothing lost, nothing that was not accepted
    assert {m.status for m in messages.values()} <= TERMINAL
    assert {m.status for m in messages.values()} >= {"delivered", "undelivered", "failed"}


def check_submissions(
    accepted: dict[str, Any],
    messages: dict[str, Message],
    run: dict[str, Any],
    by_simulator: Counter[str],
    smsc: CountingSmsc,
) -> None:
    """Count each message's submissions where they arrived, and hold them to the policy."""
    key_of = {(a["to"], a["text"]): message_id for message_id, a in accepted.items()}
    assert set(smsc.submits) <= set(key_of), "the SMSC got a message nobody accepted"
    assert set(by_simulator) <= set(accepted), "a simulator got a message nobody accepted"
    counts = Counter(by_simulator)
    for key, n in smsc.submits.items():
        counts[key_of[key]] += n
    assert sum(smsc.submits.values()) > 100  # the SMPP route carried its share
    killed: set[str] = run["killed"]
    assert killed, "the kill landed between batches"
    for message_id, m in messages.items():
        n = counts[message_id]
        if m.kind == "marketing":
            assert n <= 1, (message_id, n)  # at most once, killed or not
            if message_id in killed:
                assert (m.status, m.error_code) == ("failed", "SUBMIT_OUTCOME_UNKNOWN")
        elif message_id in killed:
            assert m.status != "failed" or m.error_code == "REJECTED_BY_CARRIER", m.error_code
            assert n >= (0 if m.status == "failed" else 1) and n <= 2, (message_id, n)
        else:
            why = (message_id, n, run["history"][message_id])
            assert n == (0 if m.status == "failed" else 1), why
    doubled = {i for i, n in counts.items() if n > 1}
    assert doubled <= {i for i in killed if messages[i].kind != "marketing"}


def check_limits(traffic: Traffic, messages: dict[str, Message]) -> None:
    """Per tenant, number and kind: never more than the limit; the hot numbers exactly it."""
    per_number: Counter[tuple[str, str, str]] = Counter(
        (m.tenant_id, m.msisdn, m.kind) for m in messages.values()
    )
    for (_, msisdn, kind), n in per_number.items():
        assert n <= LIMITS[kind], (msisdn, kind, n)
    tenants = {m.tenant_id for m in messages.values()}
    for kind, msisdn in traffic.hot.items():
        for tenant_id in tenants:
            assert per_number[(tenant_id, msisdn, kind)] == LIMITS[kind], (kind, tenant_id)
    codes = Counter(code for _, _, code in traffic.outcome.refused)
    assert set(codes) == {"FREQUENCY_LIMITED"}, codes


def check_ledger(
    account: BillingAccount, entries: list[LedgerEntry], messages: dict[str, Message]
) -> None:
    """balance == sum of entries; each message one hold and one final entry; nothing held."""
    assert account.balance == sum(e.amount for e in entries) >= 0
    assert account.held == 0
    holds = {e.message_id: e for e in entries if e.kind == "hold"}
    finals = defaultdict(list)
    for e in entries:
        if e.kind in ("confirm", "refund"):
            finals[e.message_id].append(e)
    mine = {i: m for i, m in messages.items() if m.tenant_id == account.tenant_id}
    assert set(holds) == set(mine) == set(finals)
    for message_id, m in mine.items():
        [final] = finals[message_id]
        assert -holds[message_id].amount == m.amount > 0
        refunded = m.status == "failed" or (
            account.charge_policy == "on_delivery" and m.status in ("undelivered", "expired")
        )
        assert final.kind == ("refund" if refunded else "confirm"), (m.status, final.kind)


def check_webhooks(
    received: list[Received], tenants: list[tuple[str, str]], messages: dict[str, Message]
) -> None:
    """Every POST signed with the secret of the tenant whose endpoint got it, about one of its
    messages; every message's final status there at least once. ``tenants``: (id, secret)
    in the order of their endpoint paths (/hook/<index>)."""
    tenant_of: dict[tuple[str, str], str] = {}
    for path, headers, body in received:
        tenant_id, secret = tenants[int(path.rsplit("/", 1)[1])]
        assert verify_signature(secret, headers[SIGNATURE_HEADER.lower()], body, tolerance_secs=600)
        event = json.loads(body)
        tenant_of[(event["type"], event["data"]["id"])] = tenant_id
    for m in messages.values():
        assert tenant_of.get((f"message.{m.status}", m.id)) == m.tenant_id, (m.id, m.status)
