"""Templates over the API: automatic review, states, history, isolation, rendering."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from hongyan import errors
from hongyan.api.context import AppContext
from hongyan.templates import service as templates
from tests.conftest import KeyPair, make_tenant

COMPANY = {
    "company_name": "杭州鸿雁科技有限公司",
    "registration_number": "91330100MA2KXXXX1X",
    "legal_representative": "张三",
    "contact_name": "李四",
    "contact_phone": "13800138000",
}
OTP = "您的验证码是${code},5分钟内有效。"
NOTICE = "尊敬的${name},您的订单${order}已发货。"


def assert_error(
    response: httpx.Response, status: int, code: str, field: str | None = None
) -> dict[str, Any]:
    """The response is this catalog error (naming field when given)."""
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code, error
    if field is not None:
        assert error["field"] == field, error
    return error


async def verified_tenant(client: httpx.AsyncClient, ctx: AppContext, operator: KeyPair) -> KeyPair:
    """A tenant whose enterprise verification the operator approved."""
    pair = await make_tenant(ctx)
    submitted = await client.post("/v1/tenant/verification", json=COMPANY, headers=pair.basic)
    assert submitted.status_code == 200, submitted.text
    approved = await client.post(
        f"/v1/admin/tenants/{pair.tenant_id}/verification/approve", headers=operator.basic
    )
    assert approved.json()["verification"]["status"] == "verified"
    return pair


async def add_word(client: httpx.AsyncClient, pair: KeyPair, word: str, action: str) -> None:
    """Put a word on the tenant's own sensitive-word list."""
    response = await client.post(
        "/v1/compliance/words",
        json={"word": word, "category": "custom", "action": action},
        headers=pair.basic,
    )
    assert response.status_code == 201, response.text


async def submit(client: httpx.AsyncClient, pair: KeyPair, **body: object) -> dict[str, Any]:
    """POST /v1/templates; notification defaults; the created template."""
    body = {"kind": "notification", "name": "t", "content": NOTICE, **body}
    response = await client.post("/v1/templates", json=body, headers=pair.basic)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def codes(template: dict[str, Any]) -> list[str]:
    return [f["code"] for f in template["findings"]]


async def audit_of(client: httpx.AsyncClient, operator: KeyPair, tenant_id: str) -> list[Any]:
    response = await client.get(
        "/v1/admin/audit", params={"tenant_id": tenant_id}, headers=operator.basic
    )
    return list(response.json()["data"])


# --- submission and automatic review ----------------------------------------------------------


async def test_clean_template_waits_for_an_operator(
    client: httpx.AsyncClient, tenant: KeyPair
) -> None:
    created = await submit(
        client,
        tenant,
        variables={"order": {"type": "digits", "max_length": 20}},
        remark="order shipped",
    )
    assert created["id"].startswith("tpl_")
    assert created["status"] == "pending" and created["findings"] == []
    assert created["variable_names"] == ["name", "order"]
    assert created["variables"] == {"order": {"type": "digits", "max_length": 20}}
    assert created["version"] == 1 and created["decided_at"] is None
    shown = await client.get(f"/v1/templates/{created['id']}", headers=tenant.basic)
    assert shown.json() == created


async def test_trusted_tenant_is_approved_at_once_and_audited(
    client: httpx.AsyncClient, ctx: AppContext, operator: KeyPair
) -> None:
    trusted = await make_tenant(ctx, trusted=True)
    created = await submit(client, trusted, kind="verification", content=OTP)
    assert created["status"] == "approved" and created["decided_at"] is not None
    entries = await audit_of(client, operator, str(trusted.tenant_id))
    auto = [e for e in entries if e["target_id"] == created["id"]]
    assert [e["action"] for e in auto] == ["template.auto_approve"]
    assert auto[0]["actor_role"] == "system"


async def test_verification_template_needs_exactly_one_variable(
    client: httpx.AsyncClient, tenant: KeyPair, operator: KeyPair
) -> None:
    two = await submit(client, tenant, kind="verification", content="验证码${a}${b}")
    assert two["status"] == "rejected" and codes(two) == ["VERIFICATION_VARIABLE_COUNT"]
    finding = two["findings"][0]
    assert finding["severity"] == "reject" and finding["detail"] == {"count": 2}
    assert "exactly one variable" in finding["message"]
    none = await submit(client, tenant, kind="verification", content="您好,欢迎使用。")
    assert codes(none) == ["VERIFICATION_VARIABLE_COUNT"]
    entries = await audit_of(client, operator, str(tenant.tenant_id))
    rejected = [e for e in entries if e["target_id"] == two["id"]]
    assert rejected[0]["action"] == "template.auto_reject"
    assert rejected[0]["details"]["findings"] == ["VERIFICATION_VARIABLE_COUNT"]


