"""Materializing a large send (a campaign's recipients) chunk by chunk, as the batch path would.

``materialize`` streams recipients (an iterator, or ``read_csv`` over a file) for one tenant,
template or body, and sign, and accepts or refuses each with the same checks, in the same
order and with the same catalog codes as ``POST /v1/messages/batch`` (``messages.service``):
sign, params, number, content, sign required, segments; then per chunk suppression, price,
balance and limits. It calls the same functions of the other domains; what differs is how
often, because a campaign repeats itself:

- once per run: tenant, template, sign, the free-text scan;
- once per distinct value: the template rendered and scanned per distinct params, segments
  counted per distinct text, prices per (region, segments) and chunk, numbers through the
  process's parser cache;
- once per chunk (``chunk_size`` recipients): the suppression query, the balance, the limits
  (one ``acquire``, counted as one request toward the tenant's rate), and ONE transaction
  (``bulk_store``) that holds the money (one debit; a ledger row per message, as settlement
  needs), inserts the message rows (``queued`` or ``scheduled``: the dispatcher takes them)
  and their first events through the driver's executemany, and adds the statistics.

The per-recipient checks of a chunk run while the chunk before is being written (SQLite's
driver works in a thread of its own, PostgreSQL in its server), so the two overlap; the
chunk's own checks against the balance and the limits wait until the one before is in. Only
two chunks are in memory at a time and every cache is bounded, so memory does not grow with
the size of the list (the in-memory limiter's logs do: one per number and template for a day;
Redis keeps them when ``redis_url`` is set). When the balance runs out, the rest is refused
with INSUFFICIENT_BALANCE; when the tenant's request rate refuses a chunk, the chunk waits
and tries again instead (a campaign is throttled, not cut short).
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from hongyan import errors
from hongyan.api.context import AppContext
from hongyan.billing import service as billing
from hongyan.errors import HongyanError, Lang
from hongyan.limits import service as limits
from hongyan.messages import bulk_store
from hongyan.messages import repository as repo
from hongyan.messages.bulk_draft import (
    Bounded,
    BulkSend,
    Draft,
    Drafter,
    ParamsKey,
    Recipient,
    Refusal,
)
from hongyan.worker import wakeup

__all__ = ["BulkResult", "BulkSend", "Recipient", "materialize", "read_csv"]

DEFAULT_CHUNK = 5_000
# A chunk refused by the tenant's request rate waits out the rate window and tries again.
RATE_RETRY_SECS = 1.0
RATE_RETRIES = 30
# Another process may spend the balance between this chunk's look at it and its hold.
HOLD_RETRIES = 3


@dataclass(slots=True)
class BulkResult:
    """Counts of the run; ``refusals`` keeps (index, code) of the first ``keep`` refusals."""

    accepted: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    refusals: list[tuple[int, str]] = field(default_factory=list)
    chunks: int = 0
    keep: int = 1_000

    @property
    def seen(self) -> int:
        return self.accepted + sum(self.refused.values())

    def refuse(self, index: int, code: str) -> None:
        self.refused[code] += 1
        if len(self.refusals) < self.keep:
            self.refusals.append((index, code))


async def materialize(
    ctx: AppContext,
    *,
    req: BulkSend,
    recipients: Iterable[Recipient],
    chunk_size: int = DEFAULT_CHUNK,
    lang: Lang = "en",
    keep_refusals: int = 1_000,
    on_chunk: Callable[[BulkResult], None] | None = None,
) -> BulkResult:
    """Accept or refuse every recipient; one transaction per chunk (so it owns its sessions).

    Raises the catalog error of a request-level refusal (template not approved, free text not
    allowed, send_at out of range...) before anything is written, as the batch endpoint does.
    """
    async with ctx.db.session() as session:
        drafter = await Drafter.start(session, ctx=ctx, req=req, lang=lang)
    run = _Run(ctx, drafter, BulkResult(keep=keep_refusals), on_chunk)
    numbered = enumerate(recipients)
    writing: asyncio.Task[None] | None = None
    try:
        while chunk := list(islice(numbered, chunk_size)):
            # This chunk's per-recipient checks run while the chunk before is written.
            async with ctx.db.session() as session:
                drafts, refused = await drafter.draft_all(session, chunk)
            if writing is not None:
                await writing  # in before this chunk looks at the balance and the limits
            writing = asyncio.create_task(_accept_chunk(run, drafts, refused))
        if writing is not None:
            await writing
    finally:
        if writing is not None and not writing.done():
            writing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writing
    return run.result


@dataclass(slots=True)
class _Run:
    """One materialization: what its chunks share."""

    ctx: AppContext
    drafter: Drafter
    result: BulkResult
    on_chunk: Callable[[BulkResult], None] | None
    params: Bounded[ParamsKey, Any] = field(default_factory=Bounded)  # bound JSON per set


async def _accept_chunk(run: _Run, drafts: list[Draft], refused: list[Refusal]) -> None:
    """Suppression, price, balance, limits and the chunk's transaction, retried on races."""
    ctx, drafter = run.ctx, run.drafter
    for attempt in range(HOLD_RETRIES):
        refusals = list(refused)
        acquired: limits.Acquired | None = None
        try:
            async with ctx.db.session() as session:
                kept = await _checked(session, ctx, drafter, drafts, refusals)
                acquired, kept = await _limited(session, ctx, drafter, kept, refusals)
                await bulk_store.store(session, drafter, kept, run.params)
        except BaseException as exc:
            if acquired is not None:  # nothing was stored: the hits must not count
                await acquired.release()
            raced = isinstance(exc, HongyanError) and exc.code == errors.INSUFFICIENT_BALANCE.code
            if raced and attempt < HOLD_RETRIES - 1:
                continue  # spent meanwhile by another process: look at the balance again
            raise
        break
    run.result.accepted += len(kept)
    for index, code in sorted(refusals):
        run.result.refuse(index, code)
    run.result.chunks += 1
    if kept and drafter.status == "queued":
        wakeup.wake_local(ctx)
    if run.on_chunk is not None:
        run.on_chunk(run.result)


