"""Secrets never reach the logs or the database in clear text."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import httpx
import pytest
import structlog
from sqlalchemy import text

from hongyan.api.context import AppContext
from hongyan.kit import logging as hy_logging
from tests.conftest import KeyPair, make_tenant


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    """Everything logged through structlog while the test runs, rendered as production JSON."""
    sink = io.StringIO()
    hy_logging.configure(fmt="json", level="DEBUG")
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=sink))
    yield sink
    structlog.reset_defaults()


async def test_secrets_stay_out_of_logs(
    client: httpx.AsyncClient, ctx: AppContext, captured_logs: io.StringIO
) -> None:
    pair = await make_tenant(ctx)
    created = await client.post("/v1/keys", json={"name": "logged?"}, headers=pair.basic)
    new_secret = created.json()["secret"]
    await client.get("/v1/tenant", headers=pair.basic)
    wrong = KeyPair(pair.key_id, pair.secret + "typo", pair.tenant_id)
    await client.get("/v1/tenant", headers=wrong.basic)
    structlog.get_logger("t").info("explicit", secret="hys_leak", api_key="hys_leak2")
    output = captured_logs.getvalue()
    assert '"event": "request"' in output  # the requests were logged
    for secret in (pair.secret, new_secret, "hys_leak", "hys_leak2", pair.basic["Authorization"]):
        assert secret not in output


def test_phone_numbers_are_masked() -> None:
    assert hy_logging.mask_number("to 13800138000 and +8613912345678") == (
        "to 138****8000 and +86139****5678"
    )


async def test_secrets_are_encrypted_in_the_database(ctx: AppContext) -> None:
    pair = await make_tenant(ctx)
    async with ctx.db.engine.connect() as conn:
        rows = (
            (await conn.execute(text("SELECT * FROM api_key WHERE id = :id"), {"id": pair.key_id}))
            .mappings()
            .all()
        )
        audit = (await conn.execute(text("SELECT * FROM audit_entry"))).mappings().all()
    dumped = json.dumps([dict(r) for r in rows], default=str)
    assert pair.key_id in dumped
    assert pair.secret not in dumped
    assert pair.secret[4:] not in dumped  # not even without its prefix
    assert pair.secret not in json.dumps([dict(r) for r in audit], default=str)
    # and it decrypts back only with the instance's secret key
    assert ctx.box.decrypt(rows[0]["secret_encrypted"]) == pair.secret
