"""The operator's SMPP credentials API: issue, list, change, rotate, delete; audited."""

from __future__ import annotations

import secrets

import httpx

from hongyan.api.context import AppContext
from hongyan.smpp_server import service
from tests.conftest import KeyPair

BASE = "/v1/admin/smpp/credentials"


async def test_credential_lifecycle(
    client: httpx.AsyncClient, ctx: AppContext, operator: KeyPair, tenant: KeyPair
) -> None:
    system_id = "api" + secrets.token_hex(4)
    body = {"tenant_id": tenant.tenant_id, "system_id": system_id, "ip_allowlist": ["127.0.0.1"]}
    headers = {**operator.basic, "Idempotency-Key": system_id}
    created = await client.post(BASE, json=body, headers=headers)
    assert created.status_code == 201, created.text
    first = created.json()
    password = first["password"]
    assert len(password) == 8 and first["ip_allowlist"] == ["127.0.0.1/32"]
    replay = await client.post(BASE, json=body, headers=headers)
    assert replay.status_code == 201
    assert replay.json()["id"] == first["id"] and replay.json()["password"] is None
    taken = await client.post(
        BASE, json={**body, "tenant_id": tenant.tenant_id}, headers=operator.basic
    )
    assert taken.json()["error"]["code"] == "SMPP_SYSTEM_ID_TAKEN"

    listed = await client.get(BASE, params={"tenant_id": tenant.tenant_id}, headers=operator.basic)
    assert [c["system_id"] for c in listed.json()["data"]] == [system_id]
    assert "password" not in listed.json()["data"][0]
    patched = await client.patch(
        f"{BASE}/{system_id}", json={"max_binds": 1, "note": "ops"}, headers=operator.basic
    )
    assert patched.json()["max_binds"] == 1 and patched.json()["note"] == "ops"
    disabled = await client.post(f"{BASE}/{first['id']}/disable", headers=operator.basic)
    assert disabled.json()["enabled"] is False

    rotated = await client.post(f"{BASE}/{first['id']}/rotate", headers=operator.basic)
    new_password = rotated.json()["password"]
    assert new_password and new_password != password
    async with ctx.db.session() as session:
        row = await service.get(session, system_id)
    assert new_password not in row.password_hash and row.password_hash.startswith("scrypt$")

    gone = await client.delete(f"{BASE}/{first['id']}", headers=operator.basic)
    assert gone.status_code == 204
    missing = await client.get(f"{BASE}/{first['id']}", headers=operator.basic)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "SMPP_CREDENTIAL_NOT_FOUND"
    audit = await client.get(
        "/v1/admin/audit", params={"tenant_id": tenant.tenant_id}, headers=operator.basic
    )
    actions = {a["action"] for a in audit.json()["data"] if a["target_id"] == first["id"]}
    assert actions == {
        "smpp_credential.create",
        "smpp_credential.update",
        "smpp_credential.disable",
        "smpp_credential.rotate",
        "smpp_credential.delete",
    }
    assert all(password not in str(a) for a in audit.json()["data"])


async def test_bad_input_and_tenant_keys_refused(
    client: httpx.AsyncClient, operator: KeyPair, tenant: KeyPair
) -> None:
    bad = {"tenant_id": tenant.tenant_id, "system_id": "x" * 16}
    assert (await client.post(BASE, json=bad, headers=operator.basic)).status_code == 422
    cidr = {"tenant_id": tenant.tenant_id, "system_id": "okid", "ip_allowlist": ["nope"]}
    assert (await client.post(BASE, json=cidr, headers=operator.basic)).status_code == 422
    nobody = {"tenant_id": "ten_missing", "system_id": "okid"}
    response = await client.post(BASE, json=nobody, headers=operator.basic)
    assert response.json()["error"]["code"] == "TENANT_NOT_FOUND"
    assert (await client.get(BASE, headers=tenant.basic)).status_code == 403
