"""Rules of the compliance domain: sensitive-word lists, their matchers, content checks.

Two lists apply to a tenant's message: the operator's global list and the tenant's own. Each is
compiled into its own automaton, cached per process with the revision it was built from (see
``cache``); ``scan`` runs both.

The shipped default words (``hongyan/data/sensitive_words``) seed the global list once, in the
transaction that first needs the global list (the global revision row records that it was
done). They are ordinary rows after that: operators remove the ones they do not want, and
``import_defaults`` merges the shipped lists in again (after an upgrade, say).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import cast

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session as SyncSession

from hongyan import errors
from hongyan.accounts.service import Actor, audit
from hongyan.api.context import AppContext
from hongyan.compliance import repository as repo
from hongyan.compliance import wordfile
from hongyan.compliance.cache import cache_of, monotonic
from hongyan.compliance.matcher import Action, Hit, Matcher, Word, load_default_words, normalize
from hongyan.compliance.schemas import ImportFormat, WordCreate
from hongyan.ids import new_id
from hongyan.models import SensitiveWord
from hongyan.models.compliance import GLOBAL_SCOPE, WORD_MAX_LENGTH

SYSTEM_ACTOR = Actor(role="system")
# One import at most; a larger list is imported in parts (each part is one transaction).
IMPORT_MAX_WORDS = 100_000
# Lists larger than this are compiled in a thread so the event loop keeps serving requests.
_BUILD_IN_THREAD = 5_000


def scope_of(tenant_id: str | None) -> str:
    """The revision scope of a list: the tenant id, or "global"."""
    return tenant_id or GLOBAL_SCOPE


def _tenant_of(scope: str) -> str | None:
    return None if scope == GLOBAL_SCOPE else scope


# --- matching ---------------------------------------------------------------------------------


async def scan(
    session: AsyncSession, *, ctx: AppContext, tenant_id: str | None, text: str
) -> list[Hit]:
    """Hits of the global list plus the tenant's own list (tenant_id None: global only)."""
    found = await matchers(session, ctx=ctx, tenant_id=tenant_id)
    normalized = normalize(text)  # once for both lists, not once per matcher
    hits = [hit for m in found for hit in m.find(text, normalized=normalized)]
    if len(hits) > 1:
        hits.sort(key=lambda h: (h.start, h.end, h.category, h.word))
    return hits


async def matchers(
    session: AsyncSession, *, ctx: AppContext, tenant_id: str | None
) -> list[Matcher]:
    """The compiled global matcher and, for a tenant, its own; rebuilt only when a list changed."""
    cache = cache_of(ctx.caches, ctx.settings.compliance_refresh_secs)
    now = monotonic()
    found = cache.fresh(tenant_id, now)  # the usual case: no list is due for a check
    if found is not None:
        return found
    scopes = [GLOBAL_SCOPE] if tenant_id is None else [GLOBAL_SCOPE, tenant_id]
    due = cache.due(scopes, now)
    if due:
        # The revisions are read BEFORE the words: a change committed in between then makes
        # the revision look old, costing one extra rebuild, never a stale automaton kept.
        revisions = await repo.get_revisions(session, due)
        if GLOBAL_SCOPE in due and GLOBAL_SCOPE not in revisions:
            await ensure_defaults(session)
            revisions.update(await repo.get_revisions(session, [GLOBAL_SCOPE]))
        for scope in due:
            revision = revisions.get(scope, 0)  # 0: a tenant that never listed a word
            if cache.revision(scope) == revision:
                cache.confirm(scope, now)
            else:
                cache.put(scope, revision, await _build(session, scope), now)
    return cache.remember(tenant_id, scopes)


async def _build(session: AsyncSession, scope: str) -> Matcher:
    rows = await repo.matcher_words(session, _tenant_of(scope))
    words = [Word(text, category, cast(Action, action)) for text, category, action in rows]
    if len(words) > _BUILD_IN_THREAD:
        return await asyncio.to_thread(Matcher.build, words)
    return Matcher.build(words)


async def _changed(session: AsyncSession, *, ctx: AppContext, tenant_id: str | None) -> int:
    """Bump a list's revision in this transaction; this process rechecks it once committed.

    Call it BEFORE reading the rows to change: on PostgreSQL the upsert locks the revision row,
    so concurrent changes of one list run one after the other.
    """
    scope = scope_of(tenant_id)
    if tenant_id is None:
        await ensure_defaults(session)
    revision = await repo.bump_revision(session, scope)
    sync: SyncSession = session.sync_session
    pending: set[str] = sync.info.setdefault("compliance.changed", set())
    if not pending:
        cache = cache_of(ctx.caches, ctx.settings.compliance_refresh_secs)

        def expire(_: SyncSession) -> None:
            for changed in sync.info.pop("compliance.changed", set()):
                cache.expire(changed)

        event.listen(sync, "after_commit", expire, once=True)
    pending.add(scope)
    return revision


