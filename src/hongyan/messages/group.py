"""Single sends written together: concurrent ``POST /v1/messages`` share one transaction.

Each request runs its own checks up to its content (``service.prepare``: the tenant, sign,
template and word lists come from caches, so it usually reads nothing), then joins the next
group (``kit.group_commit``). A group runs ``service.finish`` for all its requests in one
transaction: suppression and balance (one query per tenant each), price, limits (per request,
in arrival order), one statement per kind of row, one commit. A request is answered after the
commit: a 202 is durable.

A refusal found by ``finish`` belongs to its request alone and writes nothing of it. If the
transaction fails (an Idempotency-Key stored meanwhile, a balance spent meanwhile by another
process, a database error), nothing of the group was written: each request is then written
alone, in a transaction of its own, and fails or succeeds by itself.

Both backends: on PostgreSQL the holds take the accounts' row locks in tenant order, so the
groups of several processes cannot deadlock on them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, cast

from hongyan.accounts.auth import Principal
from hongyan.api.context import AppContext
from hongyan.errors import Lang
from hongyan.kit.group_commit import GroupCommitter, Outcome
from hongyan.messages import idempotency, service
from hongyan.messages import repository as repo
from hongyan.messages.schemas import SendRequest
from hongyan.models import Message

GROUP_KEY = "messages.group"


@dataclass(frozen=True, slots=True)
class Record:
    """What to store under an Idempotency-Key, in the message's transaction."""

    key: str
    fingerprint: str
    answer: Callable[[Message], dict[str, Any]]  # the response body, as the request answers


@dataclass(frozen=True, slots=True)
class _Send:
    pending: service.Pending
    record: Record | None


async def send(
    ctx: AppContext,
    *,
    principal: Principal,
    req: SendRequest,
    lang: Lang = "en",
    record: Record | None = None,
) -> Message:
    """Accept one message as ``service.send`` does, written together with concurrent ones."""
    item = service.Item(0, req.to, req.sign, req.params, req.out_id)
    # No transaction unless a cache needs a refresh (most sends read nothing here).
    async with ctx.db.sessions() as session:
        pending = await service.prepare(
            session, ctx=ctx, principal=principal, req=req, items=[item], lang=lang
        )
        if session.in_transaction():
            await session.commit()  # a refresh may have written (a word list's first defaults)
    if pending.result.rejected:
        raise pending.result.rejected[0][1]
    return await committer_of(ctx).submit(_Send(pending, record))


def committer_of(ctx: AppContext) -> GroupCommitter[_Send, Message]:
    """The process's group committer (one per event loop: tests run several loops)."""
    found = ctx.caches.get(GROUP_KEY)
    if isinstance(found, GroupCommitter) and found.loop is asyncio.get_running_loop():
        return cast(GroupCommitter[_Send, Message], found)
    committer: GroupCommitter[_Send, Message] = GroupCommitter(
        partial(_flush, ctx),
        max_items=ctx.settings.messages_group_max,
        wait_secs=ctx.settings.messages_group_wait_ms / 1000,
    )
    ctx.caches[GROUP_KEY] = committer
    return committer


async def _flush(ctx: AppContext, sends: Sequence[_Send]) -> list[Outcome[Message]]:
    """One transaction for the group; per request its message or its refusal."""
    group = [send.pending.again() for send in sends]
    try:
        async with ctx.db.session() as session:
            await service.finish(session, ctx=ctx, group=group)
            await repo.insert_idempotency(session, _records(sends, group))
    except BaseException:
        await service.release(group)
        raise
    return [
        pending.result.rejected[0][1] if pending.result.rejected else pending.result.messages[0]
        for pending in group
    ]


def _records(sends: Sequence[_Send], group: Sequence[service.Pending]) -> list[dict[str, Any]]:
    rows = []
    for send, pending in zip(sends, group, strict=True):
        if send.record is not None and pending.result.messages:
            message = pending.result.messages[0]
            body = send.record.answer(message)
            row = idempotency.record_row(
                message.tenant_id, send.record.key, send.record.fingerprint, 202, body
            )
            rows.append(row)
    return rows
