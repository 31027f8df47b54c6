"""Authentication: both forms, and each refusal with its own catalog code."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from hongyan.api.context import AppContext
from hongyan.kit import signing
from tests.conftest import KeyPair, make_tenant


def signed(
    pair: KeyPair, method: str, path: str, *, query: str = "", body: bytes = b"", **kwargs: object
) -> dict[str, str]:
    return signing.sign_headers(
        key_id=pair.key_id,
        secret=pair.secret,
        method=method,
        path=path,
        query=query,
        body=body,
        **kwargs,
    )  # type: ignore[arg-type]


def code_of(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


async def test_no_credentials_is_401_with_catalog_body(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/tenant")
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "AUTH_REQUIRED"
    assert error["request_id"].startswith("req_")
    assert error["request_id"] == response.headers["x-request-id"]
    assert error["doc"].endswith("/docs/errors#AUTH_REQUIRED")
    assert error["action"]


async def test_basic_auth_works(client: httpx.AsyncClient, tenant: KeyPair) -> None:
    response = await client.get("/v1/tenant", headers=tenant.basic)
    assert response.status_code == 200
    assert response.json()["id"] == tenant.tenant_id


@pytest.mark.parametrize(
    ("header", "code"),
    [
        ("Basic !!!notbase64", "AUTH_MALFORMED"),
        ("Basic " + base64.b64encode(b"no-colon").decode(), "AUTH_MALFORMED"),
        ("Bearer abc", "AUTH_MALFORMED"),
        ("Basic " + base64.b64encode(b"key_unknown:secret").decode(), "INVALID_CREDENTIALS"),
        ("HONGYAN-HMAC-SHA256 Credential=x", "AUTH_MALFORMED"),
    ],
)
async def test_malformed_or_unknown(client: httpx.AsyncClient, header: str, code: str) -> None:
    response = await client.get("/v1/tenant", headers={"Authorization": header})
    assert response.status_code == 401
    assert code_of(response) == code


async def test_wrong_secret(client: httpx.AsyncClient, tenant: KeyPair) -> None:
    wrong = KeyPair(tenant.key_id, tenant.secret + "x", tenant.tenant_id)
    response = await client.get("/v1/tenant", headers=wrong.basic)
    assert (response.status_code, code_of(response)) == (401, "INVALID_CREDENTIALS")


async def test_signed_request_works_including_query_and_body(
    client: httpx.AsyncClient, tenant: KeyPair
) -> None:
    response = await client.get(
        "/v1/keys",
        params={"limit": "5"},
        headers=signed(tenant, "GET", "/v1/keys", query="limit=5"),
    )
    assert response.status_code == 200, response.text
    body = json.dumps({"name": "signed-key", "scopes": ["read"]}).encode()
    headers = signed(tenant, "POST", "/v1/keys", body=body)
    headers["content-type"] = "application/json"
    response = await client.post("/v1/keys", content=body, headers=headers)
    assert response.status_code == 201, response.text


async def test_signature_over_other_body_is_refused(
    client: httpx.AsyncClient, tenant: KeyPair
) -> None:
    headers = signed(tenant, "POST", "/v1/keys", body=b'{"name": "a"}')
    headers["content-type"] = "application/json"
    response = await client.post("/v1/keys", content=b'{"name": "b"}', headers=headers)
    assert (response.status_code, code_of(response)) == (401, "SIGNATURE_MISMATCH")


async def test_signature_with_wrong_secret(client: httpx.AsyncClient, tenant: KeyPair) -> None:
    forged = KeyPair(tenant.key_id, "hys_wrong", tenant.tenant_id)
    response = await client.get("/v1/tenant", headers=signed(forged, "GET", "/v1/tenant"))
    assert (response.status_code, code_of(response)) == (401, "SIGNATURE_MISMATCH")


async def test_signature_over_other_path(client: httpx.AsyncClient, tenant: KeyPair) -> None:
    response = await client.get("/v1/tenant", headers=signed(tenant, "GET", "/v1/keys"))
    assert code_of(response) == "SIGNATURE_MISMATCH"


@pytest.mark.parametrize("skew", [timedelta(minutes=16), -timedelta(minutes=16)])
async def test_stale_date(client: httpx.AsyncClient, tenant: KeyPair, skew: timedelta) -> None:
    headers = signed(tenant, "GET", "/v1/tenant", now=datetime.now(UTC) - skew)
    response = await client.get("/v1/tenant", headers=headers)
    assert (response.status_code, code_of(response)) == (401, "SIGNATURE_EXPIRED")


async def test_date_within_window_is_accepted(client: httpx.AsyncClient, tenant: KeyPair) -> None:
    headers = signed(tenant, "GET", "/v1/tenant", now=datetime.now(UTC) - timedelta(minutes=14))
    assert (await client.get("/v1/tenant", headers=headers)).status_code == 200


async def test_reused_nonce(client: httpx.AsyncClient, tenant: KeyPair) -> None:
    headers = signed(tenant, "GET", "/v1/tenant")
    assert (await client.get("/v1/tenant", headers=headers)).status_code == 200
    again = await client.get("/v1/tenant", headers=headers)
    assert (again.status_code, code_of(again)) == (401, "NONCE_REUSED")


async def test_revoked_key(client: httpx.AsyncClient, tenant: KeyPair) -> None:
    created = await client.post("/v1/keys", json={"name": "short-lived"}, headers=tenant.basic)
    doomed = KeyPair(created.json()["id"], created.json()["secret"], tenant.tenant_id)
    assert (await client.get("/v1/tenant", headers=doomed.basic)).status_code == 200
    revoked = await client.post(f"/v1/keys/{doomed.key_id}/revoke", headers=tenant.basic)
    assert revoked.json()["status"] == "revoked"
    response = await client.get("/v1/tenant", headers=doomed.basic)
    assert (response.status_code, code_of(response)) == (401, "KEY_REVOKED")
    signed_response = await client.get("/v1/tenant", headers=signed(doomed, "GET", "/v1/tenant"))
    assert code_of(signed_response) == "KEY_REVOKED"


async def test_suspended_tenant(
    client: httpx.AsyncClient, ctx: AppContext, operator: KeyPair
) -> None:
    victim = await make_tenant(ctx)
    suspended = await client.post(
        f"/v1/admin/tenants/{victim.tenant_id}/suspend", headers=operator.basic
    )
    assert suspended.json()["status"] == "suspended"
    response = await client.get("/v1/tenant", headers=victim.basic)
    assert (response.status_code, code_of(response)) == (403, "TENANT_SUSPENDED")
    await client.post(f"/v1/admin/tenants/{victim.tenant_id}/resume", headers=operator.basic)
    assert (await client.get("/v1/tenant", headers=victim.basic)).status_code == 200


async def test_missing_scope(client: httpx.AsyncClient, ctx: AppContext) -> None:
    reader = await make_tenant(ctx, scopes=["read"])
    assert (await client.get("/v1/keys", headers=reader.basic)).status_code == 200
    response = await client.post("/v1/keys", json={"name": "x"}, headers=reader.basic)
    assert (response.status_code, code_of(response)) == (403, "SCOPE_MISSING")
    assert "manage" in response.json()["error"]["message"]


async def test_tenant_key_cannot_use_admin(client: httpx.AsyncClient, tenant: KeyPair) -> None:
    response = await client.get("/v1/admin/tenants", headers=tenant.basic)
    assert (response.status_code, code_of(response)) == (403, "OPERATOR_REQUIRED")


async def test_operator_key_cannot_act_as_tenant(
    client: httpx.AsyncClient, operator: KeyPair
) -> None:
    response = await client.get("/v1/tenant", headers=operator.basic)
    assert (response.status_code, code_of(response)) == (403, "TENANT_KEY_REQUIRED")


async def test_chinese_messages(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/tenant", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert response.json()["error"]["message"] == "该接口需要 API 密钥。"
