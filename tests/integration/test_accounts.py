"""Tenants, keys, verification, audit and tenant isolation over the API."""

from __future__ import annotations

import httpx

from hongyan.api.context import AppContext
from tests.conftest import KeyPair, make_tenant

COMPANY = {
    "company_name": "杭州鸿雁科技有限公司",
    "registration_number": "91330100MA2KXXXX1X",
    "legal_representative": "张三",
    "contact_name": "李四",
    "contact_phone": "13800138000",
}


async def test_key_lifecycle_and_secret_shown_once(
    client: httpx.AsyncClient, tenant: KeyPair
) -> None:
    created = await client.post(
        "/v1/keys", json={"name": "ci", "scopes": ["send", "read"]}, headers=tenant.basic
    )
    assert created.status_code == 201
    body = created.json()
    assert body["secret"].startswith("hys_") and body["secret_hint"] == body["secret"][-4:]
    shown = await client.get(f"/v1/keys/{body['id']}", headers=tenant.basic)
    assert "secret" not in shown.json()
    listed = await client.get("/v1/keys", headers=tenant.basic)
    ids = [k["id"] for k in listed.json()["data"]]
    assert body["id"] in ids and tenant.key_id in ids
    assert all("secret" not in k for k in listed.json()["data"])


async def test_pagination_newest_first(client: httpx.AsyncClient, tenant: KeyPair) -> None:
    for n in range(4):
        await client.post("/v1/keys", json={"name": f"k{n}"}, headers=tenant.basic)
    first = (await client.get("/v1/keys?limit=2", headers=tenant.basic)).json()
    assert [k["name"] for k in first["data"]] == ["k3", "k2"]
    second = (
        await client.get(f"/v1/keys?limit=2&cursor={first['next_cursor']}", headers=tenant.basic)
    ).json()
    assert [k["name"] for k in second["data"]] == ["k1", "k0"]
    bad = await client.get("/v1/keys?cursor=%%%", headers=tenant.basic)
    assert bad.json()["error"]["code"] == "INVALID_CURSOR"


async def test_tenant_a_gets_404_for_tenant_b(client: httpx.AsyncClient, ctx: AppContext) -> None:
    a, b = await make_tenant(ctx), await make_tenant(ctx)
    response = await client.get(f"/v1/keys/{b.key_id}", headers=a.basic)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "KEY_NOT_FOUND"
    revoke = await client.post(f"/v1/keys/{b.key_id}/revoke", headers=a.basic)
    assert revoke.status_code == 404
    assert (await client.get("/v1/tenant", headers=b.basic)).status_code == 200  # untouched
    listed = (await client.get("/v1/keys", headers=a.basic)).json()["data"]
    assert b.key_id not in [k["id"] for k in listed]


async def test_operator_manages_tenants(client: httpx.AsyncClient, operator: KeyPair) -> None:
    created = await client.post(
        "/v1/admin/tenants",
        json={"name": "acme-shop", "contact_email": "ops@acme.example"},
        headers=operator.basic,
    )
    assert created.status_code == 201, created.text
    tenant_id = created.json()["id"]
    assert tenant_id.startswith("ten_")
    dup = await client.post("/v1/admin/tenants", json={"name": "acme-shop"}, headers=operator.basic)
    assert (dup.status_code, dup.json()["error"]["code"]) == (409, "TENANT_NAME_TAKEN")
    patched = await client.patch(
        f"/v1/admin/tenants/{tenant_id}", json={"trusted": True}, headers=operator.basic
    )
    assert patched.json()["trusted"] is True
    key = await client.post(
        f"/v1/admin/tenants/{tenant_id}/keys", json={"name": "first"}, headers=operator.basic
    )
    pair = KeyPair(key.json()["id"], key.json()["secret"], tenant_id)
    assert (await client.get("/v1/tenant", headers=pair.basic)).json()["name"] == "acme-shop"
    missing = await client.get("/v1/admin/tenants/ten_nope", headers=operator.basic)
    assert missing.json()["error"]["code"] == "TENANT_NOT_FOUND"


