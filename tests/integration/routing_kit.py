"""Shared by the routing tests: sinks that collect, extra connector kinds, builders."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Sequence
from typing import Any, ClassVar

import asyncpg
from pydantic import BaseModel, ConfigDict

from hongyan.accounts import service as accounts
from hongyan.api.context import AppContext
from hongyan.connectors import registry
from hongyan.connectors.base import OutboundSms, SendError, SendResult
from hongyan.connectors.simulator import SimulatorConnector
from hongyan.db import Database
from hongyan.routing import service
from hongyan.routing.manager import get_manager
from hongyan.routing.schemas import ConnectorCreate, ConnectorUpdate, RouteCreate
from tests.conftest import POSTGRES_URL, _pg_parts
from tests.sinks import Collector


class VendorSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    api_key: str
    api_secret: str
    endpoint: str = "https://sms.vendor.example"


class FakeVendorConnector(SimulatorConnector):
    """A non-simulator kind with a secret setting and a one-segment limit; it delivers all."""

    kind: ClassVar[str] = "test-vendor"
    max_segments: ClassVar[int] = 1
    settings_model: ClassVar[type[BaseModel]] = VendorSettings
    secret_settings: ClassVar[frozenset[str]] = frozenset({"api_secret"})
    simulated: ClassVar[bool] = False

    def __init__(self, id: str, settings: dict[str, object]) -> None:
        self.vendor = VendorSettings.model_validate(settings)
        super().__init__(id, {"receipt_delay_ms": 0, "rules": []})


class BrokenConnector(SimulatorConnector):
    """Raises something no connector should: the outcome of its sends is unknown."""

    kind: ClassVar[str] = "test-broken"

    async def send(self, batch: Sequence[OutboundSms]) -> list[SendResult | SendError]:
        raise ConnectionResetError("peer went away mid-batch")


EXTRA_KINDS = {"test-vendor": FakeVendorConnector, "test-broken": BrokenConnector}


def register_extra_kinds() -> None:
    registry.REGISTRY.update(EXTRA_KINDS)


def unregister_extra_kinds() -> None:
    for kind in EXTRA_KINDS:
        registry.REGISTRY.pop(kind, None)


TEST_PREFIX = "rt-"  # names of the connectors and routes these tests create


def unique(prefix: str) -> str:
    return f"{TEST_PREFIX}{prefix}-{secrets.token_hex(4)}"


async def disable_test_connectors(ctx: AppContext) -> None:
    """Disable the connectors tests made, so other tests' test-mode messages never meet them.

    (Test-mode messages fall back to any enabled simulator; a leftover one that is down or
    rejects numbers would make other tests depend on the order they run in.)
    """
    async with ctx.db.session() as session:
        rows = await service.list_connectors(session, limit=10_000, before_id=None)
        for row in rows:
            if row.enabled and row.name.startswith(TEST_PREFIX):
                await service.update_connector(
                    session,
                    ctx=ctx,
                    actor=accounts.CLI_ACTOR,
                    ref=row.id,
                    req=ConnectorUpdate(enabled=False),
                )


async def add_connector(
    ctx: AppContext, *, kind: str = "simulator", name: str | None = None, **settings: Any
) -> str:
    async with ctx.db.session() as session:
        row = await service.create_connector(
            session,
            ctx=ctx,
            actor=accounts.CLI_ACTOR,
            req=ConnectorCreate(name=name or unique(kind), kind=kind, settings=settings),
        )
    return row.id


async def add_route(ctx: AppContext, connector_id: str, **fields: Any) -> str:
    fields.setdefault("name", unique("route"))
    async with ctx.db.session() as session:
        row = await service.create_route(
            session,
            ctx=ctx,
            actor=accounts.CLI_ACTOR,
            req=RouteCreate.model_validate({"connector_id": connector_id, **fields}),
        )
    return row.id


async def add_tenant_connector(
    ctx: AppContext, tenant_id: str, kind: str, settings: dict[str, Any], *, priority: int
) -> str:
    """A connector and a route to it for one tenant only; the connector's id."""
    connector_id = await add_connector(ctx, kind=kind, **settings)
    await add_route(ctx, connector_id, priority=priority, tenant_ids=[tenant_id])
    return connector_id


def sms(
    tenant_id: str,
    msisdn: str = "+8613800138000",
    *,
    index: int = 0,
    kind: str = "notification",
    region: str | None = "CN",
    segments: int = 1,
    test_mode: bool = False,
) -> OutboundSms:
    return OutboundSms(
        message_id=f"msg_{secrets.token_hex(6)}_{index}",
        tenant_id=tenant_id,
        msisdn=msisdn,
        text="【鸿雁】您的订单已发货",
        encoding="ucs2",
        segments=segments,
        kind=kind,  # type: ignore[arg-type]
        region=region,
        test_mode=test_mode,
    )


async def candidates(
    ctx: AppContext, msg: OutboundSms, carrier: str | None = None, **kw: Any
) -> list[str]:
    async with ctx.db.session() as session:
        return await service.candidates(ctx, session, msg=msg, carrier=carrier, **kw)


def process_ctx(ctx: AppContext, **settings: Any) -> AppContext:
    """Another process's context on the same database: caches, breakers, connectors of its own."""
    other = AppContext.build(ctx.settings.model_copy(update=settings), ctx.db)
    get_manager(other).set_sinks(Collector().sinks)
    return other


async def fresh_database(template: Database, sqlite_path: str) -> AsyncIterator[Database]:
    """An empty migrated database of the same backend as ``template``, dropped afterwards."""
    if template.is_sqlite:
        db = Database(f"sqlite+aiosqlite:///{sqlite_path}")
        await db.upgrade()
        yield db
        await db.dispose()
        return
    assert POSTGRES_URL
    server, admin_db = _pg_parts(POSTGRES_URL)
    name = f"hongyan_routing_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(f"{server}/{admin_db}")
    await admin.execute(f'CREATE DATABASE "{name}"')
    db = Database(f"postgresql+asyncpg://{server.split('://', 1)[1]}/{name}")
    try:
        await db.upgrade()
        yield db
    finally:
        await db.dispose()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
