"""A tenant ready to send: verified, a sign and three templates approved, priced, topped up."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

import httpx

from hongyan.api.context import AppContext
from tests.conftest import KeyPair, make_operator, make_tenant

COMPANY = {
    "company_name": "杭州鸿雁科技有限公司",
    "registration_number": "91330100MA2KXXXX1X",
    "legal_representative": "张三",
    "contact_name": "李四",
    "contact_phone": "13800138000",
}
TEMPLATES = {
    "verification": "您的验证码是${code},5分钟内有效。",
    "notification": "您的订单${order}已发货,请注意查收。",
    "marketing": "双十二会员日全场八折,拒收请回复R",
}
UNIT_PRICE = 5  # fen per segment


@dataclass
class Sender:
    key: KeyPair
    operator: KeyPair
    sign: str
    templates: dict[str, str] = field(default_factory=dict)

    @property
    def tenant_id(self) -> str:
        assert self.key.tenant_id
        return self.key.tenant_id


async def _approve(client: httpx.AsyncClient, operator: KeyPair, subject_id: str) -> None:
    reviews = await client.get(
        "/v1/admin/reviews", params={"subject_id": subject_id}, headers=operator.basic
    )
    for review in reviews.json()["data"]:
        done = await client.post(
            f"/v1/admin/reviews/{review['id']}/approve", headers=operator.basic
        )
        assert done.status_code == 200, done.text


async def make_sender(
    client: httpx.AsyncClient, ctx: AppContext, *, balance: int = 1_000_000, **tenant_fields: object
) -> Sender:
    """Build a sending-ready tenant through the public APIs, as an operator would."""
    operator = await make_operator(ctx)
    key = await make_tenant(ctx, **tenant_fields)
    await client.post("/v1/tenant/verification", json=COMPANY, headers=key.basic)
    await client.post(
        f"/v1/admin/tenants/{key.tenant_id}/verification/approve", headers=operator.basic
    )
    sign_name = "鸿雁" + secrets.token_hex(2)
    sign = await client.post(
        "/v1/signs",
        headers=key.basic,
        json={"name": sign_name, "purpose": "general", "source": "company"},
    )
    assert sign.status_code == 201, sign.text
    await _approve(client, operator, sign.json()["id"])
    sender = Sender(key=key, operator=operator, sign=sign_name)
    for kind, content in TEMPLATES.items():
        created = await client.post(
            "/v1/templates",
            headers=key.basic,
            json={"kind": kind, "name": f"{kind} template", "content": content},
        )
        assert created.status_code == 201, created.text
        await _approve(client, operator, created.json()["id"])
        sender.templates[kind] = created.json()["id"]
    price = await client.put(
        "/v1/admin/prices",
        headers=operator.basic,
        json={"country": "CN", "unit_price": UNIT_PRICE, "currency": "CNY"},
    )
    assert price.status_code in (200, 201), price.text
    if balance:
        topped = await client.post(
            f"/v1/admin/tenants/{key.tenant_id}/topup",
            headers=operator.basic,
            json={"amount": balance},
        )
        assert topped.status_code == 201, topped.text
    return sender