# --- the shipped defaults ---------------------------------------------------------------------


async def ensure_defaults(session: AsyncSession) -> bool:
    """Seed the global list with the shipped words once per database; True when done now."""
    if await repo.get_revisions(session, [GLOBAL_SCOPE]):
        return False
    # Whoever creates the global revision row seeds; a concurrent seeder waits on the row and
    # then finds it taken (PostgreSQL), so the words are inserted exactly once.
    if not await repo.create_revision(session, GLOBAL_SCOPE):
        return False
    result = await _merge(session, tenant_id=None, words=load_default_words(), source="default")
    await audit(
        session,
        SYSTEM_ACTOR,
        "words.seed_defaults",
        tenant_id=None,
        details={"added": result.added},
    )
    return True


async def import_defaults(session: AsyncSession, *, ctx: AppContext, actor: Actor) -> MergeResult:
    """Merge the shipped lists into the global list again (removed defaults come back)."""
    await _changed(session, ctx=ctx, tenant_id=None)
    result = await _merge(session, tenant_id=None, words=load_default_words(), source="default")
    await audit(session, actor, "words.import_defaults", tenant_id=None, details=result.as_dict())
    return result


# --- changing a list --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MergeResult:
    added: int
    updated: int
    unchanged: int

    def as_dict(self) -> dict[str, int]:
        return {"added": self.added, "updated": self.updated, "unchanged": self.unchanged}


def checked_word(text: str, category: str, action: str) -> tuple[Word, str]:
    """Validate one word; returns it with its normalized form, or raises WORD_INVALID."""
    text = text.strip()
    if not text or len(text) > WORD_MAX_LENGTH:
        raise errors.WORD_INVALID(
            field="word", word=text, reason=f"a word has 1 to {WORD_MAX_LENGTH} characters"
        )
    key = normalize(text)
    if not key:
        raise errors.WORD_INVALID(
            field="word", word=text, reason="only spaces, punctuation or invisible characters"
        )
    if not wordfile.valid_category(category):
        raise errors.CATEGORY_INVALID(field="category", category=category)
    if action not in wordfile.ACTIONS:
        raise errors.WORD_INVALID(field="action", word=text, reason=f"unknown action {action!r}")
    return Word(text, category, cast(Action, action)), key


async def _merge(
    session: AsyncSession, *, tenant_id: str | None, words: list[Word], source: str
) -> MergeResult:
    """Add new words, update the category/action of listed ones; later duplicates win."""
    wanted = {normalize(w.text): w for w in words}
    wanted.pop("", None)
    listed = await repo.words_by_normalized(session, tenant_id, wanted)
    new_rows: list[SensitiveWord] = []
    updated = 0
    for key, word in wanted.items():
        row = listed.get(key)
        if row is None:
            new_rows.append(_row(tenant_id, word, key, source))
        elif (row.category, row.action) != (word.category, word.action):
            row.category, row.action = word.category, word.action
            updated += 1
    await repo.add_words(session, new_rows)
    return MergeResult(len(new_rows), updated, len(wanted) - len(new_rows) - updated)


def _row(tenant_id: str | None, word: Word, key: str, source: str) -> SensitiveWord:
    return SensitiveWord(
        id=new_id("wrd"),
        tenant_id=tenant_id,
        word=word.text,
        normalized=key,
        category=word.category,
        action=word.action,
        source=source,
    )


async def add_word(
    session: AsyncSession, *, ctx: AppContext, actor: Actor, tenant_id: str | None, req: WordCreate
) -> SensitiveWord:
    """Add one word to a tenant's list (or the global one); WORD_EXISTS when listed already."""
    word, key = checked_word(req.word, req.category, req.action)
    await _changed(session, ctx=ctx, tenant_id=tenant_id)
    listed = (await repo.words_by_normalized(session, tenant_id, [key])).get(key)
    if listed is not None:
        raise errors.WORD_EXISTS(
            field="word",
            word=word.text,
            existing=listed.word,
            category=listed.category,
            action=listed.action,
        )
    row = _row(tenant_id, word, key, "manual")
    await repo.add_words(session, [row])
    details = {"word": row.word, "category": row.category, "action": row.action}
    await audit(
        session, actor, "word.create", tenant_id=tenant_id, target_id=row.id, details=details
    )
    return row


