"""An SMPP server for tenants on 127.0.0.1 (port 0), and tenants with SMPP credentials."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from hongyan.accounts.service import CLI_ACTOR
from hongyan.api.context import AppContext
from hongyan.smpp_server import service
from hongyan.smpp_server.schemas import CredentialCreate
from hongyan.smpp_server.server import SmppServer
from tests.senders import Sender, make_sender
from tests.smpp_server.esme import SyncEsme

# Short timers, so a test of a timeout does not wait long (no timing is asserted).
SERVER_SETTINGS = {
    "smpp_server_part_timeout_secs": 1.0,
    "smpp_server_outbox_poll_secs": 0.2,
    "smpp_server_outbox_retry_secs": 0.2,
    "smpp_server_response_timeout_secs": 1.0,
    "smpp_server_template_cache_secs": 0.0,
    "smpp_server_bind_heartbeat_secs": 0.5,
}


@pytest.fixture
def sctx(ctx: AppContext) -> AppContext:
    """The test context with short SMPP timers and caches of its own."""
    settings = ctx.settings.model_copy(update=SERVER_SETTINGS)
    return dataclasses.replace(ctx, settings=settings, caches={})


@pytest.fixture
async def server(sctx: AppContext) -> AsyncIterator[SmppServer]:
    smpp = SmppServer(sctx, host="127.0.0.1", port=0)
    await smpp.start()
    try:
        yield smpp
    finally:
        await smpp.stop()


@dataclass
class SmppTenant:
    sender: Sender
    system_id: str
    password: str
    credential_id: str

    @property
    def tenant_id(self) -> str:
        return self.sender.tenant_id


async def add_credential(ctx: AppContext, tenant_id: str, **fields: Any) -> tuple[str, str, str]:
    """(id, system_id, password) of a new credential of the tenant."""
    system_id = fields.pop("system_id", "t" + secrets.token_hex(5))
    async with ctx.db.session() as session:
        issued = await service.create(
            session,
            actor=CLI_ACTOR,
            req=CredentialCreate(tenant_id=tenant_id, system_id=system_id, **fields),
        )
    return issued.credential.id, system_id, issued.password


async def make_smpp_tenant(
    client: httpx.AsyncClient, ctx: AppContext, *, balance: int = 1_000_000, **fields: Any
) -> SmppTenant:
    """A sending-ready tenant (tests/senders.py) with an SMPP credential."""
    tenant_fields = {k: fields.pop(k) for k in ("free_text_allowed",) if k in fields}
    sender = await make_sender(client, ctx, balance=balance, **tenant_fields)
    credential_id, system_id, password = await add_credential(ctx, sender.tenant_id, **fields)
    return SmppTenant(sender, system_id, password, credential_id)


@pytest.fixture
async def smpp_tenant(client: httpx.AsyncClient, sctx: AppContext) -> SmppTenant:
    return await make_smpp_tenant(client, sctx)


@pytest.fixture
async def esmes(server: SmppServer) -> AsyncIterator[list[SyncEsme]]:
    """Clients made by a test are closed after it, bound or not."""
    made: list[SyncEsme] = []
    yield made
    for esme in made:
        await esme.close()


async def bound(
    server: SmppServer, tenant: SmppTenant, esmes: list[SyncEsme], mode: str = "transceiver"
) -> SyncEsme:
    esme = SyncEsme(server.port)
    esmes.append(esme)
    status = await esme.bind(mode, tenant.system_id, tenant.password)
    assert status == 0, f"bind refused: 0x{status:X}"
    return esme
