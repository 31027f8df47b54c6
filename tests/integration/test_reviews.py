"""The operator's review queue over the API and the CLI, with the audit of every decision."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from hongyan.accounts import service as accounts
from hongyan.api.context import AppContext
from hongyan.cli.main import app as cli
from hongyan.config import Settings
from hongyan.templates import service as templates
from hongyan.templates.schemas import TemplateCreate
from tests.conftest import KeyPair, make_tenant
from tests.integration.test_signs import create_sign
from tests.integration.test_templates import OTP, add_word, assert_error, submit


async def queue_of(
    client: httpx.AsyncClient, operator: KeyPair, **params: str | int | None
) -> list[dict[str, Any]]:
    response = await client.get("/v1/admin/reviews", params=params, headers=operator.basic)
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


async def review_of(
    client: httpx.AsyncClient, operator: KeyPair, subject_id: str
) -> dict[str, Any]:
    [review] = await queue_of(client, operator, subject_id=subject_id)
    return review


async def audit_entry(
    client: httpx.AsyncClient, operator: KeyPair, tenant_id: str, target_id: str
) -> list[dict[str, Any]]:
    response = await client.get(
        "/v1/admin/audit", params={"tenant_id": tenant_id}, headers=operator.basic
    )
    return [e for e in response.json()["data"] if e["target_id"] == target_id]


async def test_queue_spans_tenants_and_kinds_oldest_first(
    client: httpx.AsyncClient, ctx: AppContext, operator: KeyPair
) -> None:
    first, second = await make_tenant(ctx), await make_tenant(ctx)
    await add_word(client, second, "待审词汇", "review")
    sign = await create_sign(client, first, "队列测试")
    template = await submit(client, second, content="${name}您好,待审词汇")
    queue = await queue_of(client, operator, limit=200)
    ours = [r for r in queue if r["subject_id"] in (sign["id"], template["id"])]
    assert [(r["subject_kind"], r["tenant_id"]) for r in ours] == [
        ("sign", first.tenant_id),
        ("template", second.tenant_id),
    ]
    assert [r["id"] for r in queue] == sorted(r["id"] for r in queue)
    assert all(r["status"] == "pending" for r in queue)
    assert ours[0]["snapshot"]["name"] == "队列测试"
    assert ours[1]["snapshot"]["content"] == "${name}您好,待审词汇"
    assert ours[1]["findings"][0]["code"] == "SENSITIVE_WORD_REVIEW"
    only_templates = await queue_of(client, operator, kind="template", tenant_id=second.tenant_id)
    assert [r["subject_id"] for r in only_templates] == [template["id"]]


async def test_queue_pages_forward(
    client: httpx.AsyncClient, ctx: AppContext, operator: KeyPair
) -> None:
    pair = await make_tenant(ctx)
    ids = [(await submit(client, pair, name=f"p{i}"))["id"] for i in range(3)]
    page = await client.get(
        "/v1/admin/reviews",
        params={"tenant_id": pair.tenant_id, "limit": 2},
        headers=operator.basic,
    )
    body = page.json()
    assert [r["subject_id"] for r in body["data"]] == ids[:2]
    rest = await queue_of(
        client, operator, tenant_id=pair.tenant_id, limit=2, cursor=body["next_cursor"]
    )
    assert [r["subject_id"] for r in rest] == ids[2:]


async def test_approve_template_is_audited_and_usable(
    client: httpx.AsyncClient, tenant: KeyPair, operator: KeyPair
) -> None:
    template = await submit(client, tenant, kind="verification", content=OTP)
    review = await review_of(client, operator, template["id"])
    decided = await client.post(f"/v1/admin/reviews/{review['id']}/approve", headers=operator.basic)
    assert decided.json()["status"] == "approved"
    assert decided.json()["decided_by_key_id"] == operator.key_id
    shown = (await client.get(f"/v1/templates/{template['id']}", headers=tenant.basic)).json()
    assert shown["status"] == "approved" and shown["decided_at"] is not None
    [entry] = await audit_entry(client, operator, str(tenant.tenant_id), template["id"])
    assert entry["action"] == "template.approve" and entry["actor_key_id"] == operator.key_id
    assert entry["details"]["review_id"] == review["id"]
    rendered = await client.post(
        f"/v1/templates/{template['id']}/render",
        json={"params": {"code": "1234"}},
        headers=tenant.basic,
    )
    assert rendered.json()["text"] == "您的验证码是1234,5分钟内有效。"
    assert await queue_of(client, operator, subject_id=template["id"]) == []


async def test_reject_with_a_reason_the_tenant_sees(
    client: httpx.AsyncClient, tenant: KeyPair, operator: KeyPair
) -> None:
    template = await submit(client, tenant)
    review = await review_of(client, operator, template["id"])
    url = f"/v1/admin/reviews/{review['id']}/reject"
    no_reason = await client.post(url, json={}, headers=operator.basic)
    assert_error(no_reason, 422, "FIELD_REQUIRED", "reason")
    blank = await client.post(url, json={"reason": "   "}, headers=operator.basic)
    assert_error(blank, 422, "FIELD_REQUIRED", "reason")
    rejected = await client.post(url, json={"reason": "请注明业务场景"}, headers=operator.basic)
    assert rejected.json()["status"] == "rejected"
    shown = (await client.get(f"/v1/templates/{template['id']}", headers=tenant.basic)).json()
    assert shown["status"] == "rejected" and shown["reason"] == "请注明业务场景"
    history = await client.get(f"/v1/templates/{template['id']}/history", headers=tenant.basic)
    [version] = history.json()
    assert version["reason"] == "请注明业务场景" and version["decided_by"] == "operator"
    [entry] = await audit_entry(client, operator, str(tenant.tenant_id), template["id"])
    assert entry["action"] == "template.reject"
    assert entry["details"]["reason"] == "请注明业务场景"


async def test_sign_decisions(
    client: httpx.AsyncClient, tenant: KeyPair, operator: KeyPair
) -> None:
    approved = await create_sign(client, tenant, "通过签名")
    rejected = await create_sign(client, tenant, "驳回签名")
    for sign, action in ((approved, "approve"), (rejected, "reject")):
        review = await review_of(client, operator, sign["id"])
        await client.post(
            f"/v1/admin/reviews/{review['id']}/{action}",
            json={"reason": "商标证明缺失"} if action == "reject" else None,
            headers=operator.basic,
        )
    first = (await client.get(f"/v1/signs/{approved['id']}", headers=tenant.basic)).json()
    second = (await client.get(f"/v1/signs/{rejected['id']}", headers=tenant.basic)).json()
    assert first["status"] == "approved" and second["status"] == "rejected"
    assert second["reason"] == "商标证明缺失"
    entries = await audit_entry(client, operator, str(tenant.tenant_id), rejected["id"])
    assert [e["action"] for e in entries] == ["sign.reject"]


async def test_decisions_that_cannot_be_made(
    client: httpx.AsyncClient, tenant: KeyPair, operator: KeyPair
) -> None:
    template = await submit(client, tenant)
    review = await review_of(client, operator, template["id"])
    approve = f"/v1/admin/reviews/{review['id']}/approve"
    await client.patch(f"/v1/templates/{template['id']}", json={"name": "v2"}, headers=tenant.basic)
    superseded = await client.post(approve, headers=operator.basic)
    error = assert_error(superseded, 409, "REVIEW_ALREADY_DECIDED", "id")
    assert "superseded" in error["message"]
    current = await review_of(client, operator, template["id"])
    assert current["version"] == 2
    url = f"/v1/admin/reviews/{current['id']}/approve"
    assert (await client.post(url, headers=operator.basic)).status_code == 200
    assert_error(await client.post(url, headers=operator.basic), 409, "REVIEW_ALREADY_DECIDED")
    missing = await client.post("/v1/admin/reviews/rev_missing/approve", headers=operator.basic)
    assert_error(missing, 404, "REVIEW_NOT_FOUND", "id")
    assert_error(
        await client.get("/v1/admin/reviews/rev_missing", headers=operator.basic),
        404,
        "REVIEW_NOT_FOUND",
    )
    shown = await client.get(f"/v1/admin/reviews/{current['id']}", headers=operator.basic)
    assert shown.json()["status"] == "approved"


async def test_tenants_cannot_review(client: httpx.AsyncClient, tenant: KeyPair) -> None:
    template = await submit(client, tenant)
    assert_error(
        await client.get("/v1/admin/reviews", headers=tenant.basic), 403, "OPERATOR_REQUIRED"
    )
    assert_error(
        await client.post(f"/v1/admin/reviews/{template['id']}/approve", headers=tenant.basic),
        403,
        "OPERATOR_REQUIRED",
    )


# --- the CLI, on the embedded SQLite database -------------------------------------------------

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("HONGYAN_DATABASE_URL", raising=False)
    return tmp_path


def run_cli(data_dir: Path, *args: str) -> Any:
    """Run a command with --json and parse what it prints."""
    result = runner.invoke(cli, [*args, "--json", "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


async def _submit_template(data_dir: Path, tenant_id: str, content: str) -> str:
    ctx = AppContext.build(Settings(data_dir=data_dir))
    try:
        async with ctx.db.session() as session:
            req = TemplateCreate(kind="verification", name="login", content=content)
            template = await templates.create(session, ctx=ctx, tenant_id=tenant_id, req=req)
            return template.id
    finally:
        await ctx.db.dispose()


async def _render(data_dir: Path, tenant_id: str, template_id: str) -> tuple[str, list[str]]:
    ctx = AppContext.build(Settings(data_dir=data_dir))
    try:
        async with ctx.db.session() as session:
            template = await templates.get_approved(
                session, tenant_id=tenant_id, template_id=template_id
            )
            rendered = await templates.render_checked(
                session, ctx=ctx, tenant_id=tenant_id, template=template, params={"code": "8842"}
            )
        async with ctx.db.session() as session:
            rows = await accounts.list_audit(session, tenant_id=tenant_id, limit=50, before_id=None)
        return rendered.text, [f"{r.action}:{r.actor_role}" for r in rows]
    finally:
        await ctx.db.dispose()


def test_cli_review_then_render(data_dir: Path) -> None:
    tenant = run_cli(data_dir, "tenant", "create", "acme")
    template_id = asyncio.run(_submit_template(data_dir, tenant["id"], "验证码${code},请勿泄露"))
    other_id = asyncio.run(_submit_template(data_dir, tenant["id"], "动态码${code}"))
    queue = run_cli(data_dir, "review", "list")
    assert [r["subject_id"] for r in queue] == [template_id, other_id]
    table = runner.invoke(cli, ["review", "list", "--data-dir", str(data_dir)])
    assert table.exit_code == 0 and "template" in table.output
    approved = run_cli(data_dir, "review", "approve", queue[0]["id"])
    assert approved["status"] == "approved" and approved["decided_by"] == "cli"
    rejected = run_cli(data_dir, "review", "reject", queue[1]["id"], "--reason", "重复模板")
    assert rejected["status"] == "rejected" and rejected["reason"] == "重复模板"
    assert run_cli(data_dir, "review", "list") == []
    again = runner.invoke(cli, ["review", "approve", queue[0]["id"], "--data-dir", str(data_dir)])
    assert again.exit_code == 1 and "REVIEW_ALREADY_DECIDED" in again.output
    text, actions = asyncio.run(_render(data_dir, tenant["id"], template_id))
    assert text == "验证码8842,请勿泄露"
    assert "template.approve:cli" in actions and "template.reject:cli" in actions
