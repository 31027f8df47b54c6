"""Sensitive-word lists and the content check over the API and the service, on both backends.

The global list is shared by every test of a session: tests that change it use words of their
own and remove them again, and put back any default word they remove.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import httpx
import pytest

from hongyan.accounts import service as accounts
from hongyan.api.context import AppContext
from hongyan.compliance import service
from hongyan.compliance.cache import CACHE_KEY, MatcherCache
from hongyan.compliance.matcher import Matcher
from hongyan.compliance.schemas import WordCreate
from hongyan.db import Database
from tests.conftest import KeyPair, make_tenant


def unique(prefix: str = "词") -> str:
    """A word no other test lists: CJK prefix plus random letters, e.g. 词abcd1234."""
    return f"{prefix}{secrets.token_hex(4)}"


Json = dict[str, Any]


async def check(client: httpx.AsyncClient, who: KeyPair, text: str, **extra: object) -> Json:
    body = {"text": text, **extra}
    response = await client.post("/v1/content/check", json=body, headers=who.basic)
    assert response.status_code == 200, response.text
    result: Json = response.json()
    return result


def words_of(result: Json) -> list[str]:
    return [h["word"] for h in result["hits"]]


async def add(client: httpx.AsyncClient, who: KeyPair, path: str, **body: object) -> Json:
    response = await client.post(path, json=body, headers=who.basic)
    assert response.status_code == 201, response.text
    created: Json = response.json()
    return created


def cached(of: AppContext, tenant_id: str | None) -> list[Matcher]:
    """The matchers a context holds now (global, tenant), without asking the database."""
    cache: MatcherCache = of.caches[CACHE_KEY]
    return [cache.get("global"), cache.get(tenant_id or "global")]


# --- a tenant's own list ----------------------------------------------------------------------


async def test_tenant_word_added_checked_and_removed(
    client: httpx.AsyncClient, tenant: KeyPair
) -> None:
    word = unique()
    created = await add(client, tenant, "/v1/compliance/words", word=word, category="fraud")
    assert created["id"].startswith("wrd_") and created["tenant_id"] == tenant.tenant_id
    assert (created["action"], created["source"]) == ("block", "manual")
    listed = (await client.get("/v1/compliance/words", headers=tenant.basic)).json()["data"]
    assert [w["word"] for w in listed] == [word]  # the tenant's list holds its own words only

    result = await check(client, tenant, f"您好，{word}，谢谢")
    assert result["blocked"] is True and words_of(result) == [word]
    assert result["hits"][0]["category"] == "fraud"

    gone = await client.delete(f"/v1/compliance/words/{created['id']}", headers=tenant.basic)
    assert gone.status_code == 204
    assert words_of(await check(client, tenant, f"您好，{word}")) == []
    again = await client.get(f"/v1/compliance/words/{created['id']}", headers=tenant.basic)
    assert again.json()["error"]["code"] == "WORD_NOT_FOUND"


async def test_changes_are_audited(client: httpx.AsyncClient, ctx: AppContext) -> None:
    who = await make_tenant(ctx)
    created = await add(client, who, "/v1/compliance/words", word=unique())
    await client.delete(f"/v1/compliance/words/{created['id']}", headers=who.basic)
    await client.post("/v1/compliance/words/import", json={"content": unique()}, headers=who.basic)
    async with ctx.db.session() as session:
        entries = await accounts.list_audit(
            session, tenant_id=who.tenant_id, limit=50, before_id=None
        )
    actions = [e.action for e in entries]
    assert {"word.create", "word.delete", "words.import"} <= set(actions)
    create = next(e for e in entries if e.action == "word.create")
    assert create.target_id == created["id"] and create.actor_key_id == who.key_id


async def test_review_word_needs_review_but_does_not_block(
    client: httpx.AsyncClient, tenant: KeyPair
) -> None:
    word = unique()
    await add(client, tenant, "/v1/compliance/words", word=word, action="review")
    result = await check(client, tenant, f"【通知】{word}")
    assert (result["blocked"], result["needs_review"]) == (False, True)


async def test_spellings_of_one_word_conflict(client: httpx.AsyncClient, tenant: KeyPair) -> None:
    await add(client, tenant, "/v1/compliance/words", word="ＶＩＰ彩金")
    again = await client.post(
        "/v1/compliance/words", json={"word": "vip 彩金"}, headers=tenant.basic
    )
    assert again.status_code == 409
    error = again.json()["error"]
    assert error["code"] == "WORD_EXISTS" and "ＶＩＰ彩金" in error["message"]


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"word": "* * *"}, "WORD_INVALID", "word"),
        ({"word": "\u200b\u200b"}, "WORD_INVALID", "word"),
        ({"word": "x" * 101}, "FIELD_TOO_LONG", "word"),
        ({"word": "ok", "category": "Not A Slug"}, "FIELD_INVALID", "category"),
        ({"word": "ok", "action": "drop"}, "FIELD_INVALID", "action"),
    ],
)
async def test_invalid_words_are_refused(
    client: httpx.AsyncClient, tenant: KeyPair, body: Json, code: str, field: str
) -> None:
    response = await client.post("/v1/compliance/words", json=body, headers=tenant.basic)
    assert response.status_code == 422
    assert (response.json()["error"]["code"], response.json()["error"]["field"]) == (code, field)


async def test_scopes_and_roles(
    client: httpx.AsyncClient, ctx: AppContext, operator: KeyPair
) -> None:
    reader = await make_tenant(ctx, scopes=["read"])
    refused = await client.post("/v1/compliance/words", json={"word": "x1"}, headers=reader.basic)
    assert refused.json()["error"]["code"] == "SCOPE_MISSING"
    assert (await check(client, reader, "hello"))["blocked"] is False
    as_tenant = await client.get("/v1/admin/compliance/words", headers=reader.basic)
    assert as_tenant.json()["error"]["code"] == "OPERATOR_REQUIRED"
    as_operator = await client.get("/v1/compliance/words", headers=operator.basic)
    assert as_operator.json()["error"]["code"] == "TENANT_KEY_REQUIRED"


async def test_list_pagination_and_filters(client: httpx.AsyncClient, tenant: KeyPair) -> None:
    for n, category in enumerate(["spam", "spam", "fraud"]):
        await add(client, tenant, "/v1/compliance/words", word=f"词{n}号", category=category)
    first = (await client.get("/v1/compliance/words?limit=2", headers=tenant.basic)).json()
    assert [w["word"] for w in first["data"]] == ["词2号", "词1号"]
    second = await client.get(
        f"/v1/compliance/words?limit=2&cursor={first['next_cursor']}", headers=tenant.basic
    )
    assert [w["word"] for w in second.json()["data"]] == ["词0号"]
    spam = await client.get("/v1/compliance/words?category=spam", headers=tenant.basic)
    assert len(spam.json()["data"]) == 2
    found = await client.get("/v1/compliance/words?q=1 号", headers=tenant.basic)
    assert [w["word"] for w in found.json()["data"]] == ["词1号"]


# --- isolation --------------------------------------------------------------------------------


async def test_tenant_lists_are_isolated(client: httpx.AsyncClient, ctx: AppContext) -> None:
    a, b = await make_tenant(ctx), await make_tenant(ctx)
    word = unique()
    created = await add(client, a, "/v1/compliance/words", word=word)
    text = f"尊敬的客户：{word}"
    assert (await check(client, a, text))["blocked"] is True
    assert (await check(client, b, text))["hits"] == []

    for method in ("GET", "DELETE"):
        response = await client.request(
            method, f"/v1/compliance/words/{created['id']}", headers=b.basic
        )
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "WORD_NOT_FOUND"
    listed_b = (await client.get("/v1/compliance/words", headers=b.basic)).json()["data"]
    assert listed_b == []
    assert word not in (await client.get("/v1/compliance/words/export", headers=b.basic)).text
    # B may list the same word itself: the lists do not collide.
    await add(client, b, "/v1/compliance/words", word=word)
    still = await client.get(f"/v1/compliance/words/{created['id']}", headers=a.basic)
    assert still.status_code == 200


async def test_operator_cannot_reach_tenant_words_through_admin(
    client: httpx.AsyncClient, tenant: KeyPair, operator: KeyPair
) -> None:
    created = await add(client, tenant, "/v1/compliance/words", word=unique())
    response = await client.delete(
        f"/v1/admin/compliance/words/{created['id']}", headers=operator.basic
    )
    assert response.json()["error"]["code"] == "WORD_NOT_FOUND"


# --- the global list --------------------------------------------------------------------------


async def test_global_word_applies_to_every_tenant(
    client: httpx.AsyncClient, ctx: AppContext, operator: KeyPair
) -> None:
    a, b = await make_tenant(ctx), await make_tenant(ctx)
    word = unique("全局")
    created = await add(
        client, operator, "/v1/admin/compliance/words", word=word, category="spam", action="review"
    )
    assert created["tenant_id"] is None
    try:
        for who in (a, b):
            result = await check(client, who, f"hi {word}")
            assert words_of(result) == [word] and result["needs_review"] is True
        assert (await client.get("/v1/compliance/words", headers=a.basic)).json()["data"] == []
        admin_check = await client.post(
            "/v1/admin/content/check", json={"text": word}, headers=operator.basic
        )
        assert words_of(admin_check.json()) == [word]
    finally:
        gone = await client.delete(
            f"/v1/admin/compliance/words/{created['id']}", headers=operator.basic
        )
    assert gone.status_code == 204
    assert (await check(client, a, f"hi {word}"))["hits"] == []


async def test_tenant_cannot_delete_a_global_word(
    client: httpx.AsyncClient, tenant: KeyPair, operator: KeyPair
) -> None:
    listed = await client.get("/v1/admin/compliance/words?limit=1", headers=operator.basic)
    global_id = listed.json()["data"][0]["id"]
    response = await client.delete(f"/v1/compliance/words/{global_id}", headers=tenant.basic)
    assert response.json()["error"]["code"] == "WORD_NOT_FOUND"
    assert (
        await client.get(f"/v1/admin/compliance/words/{global_id}", headers=operator.basic)
    ).status_code == 200


async def test_defaults_are_seeded_and_can_be_removed_and_restored(
    client: httpx.AsyncClient, tenant: KeyPair, operator: KeyPair
) -> None:
    found = await client.get("/v1/admin/compliance/words?q=百家乐", headers=operator.basic)
    (default,) = [w for w in found.json()["data"] if w["word"] == "百家乐"]
    assert (default["category"], default["source"]) == ("gambling", "default")
    assert words_of(await check(client, tenant, "线上百家乐")) == ["百家乐"]

    removed = await client.delete(
        f"/v1/admin/compliance/words/{default['id']}", headers=operator.basic
    )
    assert removed.status_code == 204
    try:
        assert words_of(await check(client, tenant, "线上百家乐")) == []
    finally:
        restored = await client.post(
            "/v1/admin/compliance/words/import-defaults", headers=operator.basic
        )
    assert restored.json()["added"] == 1
    assert words_of(await check(client, tenant, "线上百家乐")) == ["百家乐"]


async def test_evasions_are_caught_through_the_api(
    client: httpx.AsyncClient, tenant: KeyPair
) -> None:
    cases = {
        "澳门赌\u200b场欢迎您": "赌场",
        "网上赌 * 博": "赌博",
        "免费ＳＥＸ视频": "sex",
        "click for s.e.x now": "sex",
        "PORN here": "porn",
    }
    for text, word in cases.items():
        result = await check(client, tenant, text)
        assert word in words_of(result), text
        hit = next(h for h in result["hits"] if h["word"] == word)
        assert text[hit["start"] : hit["end"]] == hit["matched"]
    for harmless in ("Welcome to Essex", "this exam is on Monday", "您的验证码是123456"):
        assert (await check(client, tenant, harmless))["hits"] == [], harmless


# --- import and export ------------------------------------------------------------------------


async def test_import_export_round_trip(client: httpx.AsyncClient, ctx: AppContext) -> None:
    a, b = await make_tenant(ctx), await make_tenant(ctx)
    text_file = "# gambling words\n博彩送金\n真人荷官\treview\n\n博彩送金\n"
    first = await client.post(
        "/v1/compliance/words/import",
        json={"content": text_file, "category": "gambling"},
        headers=a.basic,
    )
    assert first.json() == {"added": 2, "updated": 0, "unchanged": 0}
    csv_file = "word,category,action\n兼职刷单,fraud,block\n真人荷官,gambling,block\n"
    second = await client.post(
        "/v1/compliance/words/import",
        content=csv_file.encode(),
        headers={**a.basic, "Content-Type": "text/csv"},
    )
    assert second.json() == {"added": 1, "updated": 1, "unchanged": 0}

    exported = await client.get("/v1/compliance/words/export", headers=a.basic)
    assert exported.headers["content-type"].startswith("text/csv")
    assert exported.text == (
        "word,category,action\n兼职刷单,fraud,block\n博彩送金,gambling,block\n"
        "真人荷官,gambling,block\n"
    )
    into_b = await client.post(
        "/v1/compliance/words/import", json={"content": exported.text}, headers=b.basic
    )
    assert into_b.json()["added"] == 3
    assert (await client.get("/v1/compliance/words/export", headers=b.basic)).text == exported.text
    again = await client.post(
        "/v1/compliance/words/import", json={"content": exported.text}, headers=a.basic
    )
    assert again.json() == {"added": 0, "updated": 0, "unchanged": 3}


async def test_raw_text_import_takes_options_from_the_query(
    client: httpx.AsyncClient, tenant: KeyPair
) -> None:
    response = await client.post(
        "/v1/compliance/words/import?category=drugs&action=review",
        content="\ufeff迷药代购\n".encode(),
        headers={**tenant.basic, "Content-Type": "text/plain; charset=utf-8"},
    )
    assert response.json()["added"] == 1
    (row,) = (await client.get("/v1/compliance/words", headers=tenant.basic)).json()["data"]
    assert (row["word"], row["category"], row["action"], row["source"]) == (
        "迷药代购",
        "drugs",
        "review",
        "import",
    )


@pytest.mark.parametrize(
    ("body", "line"),
    [
        ({"content": "好词一\n好词二\n坏词\tdrop\n"}, 3),
        ({"content": "word,action\n好词一,block\n***,block\n", "format": "csv"}, 3),
        ({"content": "category\n好词\n", "format": "csv"}, 1),
        ({"content": "word,category\n好词,Bad Category\n"}, 2),
    ],
)
async def test_bad_import_changes_nothing(
    client: httpx.AsyncClient, tenant: KeyPair, body: Json, line: int
) -> None:
    response = await client.post("/v1/compliance/words/import", json=body, headers=tenant.basic)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "IMPORT_FILE_INVALID" and f"line {line}:" in error["message"]
    assert (await client.get("/v1/compliance/words", headers=tenant.basic)).json()["data"] == []


async def test_import_body_errors(client: httpx.AsyncClient, tenant: KeyPair) -> None:
    not_json = await client.post(
        "/v1/compliance/words/import",
        content=b"{oops",
        headers={**tenant.basic, "Content-Type": "application/json"},
    )
    assert not_json.json()["error"]["code"] == "BODY_NOT_JSON"
    missing = await client.post("/v1/compliance/words/import", json={}, headers=tenant.basic)
    assert (missing.json()["error"]["code"], missing.json()["error"]["field"]) == (
        "FIELD_REQUIRED",
        "content",
    )
    not_utf8 = await client.post(
        "/v1/compliance/words/import",
        content="赌博".encode("gbk"),
        headers={**tenant.basic, "Content-Type": "text/plain"},
    )
    assert not_utf8.json()["error"]["code"] == "FIELD_INVALID"


async def test_concurrent_imports_of_one_list(ctx: AppContext) -> None:
    who = await make_tenant(ctx)
    content = "\n".join(f"并发{n}" for n in range(50))

    async def run() -> service.MergeResult:
        async with ctx.db.session() as session:
            return await service.import_words(
                session, ctx=ctx, actor=accounts.CLI_ACTOR, tenant_id=who.tenant_id, content=content
            )

    results = await asyncio.gather(run(), run())
    assert sorted(r.added for r in results) == [0, 50]
    async with ctx.db.session() as session:
        assert len(await service.all_words(session, tenant_id=who.tenant_id)) == 50


# --- matchers: the service interface and cross-process refresh --------------------------------


async def test_scan_runs_global_and_tenant_lists_sorted_by_start(ctx: AppContext) -> None:
    who = await make_tenant(ctx)
    word = unique()
    async with ctx.db.session() as session:
        await service.add_word(
            session,
            ctx=ctx,
            actor=accounts.CLI_ACTOR,
            tenant_id=who.tenant_id,
            req=WordCreate(word=word),
        )
    text = f"{word} 然后 澳门赌场"
    async with ctx.db.session() as session:
        both = await service.scan(session, ctx=ctx, tenant_id=who.tenant_id, text=text)
        only_global = await service.scan(session, ctx=ctx, tenant_id=None, text=text)
    assert [h.word for h in both] == [word, "赌场"]
    assert [h.start for h in both] == sorted(h.start for h in both)
    assert [h.word for h in only_global] == ["赌场"]


async def test_matcher_is_cached_not_rebuilt_per_message(ctx: AppContext) -> None:
    who = await make_tenant(ctx)
    async with ctx.db.session() as session:
        first = await service.matchers(session, ctx=ctx, tenant_id=who.tenant_id)
        await asyncio.sleep(0)
        second = await service.matchers(session, ctx=ctx, tenant_id=who.tenant_id)
    assert all(a is b for a, b in zip(first, second, strict=True))
    assert isinstance(ctx.caches[CACHE_KEY], MatcherCache)


async def test_second_process_sees_changes_without_restart(
    client: httpx.AsyncClient, ctx: AppContext, tenant: KeyPair, operator: KeyPair
) -> None:
    # Another process: its own engine and cache on the same database.
    settings = ctx.settings.model_copy(update={"compliance_refresh_secs": 0.2})
    other = AppContext.build(settings, Database(ctx.db.url))
    tenant_word, global_word = unique(), unique("全局")
    text = f"{tenant_word} {global_word}"

    async def other_sees() -> list[str]:
        async with other.db.session() as session:
            hits = await service.scan(session, ctx=other, tenant_id=tenant.tenant_id, text=text)
        return [h.word for h in hits]

    try:
        assert await other_sees() == []
        before = cached(other, tenant.tenant_id)
        await add(client, tenant, "/v1/compliance/words", word=tenant_word)
        created = await add(client, operator, "/v1/admin/compliance/words", word=global_word)
        await asyncio.sleep(0.25)
        assert await other_sees() == [tenant_word, global_word]
        after = cached(other, tenant.tenant_id)
        assert all(a is not b for a, b in zip(before, after, strict=True))  # both rebuilt

        await client.delete(f"/v1/admin/compliance/words/{created['id']}", headers=operator.basic)
        await asyncio.sleep(0.25)
        assert await other_sees() == [tenant_word]
    finally:
        await other.db.dispose()


# --- the content check ------------------------------------------------------------------------


async def test_content_check_counts_segments_with_the_sign(
    client: httpx.AsyncClient, tenant: KeyPair
) -> None:
    text = "您的订单已发货，" + "请注意查收。" * 10  # 68 characters
    result = await check(client, tenant, text, sign="鸿雁科技")
    assert result["display_text"] == f"【鸿雁科技】{text}"
    assert (result["encoding"], result["characters"]) == ("ucs2", 74)
    assert (result["segments"], result["per_segment"]) == (2, 67)
    assert "".join(result["parts"]) == result["display_text"]
    assert result["opt_out"] is None and result["blocked"] is False

    plain = await check(client, tenant, "Your code is 123456", mainland=False, sign="Acme")
    assert plain["display_text"] == "Your code is 123456"
    assert (plain["encoding"], plain["segments"], plain["per_segment"]) == ("gsm7", 1, 160)


async def test_marketing_check_reports_the_opt_out(
    client: httpx.AsyncClient, tenant: KeyPair
) -> None:
    without = await check(client, tenant, "双十一全场五折", template_kind="marketing")
    assert without["opt_out"]["present"] is False and without["opt_out"]["phrases"]
    with_it = await check(client, tenant, "双十一全场五折，回 t 退订", template_kind="marketing")
    assert with_it["opt_out"]["present"] is True
    notice = await check(client, tenant, "您的快递已到", template_kind="notification")
    assert notice["opt_out"] is None
