from __future__ import annotations

import httpx

from tests.conftest import KeyPair


async def test_tenant_sees_itself(client: httpx.AsyncClient, tenant: KeyPair) -> None:
    response = await client.get("/v1/tenant", headers=tenant.basic)
    assert response.status_code == 200, response.text
    assert response.json()["id"] == tenant.tenant_id
