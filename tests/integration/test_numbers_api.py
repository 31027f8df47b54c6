from __future__ import annotations

import httpx

from tests.conftest import KeyPair


async def test_check_numbers_with_duplicates_and_reasons(
    client: httpx.AsyncClient, tenant: KeyPair
) -> None:
    numbers = ["13800138000", "+86 138 0013 8000", "010-12345678", "12", "１３９１２３４５６７８"]
    response = await client.post(
        "/v1/numbers/check",
        json={"numbers": numbers},
        headers={**tenant.basic, "Accept-Language": "zh-CN"},
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert [d["e164"] for d in data][:2] == ["+8613800138000", "+8613800138000"]
    assert data[1]["duplicate_of"] == 0
    assert (data[2]["sendable"], data[2]["reason"]) == (False, "NUMBER_NOT_MOBILE")
    assert data[3]["valid"] is False
    assert data[4]["e164"] == "+8613912345678" and data[4]["carrier"] == "中国移动"
    summary = response.json()["summary"]
    assert summary["valid"] == 2 and summary["duplicate"] == 1


async def test_more_than_ten_thousand_is_refused(
    client: httpx.AsyncClient, tenant: KeyPair
) -> None:
    response = await client.post(
        "/v1/numbers/check", json={"numbers": ["1"] * 10_001}, headers=tenant.basic
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "NUMBERS_TOO_MANY"
