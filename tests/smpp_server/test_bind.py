"""Binds of a real SMPP client (smpplib): accepted, and refused for each reason with its status."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from hongyan.accounts.service import CLI_ACTOR
from hongyan.api.context import AppContext
from hongyan.smpp.constants import CommandStatus as S
from hongyan.smpp_server import service
from hongyan.smpp_server.schemas import CredentialUpdate
from hongyan.smpp_server.server import SmppServer
from tests.smpp_server.conftest import SmppTenant, add_credential, bound, make_smpp_tenant
from tests.smpp_server.esme import SyncEsme


async def live_binds(ctx: AppContext, tenant: SmppTenant) -> int:
    async with ctx.db.session() as session:
        row = await service.get(session, tenant.credential_id)
        (view,) = await service.views(session, ctx=ctx, rows=[row])
    return view.binds


async def binds_become(ctx: AppContext, tenant: SmppTenant, count: int) -> None:
    async with asyncio.timeout(5):
        while await live_binds(ctx, tenant) != count:  # noqa: ASYNC110  # rows in the database, no event
            await asyncio.sleep(0.02)


@pytest.mark.parametrize("mode", ["transmitter", "receiver", "transceiver"])
async def test_bind_accepted_in_every_mode(
    server: SmppServer, smpp_tenant: SmppTenant, sctx: AppContext, esmes: list[SyncEsme], mode: str
) -> None:
    esme = await bound(server, smpp_tenant, esmes, mode)
    assert esme.client.state != 0
    assert await live_binds(sctx, smpp_tenant) == 1
    await esme.close()
    await binds_become(sctx, smpp_tenant, 0)


async def test_wrong_password_and_unknown_system_id(
    server: SmppServer, smpp_tenant: SmppTenant, esmes: list[SyncEsme]
) -> None:
    wrong = SyncEsme(server.port)
    unknown = SyncEsme(server.port)
    esmes += [wrong, unknown]
    assert await wrong.bind("transceiver", smpp_tenant.system_id, "nOtiT123") == S.ESME_RINVPASWD
    assert await unknown.bind("transmitter", "nobody-here", "whatever") == S.ESME_RINVSYSID


async def test_address_not_in_the_allowlist(
    client: httpx.AsyncClient, server: SmppServer, sctx: AppContext, esmes: list[SyncEsme]
) -> None:
    fenced = await make_smpp_tenant(client, sctx, ip_allowlist=["203.0.113.0/24"])
    esme = SyncEsme(server.port)
    esmes.append(esme)
    assert await esme.bind("transceiver", fenced.system_id, fenced.password) == S.ESME_RBINDFAIL
    _, system_id, password = await add_credential(
        sctx, fenced.tenant_id, ip_allowlist=["203.0.113.0/24", "127.0.0.0/8"]
    )
    inside = SyncEsme(server.port)
    esmes.append(inside)
    assert await inside.bind("transceiver", system_id, password) == S.ESME_ROK


async def test_too_many_binds_then_a_slot_frees(
    client: httpx.AsyncClient, server: SmppServer, sctx: AppContext, esmes: list[SyncEsme]
) -> None:
    single = await make_smpp_tenant(client, sctx, max_binds=1)
    first = await bound(server, single, esmes, "transmitter")
    second = SyncEsme(server.port)
    esmes.append(second)
    assert await second.bind("receiver", single.system_id, single.password) == S.ESME_RBINDFAIL
    await first.close()
    await binds_become(sctx, single, 0)
    await bound(server, single, esmes, "receiver")


async def test_disabled_credential_refused_and_open_binds_closed(
    server: SmppServer, smpp_tenant: SmppTenant, sctx: AppContext, esmes: list[SyncEsme]
) -> None:
    await bound(server, smpp_tenant, esmes)
    async with sctx.db.session() as session:
        await service.update(
            session,
            actor=CLI_ACTOR,
            ref=smpp_tenant.credential_id,
            req=CredentialUpdate(enabled=False),
        )
    await binds_become(sctx, smpp_tenant, 0)  # the heartbeat unbinds it
    late = SyncEsme(server.port)
    esmes.append(late)
    assert await late.bind("transceiver", smpp_tenant.system_id, smpp_tenant.password) == (
        S.ESME_RBINDFAIL
    )