async def import_words(
    session: AsyncSession,
    *,
    ctx: AppContext,
    actor: Actor,
    tenant_id: str | None,
    content: str,
    fmt: ImportFormat = "auto",
    category: str = "custom",
    action: str = "block",
) -> MergeResult:
    """Merge a word file into a list: all of it or, at the first bad line, nothing."""
    if not wordfile.valid_category(category):
        raise errors.CATEGORY_INVALID(field="category", category=category)
    try:
        entries = wordfile.parse(content, fmt=fmt, category=category, action=action)
    except wordfile.WordFileError as exc:
        raise errors.IMPORT_FILE_INVALID(
            field="content", line=exc.line, reason=exc.reason
        ) from None
    if len(entries) > IMPORT_MAX_WORDS:
        raise errors.IMPORT_TOO_LARGE(field="content", count=len(entries), limit=IMPORT_MAX_WORDS)
    words = []
    for entry in entries:
        try:
            words.append(checked_word(entry.word, entry.category, entry.action)[0])
        except errors.HongyanError as exc:
            reason = exc.params.get("reason") or exc.message()
            raise errors.IMPORT_FILE_INVALID(
                field="content", line=entry.line, reason=reason
            ) from None
    await _changed(session, ctx=ctx, tenant_id=tenant_id)
    result = await _merge(session, tenant_id=tenant_id, words=words, source="import")
    details = {**result.as_dict(), "lines": len(entries), "category": category}
    await audit(session, actor, "words.import", tenant_id=tenant_id, details=details)
    return result


async def remove_word(
    session: AsyncSession, *, ctx: AppContext, actor: Actor, tenant_id: str | None, word_id: str
) -> SensitiveWord:
    """Remove one word of this list; WORD_NOT_FOUND for another list's word."""
    await _changed(session, ctx=ctx, tenant_id=tenant_id)  # first: it serializes the writers
    row = await get_word(session, tenant_id=tenant_id, word_id=word_id)
    await repo.delete_word(session, row)
    details = {"word": row.word, "category": row.category, "action": row.action}
    await audit(
        session, actor, "word.delete", tenant_id=tenant_id, target_id=row.id, details=details
    )
    return row


async def remove_words(
    session: AsyncSession,
    *,
    ctx: AppContext,
    actor: Actor,
    tenant_id: str | None,
    words: list[str] | None = None,
    category: str | None = None,
    defaults_only: bool = False,
) -> int:
    """Remove the listed words matching every filter given (spelling, category, shipped)."""
    if not words and category is None and not defaults_only:
        raise errors.FIELD_REQUIRED(field="words")
    await _changed(session, ctx=ctx, tenant_id=tenant_id)
    keys = {normalize(w) for w in words or []}
    chosen = [
        row.id
        for row in await repo.all_words(session, tenant_id)
        if (not keys or row.normalized in keys)
        and (category is None or row.category == category)
        and (not defaults_only or row.source == "default")
    ]
    count = await repo.delete_words(session, tenant_id, chosen)
    details = {"removed": count, "words": (words or [])[:50], "category": category}
    await audit(session, actor, "words.remove", tenant_id=tenant_id, details=details)
    return count


# --- reading a list ---------------------------------------------------------------------------


async def get_word(session: AsyncSession, *, tenant_id: str | None, word_id: str) -> SensitiveWord:
    """A word of this list (tenant's or global); WORD_NOT_FOUND for any other list's word."""
    row = await repo.get_word(session, word_id)
    if row is None or row.tenant_id != tenant_id:
        raise errors.WORD_NOT_FOUND(field="id", id=word_id)
    return row


async def list_words(
    session: AsyncSession,
    *,
    tenant_id: str | None,
    limit: int,
    before_id: str | None,
    category: str | None = None,
    action: str | None = None,
    q: str | None = None,
) -> list[SensitiveWord]:
    """One page of a list, newest first; ``q`` finds words containing it (normalized)."""
    if tenant_id is None:
        await ensure_defaults(session)
    needle = normalize(q) if q else None
    return await repo.list_words(
        session,
        tenant_id=tenant_id,
        limit=limit,
        before_id=before_id,
        category=category,
        action=action,
        normalized_contains=needle,
    )


async def all_words(session: AsyncSession, *, tenant_id: str | None) -> list[SensitiveWord]:
    """Every word of a list, by category then normalized form."""
    if tenant_id is None:
        await ensure_defaults(session)
    return await repo.all_words(session, tenant_id)


async def export_csv(session: AsyncSession, *, tenant_id: str | None) -> str:
    """A list as CSV (word, category, action): the format import reads back."""
    rows = await all_words(session, tenant_id=tenant_id)
    return wordfile.to_csv((r.word, r.category, r.action) for r in rows)