async def test_enterprise_verification_flow(
    client: httpx.AsyncClient, tenant: KeyPair, operator: KeyPair
) -> None:
    early = await client.post(
        f"/v1/admin/tenants/{tenant.tenant_id}/verification/approve", headers=operator.basic
    )
    assert early.json()["error"]["code"] == "VERIFICATION_NOT_PENDING"
    submitted = await client.post("/v1/tenant/verification", json=COMPANY, headers=tenant.basic)
    assert submitted.json()["verification"]["status"] == "pending"
    rejected = await client.post(
        f"/v1/admin/tenants/{tenant.tenant_id}/verification/reject",
        json={"reason": "营业执照不清晰"},
        headers=operator.basic,
    )
    assert rejected.json()["verification"] == {
        **rejected.json()["verification"],
        "status": "rejected",
        "reason": "营业执照不清晰",
    }
    await client.post("/v1/tenant/verification", json=COMPANY, headers=tenant.basic)
    approved = await client.post(
        f"/v1/admin/tenants/{tenant.tenant_id}/verification/approve", headers=operator.basic
    )
    assert approved.json()["verification"]["status"] == "verified"
    again = await client.post("/v1/tenant/verification", json=COMPANY, headers=tenant.basic)
    assert again.json()["error"]["code"] == "VERIFICATION_ALREADY_VERIFIED"


async def test_validation_errors_name_the_field(client: httpx.AsyncClient, tenant: KeyPair) -> None:
    missing = await client.post("/v1/keys", json={}, headers=tenant.basic)
    assert missing.status_code == 422
    assert (missing.json()["error"]["code"], missing.json()["error"]["field"]) == (
        "FIELD_REQUIRED",
        "name",
    )
    bad_scope = await client.post(
        "/v1/keys", json={"name": "x", "scopes": ["root"]}, headers=tenant.basic
    )
    assert bad_scope.json()["error"]["code"] == "FIELD_INVALID"
    assert bad_scope.json()["error"]["field"] == "scopes.0"
    extra = await client.post("/v1/keys", json={"name": "x", "admin": True}, headers=tenant.basic)
    assert (extra.json()["error"]["code"], extra.json()["error"]["field"]) == (
        "FIELD_UNKNOWN",
        "admin",
    )
    tz = await client.patch("/v1/tenant", json={"timezone": "Mars/Olympus"}, headers=tenant.basic)
    assert (tz.json()["error"]["code"], tz.json()["error"]["field"]) == (
        "FIELD_INVALID",
        "timezone",
    )
    not_json = await client.post(
        "/v1/keys", content=b"{nope", headers={**tenant.basic, "content-type": "application/json"}
    )
    assert not_json.json()["error"]["code"] == "BODY_NOT_JSON"


async def test_audit_log_records_who_what_where(
    client: httpx.AsyncClient, tenant: KeyPair, operator: KeyPair
) -> None:
    created = await client.post("/v1/keys", json={"name": "audited"}, headers=tenant.basic)
    await client.post(f"/v1/keys/{created.json()['id']}/revoke", headers=tenant.basic)
    await client.post(f"/v1/admin/tenants/{tenant.tenant_id}/suspend", headers=operator.basic)
    entries = (
        await client.get(f"/v1/admin/audit?tenant_id={tenant.tenant_id}", headers=operator.basic)
    ).json()["data"]
    actions = [(e["action"], e["actor_role"], e["actor_key_id"]) for e in entries]
    assert actions[:3] == [
        ("tenant.suspend", "operator", operator.key_id),
        ("key.revoke", "tenant", tenant.key_id),
        ("key.create", "tenant", tenant.key_id),
    ]
    assert all(e["ip"] for e in entries[:3])
    assert "secret" not in str(entries)


async def test_unknown_route_and_method(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/nothing")).json()["error"]["code"] == "NOT_FOUND"
    assert (await client.delete("/v1/errors")).json()["error"]["code"] == "METHOD_NOT_ALLOWED"
