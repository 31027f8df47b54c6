"""The operator's connector and route API on both backends: CRUD, secrets, refusals, simulation."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from hongyan.api.context import AppContext
from hongyan.routing import service
from hongyan.routing.manager import get_manager
from tests.conftest import KeyPair
from tests.integration.routing_kit import (
    Collector,
    disable_test_connectors,
    register_extra_kinds,
    unique,
    unregister_extra_kinds,
)

Json = dict[str, Any]
SECRET = "vendor-secret-value-9f3a"


@pytest.fixture(autouse=True, scope="module")
def extra_kinds() -> Iterator[None]:
    register_extra_kinds()
    yield
    unregister_extra_kinds()


@pytest.fixture(autouse=True)
async def tidy(ctx: AppContext) -> AsyncIterator[None]:
    yield
    await disable_test_connectors(ctx)


async def post(client: httpx.AsyncClient, who: KeyPair, path: str, body: Json, status: int) -> Json:
    response = await client.post(path, json=body, headers=who.basic)
    assert response.status_code == status, response.text
    result: Json = response.json()
    return result


async def patch(client: httpx.AsyncClient, who: KeyPair, path: str, body: Json) -> Json:
    response = await client.patch(path, json=body, headers=who.basic)
    assert response.status_code == 200, response.text
    result: Json = response.json()
    return result


def code_of(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


async def test_connector_lifecycle(client: httpx.AsyncClient, operator: KeyPair) -> None:
    name = unique("sim")
    body = {"name": name, "kind": "simulator", "settings": {"receipt_delay_ms": 50}}
    created = await post(client, operator, "/v1/admin/connectors", body, 201)
    cid = created["id"]
    assert cid.startswith("con_") and created["simulated"] is True and created["enabled"]
    assert created["settings"]["receipt_delay_ms"] == 50 and len(created["settings"]["rules"]) == 6
    assert created["max_segments"] == 255

    got = (await client.get(f"/v1/admin/connectors/{name}", headers=operator.basic)).json()
    assert got["id"] == cid and got["health"]["breaker"] == "closed"
    assert got["health"]["attempts"] == 0 and got["health"]["success_rate"] is None

    changed = await patch(
        client,
        operator,
        f"/v1/admin/connectors/{cid}",
        {"settings": {"rules": []}, "enabled": False},
    )
    assert changed["settings"]["rules"] == [] and changed["settings"]["receipt_delay_ms"] == 50
    assert changed["enabled"] is False

    listed = (await client.get("/v1/admin/connectors?limit=200", headers=operator.basic)).json()
    assert cid in [c["id"] for c in listed["data"]]

    again = await client.post("/v1/admin/connectors", json=body, headers=operator.basic)
    assert again.status_code == 409 and code_of(again) == "CONNECTOR_NAME_TAKEN"
    gone = await client.delete(f"/v1/admin/connectors/{cid}", headers=operator.basic)
    assert gone.status_code == 204
    missing = await client.get(f"/v1/admin/connectors/{cid}", headers=operator.basic)
    assert missing.status_code == 404 and code_of(missing) == "CONNECTOR_NOT_FOUND"


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"kind": "pigeon"}, "CONNECTOR_KIND_UNKNOWN", "kind"),
        ({"settings": {"latency_ms": "slow"}}, "CONNECTOR_SETTINGS_INVALID", "settings.latency_ms"),
        (
            {"settings": {"rules": [{"pattern": "1"}]}},
            "CONNECTOR_SETTINGS_INVALID",
            "settings.rules.0.outcome",
        ),
        ({"name": "has spaces"}, "FIELD_INVALID", "name"),
    ],
)
async def test_bad_connectors_are_refused(
    client: httpx.AsyncClient, operator: KeyPair, body: Json, code: str, field: str
) -> None:
    full = {"name": unique("bad"), "kind": "simulator", **body}
    response = await client.post("/v1/admin/connectors", json=full, headers=operator.basic)
    assert response.status_code == 422 and code_of(response) == code
    assert response.json()["error"]["field"] == field


async def test_secrets_are_masked_encrypted_at_rest_and_kept_on_patch(
    client: httpx.AsyncClient, operator: KeyPair, ctx: AppContext
) -> None:
    body = {
        "name": unique("vendor"),
        "kind": "test-vendor",
        "settings": {"api_key": "LTAI-visible", "api_secret": SECRET},
    }
    created = await post(client, operator, "/v1/admin/connectors", body, 201)
    cid = created["id"]
    assert created["settings"] == {
        "api_key": "LTAI-visible",
        "api_secret": "***",
        "endpoint": "https://sms.vendor.example",
    }
    assert created["simulated"] is False
    async with ctx.db.session() as session:
        raw = (
            await session.execute(
                text("SELECT settings FROM connector WHERE id = :id"), {"id": cid}
            )
        ).scalar_one()
        row = await service.get_connector(session, cid)
        assert service.plain_settings(ctx, row)["api_secret"] == SECRET
    stored = raw if isinstance(raw, str) else json.dumps(raw)
    assert SECRET not in stored and "$encrypted" in stored

    # Sending the mask back keeps the secret; other settings change.
    shown = (await client.get(f"/v1/admin/connectors/{cid}", headers=operator.basic)).json()
    settings = {**shown["settings"], "endpoint": "https://sms2.vendor.example"}
    changed = await patch(client, operator, f"/v1/admin/connectors/{cid}", {"settings": settings})
    assert changed["settings"]["api_secret"] == "***"
    async with ctx.db.session() as session:
        row = await service.get_connector(session, cid)
        plain = service.plain_settings(ctx, row)
    assert plain["api_secret"] == SECRET and plain["endpoint"] == "https://sms2.vendor.example"

    await patch(
        client, operator, f"/v1/admin/connectors/{cid}", {"settings": {"api_secret": "new"}}
    )
    async with ctx.db.session() as session:
        row = await service.get_connector(session, cid)
        assert service.plain_settings(ctx, row)["api_secret"] == "new"
        audit = (
            await session.execute(
                text("SELECT details FROM audit_entry WHERE target_id = :id"), {"id": cid}
            )
        ).scalars()
        logged = " ".join(a if isinstance(a, str) else json.dumps(a) for a in audit)
    # The audit log names the settings that changed, never their values.
    assert SECRET not in logged and '"new"' not in logged and "api_secret" in logged

    masked_new = {
        "name": unique("vendor"),
        "kind": "test-vendor",
        "settings": {"api_key": "k", "api_secret": "***"},
    }
    refused = await client.post("/v1/admin/connectors", json=masked_new, headers=operator.basic)
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "settings.api_secret"


async def test_routes_lifecycle_resolve_and_connector_in_use(
    client: httpx.AsyncClient, operator: KeyPair, tenant: KeyPair
) -> None:
    con = await post(
        client,
        operator,
        "/v1/admin/connectors",
        {"name": unique("sim"), "kind": "simulator"},
        201,
    )
    body = {
        "name": unique("cn-mobile"),
        "connector_id": con["name"],  # a name works as well as an id
        "priority": 5,
        "weight": 2,
        "countries": ["cn"],
        "prefixes": ["+86139"],
        "carriers": ["China Mobile"],
        "kinds": ["verification"],
        "tenant_ids": [tenant.tenant_id],
    }
    route = await post(client, operator, "/v1/admin/routes", body, 201)
    rid = route["id"]
    assert rid.startswith("rte_") and route["connector_id"] == con["id"]
    assert route["countries"] == ["CN"] and route["enabled"] is True

    resolve = {"to": "13912345678", "kind": "verification", "tenant_id": tenant.tenant_id}
    found = await post(client, operator, "/v1/admin/routes/resolve", resolve, 200)
    assert found["msisdn"] == "+8613912345678" and found["region"] == "CN"
    assert found["carrier"] == "China Mobile"
    assert found["connectors"][0] == {
        "id": con["id"],
        "name": con["name"],
        "kind": "simulator",
        "breaker": "closed",
    }

    in_use = await client.delete(f"/v1/admin/connectors/{con['id']}", headers=operator.basic)
    assert in_use.status_code == 409 and code_of(in_use) == "CONNECTOR_IN_USE"
    assert route["name"] in in_use.json()["error"]["message"]

    changed = await patch(
        client, operator, f"/v1/admin/routes/{route['name']}", {"countries": None, "weight": 7}
    )
    assert changed["countries"] is None and changed["weight"] == 7 and changed["priority"] == 5
    listed = await client.get(f"/v1/admin/routes?connector={con['id']}", headers=operator.basic)
    assert [r["id"] for r in listed.json()["data"]] == [rid]
    dup = await client.post("/v1/admin/routes", json=body, headers=operator.basic)
    assert dup.status_code == 409 and code_of(dup) == "ROUTE_NAME_TAKEN"

    assert (
        await client.delete(f"/v1/admin/routes/{rid}", headers=operator.basic)
    ).status_code == 204
    gone = await client.get(f"/v1/admin/routes/{rid}", headers=operator.basic)
    assert gone.status_code == 404 and code_of(gone) == "ROUTE_NOT_FOUND"
    removed = await client.delete(f"/v1/admin/connectors/{con['id']}", headers=operator.basic)
    assert removed.status_code == 204


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"countries": ["China"]}, "FIELD_INVALID", "countries"),
        ({"prefixes": ["86139"]}, "FIELD_INVALID", "prefixes"),
        ({"countries": []}, "FIELD_TOO_SHORT", "countries"),
        ({"kinds": ["spam"]}, "FIELD_INVALID", "kinds.0"),
        ({"weight": 0}, "FIELD_INVALID", "weight"),
        ({"tenant_ids": ["ten_01jd3x8m2q0000000000000000"]}, "TENANT_NOT_FOUND", "id"),
        ({"connector_id": "no-such-connector"}, "CONNECTOR_NOT_FOUND", "id"),
    ],
)
async def test_bad_routes_are_refused(
    client: httpx.AsyncClient, operator: KeyPair, change: Json, code: str, field: str
) -> None:
    con = await post(
        client, operator, "/v1/admin/connectors", {"name": unique("sim"), "kind": "simulator"}, 201
    )
    body = {"name": unique("r"), "connector_id": con["id"], **change}
    response = await client.post("/v1/admin/routes", json=body, headers=operator.basic)
    assert code_of(response) == code, response.text
    assert response.json()["error"]["field"] == field


async def test_simulate_inbound(
    client: httpx.AsyncClient, operator: KeyPair, ctx: AppContext
) -> None:
    sim = await post(
        client, operator, "/v1/admin/connectors", {"name": unique("sim"), "kind": "simulator"}, 201
    )
    vendor = await post(
        client,
        operator,
        "/v1/admin/connectors",
        {
            "name": unique("v"),
            "kind": "test-vendor",
            "settings": {"api_key": "k", "api_secret": "s"},
        },
        201,
    )
    manager = get_manager(ctx)
    previous = manager.sinks
    collector = Collector()
    manager.set_sinks(collector.sinks)
    try:
        body = {"msisdn": "+8613800138000", "to": "1069000012345", "text": "TD"}
        got = await post(
            client, operator, f"/v1/admin/connectors/{sim['id']}/simulate-inbound", body, 202
        )
        assert got["simulated"] is True and got["upstream_id"].startswith("sim-mo-")
        [inbound] = collector.inbound
        assert (inbound.connector_id, inbound.msisdn, inbound.to, inbound.text) == (
            sim["id"],
            "+8613800138000",
            "1069000012345",
            "TD",
        )
        refused = await client.post(
            f"/v1/admin/connectors/{vendor['id']}/simulate-inbound",
            json=body,
            headers=operator.basic,
        )
        assert refused.status_code == 409 and code_of(refused) == "CONNECTOR_CANNOT_SIMULATE"
    finally:
        await manager.close_all()
        manager.set_sinks(previous)


async def test_kinds_are_described(client: httpx.AsyncClient, operator: KeyPair) -> None:
    kinds = (await client.get("/v1/admin/connector-kinds", headers=operator.basic)).json()
    simulator = next(k for k in kinds if k["kind"] == "simulator")
    assert simulator["simulated"] is True and simulator["secret_settings"] == []
    assert "rules" in simulator["settings_schema"]["properties"]
    vendor = next(k for k in kinds if k["kind"] == "test-vendor")
    assert vendor["secret_settings"] == ["api_secret"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/admin/connectors"),
        ("POST", "/v1/admin/connectors"),
        ("GET", "/v1/admin/connectors/simulator/health"),
        ("POST", "/v1/admin/connectors/simulator/simulate-inbound"),
        ("GET", "/v1/admin/connector-kinds"),
        ("GET", "/v1/admin/routes"),
        ("POST", "/v1/admin/routes"),
        ("POST", "/v1/admin/routes/resolve"),
        ("DELETE", "/v1/admin/routes/default"),
    ],
)
async def test_tenant_keys_are_refused(
    client: httpx.AsyncClient, tenant: KeyPair, method: str, path: str
) -> None:
    response = await client.request(method, path, json={}, headers=tenant.basic)
    assert response.status_code == 403 and code_of(response) == "OPERATOR_REQUIRED"


async def test_simulated_inbound_is_stored_where_real_ones_go(
    client: httpx.AsyncClient, operator: KeyPair, ctx: AppContext
) -> None:
    sim = await post(
        client, operator, "/v1/admin/connectors", {"name": unique("sim"), "kind": "simulator"}, 201
    )
    manager = get_manager(ctx)
    previous = manager.sinks
    manager.set_sinks(None)  # as in an API-only process, where nothing has sent yet
    sender = f"+861390000{secrets.randbelow(10_000):04d}"
    try:
        body = {"msisdn": sender, "to": "1069000012345", "text": "hello from a handset"}
        await post(
            client, operator, f"/v1/admin/connectors/{sim['id']}/simulate-inbound", body, 202
        )
    finally:
        await manager.close_all()
        if previous is not None:
            manager.set_sinks(previous)
    listed = await client.get(
        "/v1/admin/inbound", params={"msisdn": sender}, headers=operator.basic
    )
    assert listed.status_code == 200, listed.text
    [stored] = listed.json()["data"]
    assert stored["connector_id"] == sim["id"] and stored["text"] == "hello from a handset"