async def test_reasons_are_in_the_callers_language(
    client: httpx.AsyncClient, tenant: KeyPair
) -> None:
    created = await submit(client, tenant, kind="verification", content="验证码${a}${b}")
    shown = await client.get(
        f"/v1/templates/{created['id']}", headers={**tenant.basic, "Accept-Language": "zh-CN"}
    )
    assert "验证码模板必须且只能有一个变量" in shown.json()["findings"][0]["message"]


async def test_every_reason_is_listed_at_once(
    client: httpx.AsyncClient, ctx: AppContext, operator: KeyPair
) -> None:
    pair = await verified_tenant(client, ctx, operator)
    content = "赌博优惠 ${1x} 点击 https://evil.example/x ${a} " + "很" * 480
    created = await submit(
        client, pair, kind="marketing", content=content, variables={"ghost": {"type": "text"}}
    )
    assert created["status"] == "rejected"
    assert codes(created) == [
        "CONTENT_TOO_LONG",
        "VARIABLE_NAME_INVALID",
        "VARIABLE_RULE_UNUSED",
        "OPT_OUT_MISSING",
        "LINK_NOT_ALLOWED",
        "SENSITIVE_WORD",
    ]
    by_code = {f["code"]: f for f in created["findings"]}
    assert by_code["LINK_NOT_ALLOWED"]["detail"]["host"] == "evil.example"
    assert by_code["SENSITIVE_WORD"]["detail"]["word"] == "赌博"
    assert by_code["VARIABLE_NAME_INVALID"]["detail"] == {"variable": "1x"}


async def test_marketing_needs_an_opt_out_instruction(
    client: httpx.AsyncClient, ctx: AppContext, operator: KeyPair
) -> None:
    pair = await verified_tenant(client, ctx, operator)
    without = await submit(client, pair, kind="marketing", content="双十一全场五折!")
    assert codes(without) == ["OPT_OUT_MISSING"]
    assert without["findings"][0]["detail"]["example"] == "拒收请回复R"
    for phrase in ("拒收请回复R", "回T退订", "reply stop  to opt out"):
        ok = await submit(client, pair, kind="marketing", content=f"双十一全场五折!{phrase}")
        assert ok["status"] == "pending" and ok["findings"] == [], phrase


async def test_opt_out_phrases_are_configurable(
    client: httpx.AsyncClient, ctx: AppContext, operator: KeyPair, monkeypatch: pytest.MonkeyPatch
) -> None:
    pair = await verified_tenant(client, ctx, operator)
    monkeypatch.setattr(ctx.settings, "template_opt_out_phrases", ["退订请回复0000"])
    custom = await submit(client, pair, kind="marketing", content="新品上市,退订请回复0000")
    assert custom["findings"] == []
    default = await submit(client, pair, kind="marketing", content="新品上市,回T退订")
    assert codes(default) == ["OPT_OUT_MISSING"]