async def _checked(
    session: AsyncSession,
    ctx: AppContext,
    drafter: Drafter,
    drafts: list[Draft],
    refusals: list[Refusal],
) -> list[Draft]:
    """The drafts that pass suppression, price and balance, in this order (as the batch)."""
    tenant_id = drafter.tenant.id
    suppressed = await repo.suppressed_among(session, tenant_id, [d.msisdn for d in drafts])
    kept = []
    for draft in drafts:
        if draft.msisdn in suppressed:
            refusals.append((draft.index, errors.NUMBER_SUPPRESSED.code))
        else:
            kept.append(draft)
    kept = await _priced(session, ctx, drafter, kept, refusals)
    return await _covered(session, drafter, kept, refusals)


async def _priced(
    session: AsyncSession,
    ctx: AppContext,
    drafter: Drafter,
    drafts: list[Draft],
    refusals: list[Refusal],
) -> list[Draft]:
    """Price each draft; one quote per (region, segments) of the chunk."""
    quotes: dict[tuple[str | None, int], billing.Quote | str] = {}
    kept = []
    for draft in drafts:
        key = (draft.region, draft.info.segments)
        quote = quotes.get(key)
        if quote is None:
            try:
                quote = await billing.quote(
                    session,
                    ctx=ctx,
                    tenant_id=drafter.tenant.id,
                    region=draft.region,
                    kind=drafter.kind,
                    segments=draft.info.segments,
                )
            except HongyanError as exc:
                quote = exc.code
            quotes[key] = quote
        if isinstance(quote, str):
            refusals.append((draft.index, quote))
            continue
        draft.currency = quote.currency
        draft.amount = 0 if drafter.req.test_mode else quote.amount
        kept.append(draft)
    return kept


async def _covered(
    session: AsyncSession, drafter: Drafter, drafts: list[Draft], refusals: list[Refusal]
) -> list[Draft]:
    """The prefix of the chunk the balance covers; the rest INSUFFICIENT_BALANCE."""
    if sum(d.amount for d in drafts) == 0:
        return drafts
    available = await billing.available(session, tenant_id=drafter.tenant.id)
    kept, total = [], 0
    for draft in drafts:
        if total + draft.amount <= available:
            total += draft.amount
            kept.append(draft)
        else:
            refusals.append((draft.index, errors.INSUFFICIENT_BALANCE.code))
    return kept


async def _limited(
    session: AsyncSession,
    ctx: AppContext,
    drafter: Drafter,
    drafts: list[Draft],
    refusals: list[Refusal],
) -> tuple[limits.Acquired, list[Draft]]:
    """Count the drafts against the limits; the acquisition and the drafts let through."""
    acquired = await _acquire(session, ctx, drafter, drafts)
    kept = []
    for index, draft in enumerate(drafts):
        refused = acquired.rejected.get(index)
        if refused is None:
            kept.append(draft)
        else:
            refusals.append((draft.index, refused.code))
    return acquired, kept


async def _acquire(
    session: AsyncSession, ctx: AppContext, drafter: Drafter, drafts: Sequence[Draft]
) -> limits.Acquired:
    """``limits.acquire`` for the chunk, waiting while the tenant's request rate refuses it."""
    template_id = drafter.template.id if drafter.template else ""
    items = [
        limits.LimitItem(
            msisdn=d.msisdn, kind=drafter.kind, sign=d.sign or "", template_id=template_id
        )
        for d in drafts
    ]
    rate_code = errors.TENANT_RATE_LIMITED.code
    for _ in range(RATE_RETRIES):
        acquired = await limits.acquire(ctx, session, tenant_id=drafter.tenant.id, items=items)
        refused = acquired.rejected
        if not items or len(refused) < len(items) or refused[0].code != rate_code:
            return acquired
        await asyncio.sleep(RATE_RETRY_SECS)  # a refused request recorded nothing
    return acquired


def read_csv(path: Path, *, number_column: str = "to") -> Iterator[Recipient]:
    """Recipients from a UTF-8 CSV with a header: the number column, ``out_id``, then params.

    Every other column is a template parameter of that name; empty cells are left out.
    Streamed row by row, so a file of any size costs one row of memory.
    """
    with path.open(newline="", encoding="utf-8-sig") as handle:
        for row in csv.DictReader(handle):
            to = row.pop(number_column, None) or ""
            out_id = row.pop("out_id", None) or None
            params = {k: v for k, v in row.items() if k and v}
            yield Recipient(to, params, out_id)
