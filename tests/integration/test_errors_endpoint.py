from __future__ import annotations

import httpx

from hongyan import docs_gen, errors


async def test_errors_endpoint_serves_the_catalog(client: httpx.AsyncClient) -> None:
    body = (await client.get("/v1/errors")).json()
    served = {e["code"]: e for e in body["data"]}
    assert set(served) == set(errors.CATALOG)
    for code, spec in errors.CATALOG.items():
        assert served[code]["http_status"] == spec.status
        assert served[code]["message"] == {"en": spec.message_en, "zh": spec.message_zh}
        assert served[code]["action"] == {"en": spec.action_en, "zh": spec.action_zh}
        assert code in docs_gen.errors_markdown()
    page = await client.get("/docs/errors")
    assert 'id="AUTH_REQUIRED"' in page.text


async def test_health_ready_metrics(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json()["status"] == "ok"
    ready = (await client.get("/readyz")).json()
    assert ready["checks"] == {"database": "ok", "migrations": "head"}
    metrics = (await client.get("/metrics")).text
    assert "hongyan_http_requests_total" in metrics