async def test_links_only_to_allowed_domains(
    client: httpx.AsyncClient, tenant: KeyPair, ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = "订单${order}已发货,详情见 https://m.shop.example.com/o"
    refused = await submit(client, tenant, content=text)
    assert codes(refused) == ["LINK_NOT_ALLOWED"]
    monkeypatch.setattr(ctx.settings, "link_allowed_domains", ["shop.example.com"])
    allowed = await submit(client, tenant, content=text)
    assert allowed["findings"] == [] and allowed["status"] == "pending"
    bare = await submit(client, tenant, content="订单${order}已发货,详见 t.cn/abc")
    assert codes(bare) == ["LINK_NOT_ALLOWED"]


async def test_blocked_and_review_words(
    client: httpx.AsyncClient, ctx: AppContext, operator: KeyPair
) -> None:
    trusted = await make_tenant(ctx, trusted=True)
    await add_word(client, trusted, "蓝鲸暗号", "block")
    await add_word(client, trusted, "复核专用词", "review")
    blocked = await submit(client, trusted, content="${name}您好,蓝鲸暗号已更新")
    assert blocked["status"] == "rejected" and codes(blocked) == ["SENSITIVE_WORD"]
    review = await submit(client, trusted, content="${name}您好,复核专用词活动开始")
    # Trusted, but a review word still needs an operator, who sees the finding.
    assert review["status"] == "pending" and codes(review) == ["SENSITIVE_WORD_REVIEW"]
    assert review["findings"][0]["severity"] == "review"
    queue = await client.get(
        "/v1/admin/reviews", params={"tenant_id": trusted.tenant_id}, headers=operator.basic
    )
    [item] = [r for r in queue.json()["data"] if r["subject_id"] == review["id"]]
    assert item["findings"][0]["detail"]["word"] == "复核专用词"


async def test_marketing_and_international_need_a_verified_enterprise(
    client: httpx.AsyncClient, tenant: KeyPair, ctx: AppContext, operator: KeyPair
) -> None:
    body = {"kind": "marketing", "name": "m", "content": "上新啦,回T退订"}
    refused = await client.post("/v1/templates", json=body, headers=tenant.basic)
    error = assert_error(refused, 403, "TEMPLATE_NEEDS_VERIFIED_ENTERPRISE", "kind")
    assert "unverified" in error["message"] and "/v1/tenant/verification" in error["action"]
    international = {"kind": "notification", "name": "i", "content": NOTICE, "international": True}
    refused = await client.post("/v1/templates", json=international, headers=tenant.basic)
    assert_error(refused, 403, "TEMPLATE_NEEDS_VERIFIED_ENTERPRISE", "international")
    plain = await submit(client, tenant)
    changed = await client.patch(
        f"/v1/templates/{plain['id']}", json={"kind": "marketing"}, headers=tenant.basic
    )
    assert_error(changed, 403, "TEMPLATE_NEEDS_VERIFIED_ENTERPRISE", "kind")
    verified = await verified_tenant(client, ctx, operator)
    assert (await submit(client, verified, **international))["status"] == "pending"


async def test_field_limits(client: httpx.AsyncClient, tenant: KeyPair) -> None:
    body: dict[str, Any] = {"kind": "notification", "name": "n" * 31, "content": NOTICE}
    assert_error(
        await client.post("/v1/templates", json=body, headers=tenant.basic),
        422,
        "FIELD_TOO_LONG",
        "name",
    )
    body = {"kind": "promo", "name": "n", "content": NOTICE}
    assert_error(
        await client.post("/v1/templates", json=body, headers=tenant.basic),
        422,
        "FIELD_INVALID",
        "kind",
    )
    body = {"kind": "notification", "name": "n", "content": NOTICE}
    body["variables"] = {"x": {"type": "x"}}
    assert_error(
        await client.post("/v1/templates", json=body, headers=tenant.basic),
        422,
        "FIELD_INVALID",
        "variables.x.type",
    )


# --- modification, deletion, history ----------------------------------------------------------


async def test_modify_pending_and_rejected_not_approved(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    trusted = await make_tenant(ctx, trusted=True)
    created = await submit(client, trusted, kind="verification", content="验证码${a}${b}")
    assert created["status"] == "rejected"
    fixed = await client.patch(
        f"/v1/templates/{created['id']}", json={"content": OTP}, headers=trusted.basic
    )
    body = fixed.json()
    assert body["status"] == "approved" and body["version"] == 2 and body["findings"] == []
    again = await client.patch(
        f"/v1/templates/{created['id']}", json={"name": "x"}, headers=trusted.basic
    )
    error = assert_error(again, 409, "TEMPLATE_NOT_MODIFIABLE", "id")
    assert "approved" in error["message"]
    history = await client.get(f"/v1/templates/{created['id']}/history", headers=trusted.basic)
    versions = history.json()
    assert [(v["version"], v["status"], v["decided_by"]) for v in versions] == [
        (1, "rejected", "system"),
        (2, "approved", "system"),
    ]
    assert versions[0]["submitted"]["content"] == "验证码${a}${b}"
    assert versions[0]["findings"][0]["code"] == "VERIFICATION_VARIABLE_COUNT"


async def test_modifying_a_pending_template_supersedes_its_review(
    client: httpx.AsyncClient, tenant: KeyPair
) -> None:
    created = await submit(client, tenant)
    changed = await client.patch(
        f"/v1/templates/{created['id']}",
        json={"content": "${name}您好,订单${order}已签收。", "remark": None},
        headers=tenant.basic,
    )
    assert changed.json()["status"] == "pending" and changed.json()["version"] == 2
    history = await client.get(f"/v1/templates/{created['id']}/history", headers=tenant.basic)
    assert [v["status"] for v in history.json()] == ["superseded", "pending"]


async def test_delete_rules(client: httpx.AsyncClient, ctx: AppContext) -> None:
    pending_owner = await make_tenant(ctx)
    pending = await submit(client, pending_owner)
    refused = await client.delete(f"/v1/templates/{pending['id']}", headers=pending_owner.basic)
    assert_error(refused, 409, "TEMPLATE_UNDER_REVIEW", "id")
    trusted = await make_tenant(ctx, trusted=True)
    approved = await submit(client, trusted)
    url = f"/v1/templates/{approved['id']}"
    assert (await client.delete(url, headers=trusted.basic)).status_code == 204
    assert (await client.delete(url, headers=trusted.basic)).status_code == 204  # harmless
    shown = (await client.get(url, headers=trusted.basic)).json()
    assert shown["status"] == "canceled" and shown["canceled_at"] is not None
    listed = (await client.get("/v1/templates", headers=trusted.basic)).json()["data"]
    assert approved["id"] not in [t["id"] for t in listed]
    canceled = await client.get("/v1/templates?status=canceled", headers=trusted.basic)
    assert [t["id"] for t in canceled.json()["data"]] == [approved["id"]]
    assert_error(
        await client.patch(url, json={"name": "y"}, headers=trusted.basic),
        409,
        "TEMPLATE_NOT_MODIFIABLE",
    )
    assert_error(
        await client.post(f"{url}/render", json={"params": {}}, headers=trusted.basic),
        422,
        "PARAM_MISSING",
    )


async def test_list_filters_and_pages(client: httpx.AsyncClient, ctx: AppContext) -> None:
    pair = await make_tenant(ctx, trusted=True)
    ids = [(await submit(client, pair, name=f"n{i}"))["id"] for i in range(3)]
    await submit(client, pair, kind="verification", content=OTP)
    first = await client.get("/v1/templates?limit=2&kind=notification", headers=pair.basic)
    page = first.json()
    assert [t["id"] for t in page["data"]] == [ids[2], ids[1]]
    rest = await client.get(
        f"/v1/templates?limit=2&kind=notification&cursor={page['next_cursor']}",
        headers=pair.basic,
    )
    assert [t["id"] for t in rest.json()["data"]] == [ids[0]]


async def test_another_tenants_template_is_not_found(
    client: httpx.AsyncClient, tenant: KeyPair, ctx: AppContext
) -> None:
    created = await submit(client, tenant)
    other = await make_tenant(ctx)
    url = f"/v1/templates/{created['id']}"
    for response in (
        await client.get(url, headers=other.basic),
        await client.patch(url, json={"name": "x"}, headers=other.basic),
        await client.delete(url, headers=other.basic),
        await client.get(f"{url}/history", headers=other.basic),
        await client.post(f"{url}/render", json={"params": {}}, headers=other.basic),
    ):
        assert_error(response, 404, "TEMPLATE_NOT_FOUND", "id")
    listed = (await client.get("/v1/templates", headers=other.basic)).json()["data"]
    assert listed == []


async def test_read_scope_lists_but_cannot_submit(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    reader = await make_tenant(ctx, scopes=["read"])
    assert (await client.get("/v1/templates", headers=reader.basic)).status_code == 200
    body = {"kind": "notification", "name": "t", "content": NOTICE}
    refused = await client.post("/v1/templates", json=body, headers=reader.basic)
    assert_error(refused, 403, "SCOPE_MISSING")


# --- rendering --------------------------------------------------------------------------------


async def approved_template(
    client: httpx.AsyncClient, ctx: AppContext, **body: object
) -> tuple[KeyPair, dict[str, Any]]:
    pair = await make_tenant(ctx, trusted=True)
    created = await submit(client, pair, **body)
    assert created["status"] == "approved", created
    return pair, created


async def test_render_preview_with_segments_and_sign(
    client: httpx.AsyncClient, ctx: AppContext, operator: KeyPair
) -> None:
    pair, tpl = await approved_template(client, ctx, kind="verification", content=OTP)
    url = f"/v1/templates/{tpl['id']}/render"
    plain = await client.post(url, json={"params": {"code": 482913}}, headers=pair.basic)
    body = plain.json()
    assert body["text"] == "您的验证码是482913,5分钟内有效。" and body["sign"] is None
    assert body["segments"]["encoding"] == "ucs2" and body["segments"]["segments"] == 1
    assert body["review_hits"] == []
    sign = await client.post(
        "/v1/signs",
        json={"name": "鸿雁科技", "purpose": "verification", "source": "company"},
        headers=pair.basic,
    )
    signed = await client.post(
        url, json={"params": {"code": "4829"}, "sign": "鸿雁科技"}, headers=pair.basic
    )
    assert signed.json()["segments"]["text"] == "【鸿雁科技】您的验证码是4829,5分钟内有效。"
    assert signed.json()["sign"] == "鸿雁科技" and sign.json()["status"] == "pending"
    notice = await submit(client, pair)
    mismatch = await client.post(
        f"/v1/templates/{notice['id']}/render",
        json={"params": {"name": "王", "order": "1"}, "sign": "鸿雁科技"},
        headers=pair.basic,
    )
    assert_error(mismatch, 422, "SIGN_SCENE_MISMATCH", "sign")
    unknown_sign = await client.post(
        url, json={"params": {"code": "4829"}, "sign": "没有的签名"}, headers=pair.basic
    )
    assert_error(unknown_sign, 404, "SIGN_NOT_FOUND", "sign")


@pytest.mark.parametrize(
    ("params", "code", "field"),
    [
        ({}, "PARAM_MISSING", "params.name"),
        ({"name": "王", "order": "12", "extra": "x"}, "PARAM_UNKNOWN", "params.extra"),
        ({"name": "王", "order": "12a"}, "PARAM_INVALID", "params.order"),
        ({"name": "王", "order": "1" * 13}, "PARAM_INVALID", "params.order"),
        ({"name": "x" * 36, "order": "12"}, "PARAM_INVALID", "params.name"),
        ({"name": "", "order": "12"}, "PARAM_INVALID", "params.name"),
        ({"name": "见 evil.com/x", "order": "12"}, "PARAM_CONTAINS_URL", "params.name"),
        ({"name": "赌博", "order": "12"}, "CONTENT_BLOCKED", "params.name"),
    ],
)
async def test_render_errors_name_the_variable(
    client: httpx.AsyncClient,
    ctx: AppContext,
    params: dict[str, str],
    code: str,
    field: str,
) -> None:
    pair, tpl = await approved_template(
        client, ctx, variables={"order": {"type": "digits", "max_length": 12}}
    )
    response = await client.post(
        f"/v1/templates/{tpl['id']}/render", json={"params": params}, headers=pair.basic
    )
    assert_error(response, 422, code, field)


@pytest.mark.parametrize("value", ["123", "1234567", "12 34", "12-4", "一二三四"])
async def test_render_verification_code_rule(
    client: httpx.AsyncClient, ctx: AppContext, value: str
) -> None:
    pair, tpl = await approved_template(client, ctx, kind="verification", content=OTP)
    response = await client.post(
        f"/v1/templates/{tpl['id']}/render", json={"params": {"code": value}}, headers=pair.basic
    )
    assert_error(response, 422, "PARAM_VERIFICATION_CODE_INVALID", "params.code")


async def test_render_lists_review_words(client: httpx.AsyncClient, ctx: AppContext) -> None:
    pair, tpl = await approved_template(client, ctx)
    await add_word(client, pair, "待复核词", "review")
    response = await client.post(
        f"/v1/templates/{tpl['id']}/render",
        json={"params": {"name": "待复核词", "order": "1"}},
        headers=pair.basic,
    )
    hits = response.json()["review_hits"]
    assert [(h["word"], h["action"], h["start"]) for h in hits] == [("待复核词", "review", 3)]


async def test_send_path_helpers(client: httpx.AsyncClient, ctx: AppContext) -> None:
    pair = await make_tenant(ctx)
    pending = await submit(client, pair)
    tenant_id = str(pair.tenant_id)
    async with ctx.db.session() as session:
        with pytest.raises(errors.HongyanError) as raised:
            await templates.get_approved(session, tenant_id=tenant_id, template_id=pending["id"])
        assert raised.value.code == "TEMPLATE_NOT_APPROVED"
        template = await templates.get(session, tenant_id=tenant_id, template_id=pending["id"])
        rendered = await templates.render_checked(
            session,
            ctx=ctx,
            tenant_id=tenant_id,
            template=template,
            params={"name": "王", "order": "7"},
        )
    assert rendered.text == "尊敬的王,您的订单7已发货。" and rendered.kind == "notification"
