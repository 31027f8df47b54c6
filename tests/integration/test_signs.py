"""Sign names over the API: name rules, states, files in real storage, isolation."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from hongyan import errors
from hongyan.api.context import AppContext
from hongyan.signs import service as signs
from tests.conftest import KeyPair, make_tenant
from tests.integration.test_templates import add_word, assert_error

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 32


async def create_sign(
    client: httpx.AsyncClient, pair: KeyPair, name: str = "鸿雁科技", **body: object
) -> dict[str, Any]:
    body = {"name": name, "purpose": "general", "source": "company", **body}
    response = await client.post("/v1/signs", json=body, headers=pair.basic)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def decide(
    client: httpx.AsyncClient, operator: KeyPair, subject_id: str, reason: str | None = None
) -> dict[str, Any]:
    """Approve (or, with a reason, reject) the pending review of a sign or template."""
    queue = await client.get(
        "/v1/admin/reviews", params={"subject_id": subject_id}, headers=operator.basic
    )
    [review] = queue.json()["data"]
    if reason is None:
        response = await client.post(
            f"/v1/admin/reviews/{review['id']}/approve", headers=operator.basic
        )
    else:
        response = await client.post(
            f"/v1/admin/reviews/{review['id']}/reject",
            json={"reason": reason},
            headers=operator.basic,
        )
    assert response.status_code == 200, response.text
    decided: dict[str, Any] = response.json()
    return decided


async def upload(
    client: httpx.AsyncClient, pair: KeyPair, sign_id: str, data: bytes, name: str = "x.pdf"
) -> httpx.Response:
    return await client.post(
        f"/v1/signs/{sign_id}/files",
        files={"file": (name, data, "application/octet-stream")},
        headers=pair.basic,
    )


async def test_create_show_list(client: httpx.AsyncClient, tenant: KeyPair) -> None:
    created = await create_sign(client, tenant, "  鸿雁科技 ", remark="our company")
    assert created["id"].startswith("sgn_") and created["name"] == "鸿雁科技"
    assert created["status"] == "pending" and created["version"] == 1
    assert created["purpose"] == "general" and created["files"] == []
    shown = await client.get(f"/v1/signs/{created['id']}", headers=tenant.basic)
    assert shown.json() == created
    listed = await client.get("/v1/signs", headers=tenant.basic)
    assert [s["id"] for s in listed.json()["data"]] == [created["id"]]


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("鸿", "1 characters"),
        ("一二三四五六七八九十一二三", "13 characters"),
        ("鸿雁【科技】", "brackets"),
        ("鸿雁(科技)", "brackets"),
        ("[鸿雁]", "brackets"),
        ("鸿雁😀", "emoji"),
        ("鸿雁☀科技", "emoji"),
        ("鸿雁#1", "'#'"),
    ],
)
async def test_name_rules(
    client: httpx.AsyncClient, tenant: KeyPair, name: str, reason: str
) -> None:
    body = {"name": name, "purpose": "general", "source": "app"}
    response = await client.post("/v1/signs", json=body, headers=tenant.basic)
    error = assert_error(response, 422, "SIGN_NAME_INVALID", "name")
    assert reason in error["message"]


@pytest.mark.parametrize("name", ["AB", "Hongyan Tech", "鸿雁-Tech", "一二三四五六七八九十一二"])
async def test_valid_names(client: httpx.AsyncClient, ctx: AppContext, name: str) -> None:
    pair = await make_tenant(ctx)
    assert (await create_sign(client, pair, name))["name"] == name


async def test_purpose_and_source_are_checked(client: httpx.AsyncClient, tenant: KeyPair) -> None:
    body = {"name": "鸿雁", "purpose": "marketing", "source": "company"}
    response = await client.post("/v1/signs", json=body, headers=tenant.basic)
    assert_error(response, 422, "FIELD_INVALID", "purpose")
    body = {"name": "鸿雁", "purpose": "general", "source": "blog"}
    response = await client.post("/v1/signs", json=body, headers=tenant.basic)
    assert_error(response, 422, "FIELD_INVALID", "source")


async def test_names_are_unique_per_tenant_until_deleted(
    client: httpx.AsyncClient, ctx: AppContext, operator: KeyPair
) -> None:
    pair = await make_tenant(ctx)
    first = await create_sign(client, pair, "唯一签名")
    body = {"name": "唯一签名", "purpose": "general", "source": "app"}
    again = await client.post("/v1/signs", json=body, headers=pair.basic)
    assert_error(again, 409, "SIGN_NAME_TAKEN", "name")
    other = await make_tenant(ctx)
    assert (await create_sign(client, other, "唯一签名"))["status"] == "pending"
    second = await create_sign(client, pair, "另一个签名")
    renamed = await client.patch(
        f"/v1/signs/{second['id']}", json={"name": "唯一签名"}, headers=pair.basic
    )
    assert_error(renamed, 409, "SIGN_NAME_TAKEN", "name")
    await decide(client, operator, first["id"])
    assert (await client.delete(f"/v1/signs/{first['id']}", headers=pair.basic)).status_code == 204
    assert (await create_sign(client, pair, "唯一签名"))["status"] == "pending"


async def test_modify_only_pending_or_rejected(
    client: httpx.AsyncClient, tenant: KeyPair, operator: KeyPair
) -> None:
    created = await create_sign(client, tenant, "修改测试")
    url = f"/v1/signs/{created['id']}"
    changed = await client.patch(url, json={"purpose": "verification"}, headers=tenant.basic)
    assert changed.json()["purpose"] == "verification" and changed.json()["version"] == 2
    await decide(client, operator, created["id"], reason="营业执照不清晰")
    rejected = (await client.get(url, headers=tenant.basic)).json()
    assert rejected["status"] == "rejected" and rejected["reason"] == "营业执照不清晰"
    resubmitted = await client.patch(url, json={"remark": "clearer scan"}, headers=tenant.basic)
    body = resubmitted.json()
    assert body["status"] == "pending" and body["reason"] is None and body["version"] == 3
    await decide(client, operator, created["id"])
    refused = await client.patch(url, json={"remark": "x"}, headers=tenant.basic)
    assert_error(refused, 409, "SIGN_NOT_MODIFIABLE", "id")
    history = (await client.get(f"{url}/history", headers=tenant.basic)).json()
    assert [(v["version"], v["status"]) for v in history] == [
        (1, "superseded"),
        (2, "rejected"),
        (3, "approved"),
    ]
    assert history[1]["reason"] == "营业执照不清晰" and history[1]["decided_by"] == "operator"


async def test_delete_rules(client: httpx.AsyncClient, tenant: KeyPair, operator: KeyPair) -> None:
    created = await create_sign(client, tenant, "删除测试")
    url = f"/v1/signs/{created['id']}"
    assert_error(await client.delete(url, headers=tenant.basic), 409, "SIGN_UNDER_REVIEW", "id")
    await decide(client, operator, created["id"], reason="no")
    assert (await client.delete(url, headers=tenant.basic)).status_code == 204
    assert (await client.delete(url, headers=tenant.basic)).status_code == 204
    shown = (await client.get(url, headers=tenant.basic)).json()
    assert shown["status"] == "canceled" and shown["canceled_at"] is not None
    listed = (await client.get("/v1/signs", headers=tenant.basic)).json()["data"]
    assert created["id"] not in [s["id"] for s in listed]
    canceled = (await client.get("/v1/signs?status=canceled", headers=tenant.basic)).json()
    assert created["id"] in [s["id"] for s in canceled["data"]]
    refused = await client.patch(url, json={"remark": "x"}, headers=tenant.basic)
    assert_error(refused, 409, "SIGN_NOT_MODIFIABLE")


async def test_blocked_word_in_name_is_rejected_at_once(
    client: httpx.AsyncClient, ctx: AppContext, operator: KeyPair
) -> None:
    pair = await make_tenant(ctx)
    created = await create_sign(client, pair, "赌博之家")
    assert created["status"] == "rejected"
    assert [f["code"] for f in created["findings"]] == ["SENSITIVE_WORD"]
    assert "name contains the blocked word" in created["findings"][0]["message"]
    await add_word(client, pair, "复核品牌", "review")
    review = await create_sign(client, pair, "复核品牌")
    assert review["status"] == "pending"
    assert [f["code"] for f in review["findings"]] == ["SENSITIVE_WORD_REVIEW"]
    audit = await client.get(
        "/v1/admin/audit", params={"tenant_id": pair.tenant_id}, headers=operator.basic
    )
    actions = [(e["action"], e["target_id"]) for e in audit.json()["data"]]
    assert ("sign.auto_reject", created["id"]) in actions


# --- qualification files ----------------------------------------------------------------------


async def test_files_are_stored_checked_and_downloadable(
    client: httpx.AsyncClient, tenant: KeyPair, operator: KeyPair, ctx: AppContext
) -> None:
    sign = await create_sign(client, tenant, "文件测试")
    uploaded = await upload(client, tenant, sign["id"], PDF, "营业执照.pdf")
    assert uploaded.status_code == 201, uploaded.text
    file = uploaded.json()
    assert file["content_type"] == "application/pdf" and file["size_bytes"] == len(PDF)
    assert file["filename"] == "营业执照.pdf" and file["id"].startswith("fil_")
    stored = ctx.settings.data_dir / "files" / "signs" / str(tenant.tenant_id) / file["id"]
    assert stored.read_bytes() == PDF
    # The type is read from the bytes, not from the name.
    png = (await upload(client, tenant, sign["id"], PNG, "scan.pdf")).json()
    assert png["content_type"] == "image/png"
    jpeg = (await upload(client, tenant, sign["id"], JPEG, "../../etc/photo.jpg")).json()
    assert jpeg["content_type"] == "image/jpeg" and jpeg["filename"] == "photo.jpg"
    shown = (await client.get(f"/v1/signs/{sign['id']}", headers=tenant.basic)).json()
    assert [f["id"] for f in shown["files"]] == [file["id"], png["id"], jpeg["id"]]
    url = f"/v1/signs/{sign['id']}/files/{file['id']}"
    download = await client.get(url, headers=tenant.basic)
    assert download.content == PDF and download.headers["content-type"] == "application/pdf"
    as_operator = await client.get(f"/v1/admin{url.removeprefix('/v1')}", headers=operator.basic)
    assert as_operator.content == PDF
    queue = await client.get(
        "/v1/admin/reviews", params={"tenant_id": tenant.tenant_id}, headers=operator.basic
    )
    [review] = [r for r in queue.json()["data"] if r["subject_id"] == sign["id"]]
    assert len(review["snapshot"]["files"]) == 3 and review["version"] == 1
    assert (await client.delete(url, headers=tenant.basic)).status_code == 204
    assert not stored.exists()
    assert_error(await client.get(url, headers=tenant.basic), 404, "FILE_NOT_FOUND", "file_id")


async def test_file_size_type_and_count_limits(client: httpx.AsyncClient, tenant: KeyPair) -> None:
    sign = await create_sign(client, tenant, "限制测试")
    too_big = PDF + b"\x00" * (5 * 1024 * 1024)
    assert_error(await upload(client, tenant, sign["id"], too_big), 413, "FILE_TOO_LARGE", "file")
    text = b"just some text, not a document"
    assert_error(
        await upload(client, tenant, sign["id"], text), 415, "FILE_TYPE_NOT_ALLOWED", "file"
    )
    assert_error(await upload(client, tenant, sign["id"], b""), 415, "FILE_TYPE_NOT_ALLOWED")
    for _ in range(signs.MAX_FILES):
        assert (await upload(client, tenant, sign["id"], PNG)).status_code == 201
    assert_error(await upload(client, tenant, sign["id"], PNG), 422, "SIGN_FILES_TOO_MANY")


async def test_files_on_decided_signs(
    client: httpx.AsyncClient, tenant: KeyPair, operator: KeyPair
) -> None:
    sign = await create_sign(client, tenant, "已审文件")
    await decide(client, operator, sign["id"], reason="缺少营业执照")
    # Answering a rejection with a file submits the sign again.
    assert (await upload(client, tenant, sign["id"], PDF)).status_code == 201
    shown = (await client.get(f"/v1/signs/{sign['id']}", headers=tenant.basic)).json()
    assert shown["status"] == "pending" and shown["version"] == 2
    await decide(client, operator, sign["id"])
    refused = await upload(client, tenant, sign["id"], PDF)
    assert_error(refused, 409, "SIGN_NOT_MODIFIABLE")


async def test_another_tenants_sign_is_not_found(
    client: httpx.AsyncClient, tenant: KeyPair, ctx: AppContext
) -> None:
    sign = await create_sign(client, tenant, "隔离测试")
    file = (await upload(client, tenant, sign["id"], PDF)).json()
    other = await make_tenant(ctx)
    url = f"/v1/signs/{sign['id']}"
    for response in (
        await client.get(url, headers=other.basic),
        await client.patch(url, json={"remark": "x"}, headers=other.basic),
        await client.delete(url, headers=other.basic),
        await client.get(f"{url}/history", headers=other.basic),
        await upload(client, other, sign["id"], PDF),
        await client.get(f"{url}/files/{file['id']}", headers=other.basic),
        await client.delete(f"{url}/files/{file['id']}", headers=other.basic),
    ):
        assert_error(response, 404, "SIGN_NOT_FOUND", "id")
    assert (await client.get("/v1/signs", headers=other.basic)).json()["data"] == []


async def test_send_path_helpers(
    client: httpx.AsyncClient, ctx: AppContext, operator: KeyPair
) -> None:
    pair = await make_tenant(ctx)
    otp_only = await create_sign(client, pair, "验证专用", purpose="verification")
    tenant_id = str(pair.tenant_id)
    async with ctx.db.session() as session:
        with pytest.raises(errors.HongyanError) as raised:
            await signs.get_approved(session, tenant_id=tenant_id, name="验证专用")
        assert raised.value.code == "SIGN_NOT_APPROVED"
        with pytest.raises(errors.HongyanError) as raised:
            await signs.get_approved(session, tenant_id=tenant_id, name="不存在")
        assert raised.value.code == "SIGN_NOT_FOUND"
    await decide(client, operator, otp_only["id"])
    async with ctx.db.session() as session:
        sign = await signs.get_approved(session, tenant_id=tenant_id, name="【验证专用】")
    signs.check_sign_for_template(sign, "verification")
    for kind in ("notification", "marketing"):
        with pytest.raises(errors.HongyanError) as raised:
            signs.check_sign_for_template(sign, kind)
        assert raised.value.code == "SIGN_SCENE_MISMATCH" and raised.value.field == "sign"
