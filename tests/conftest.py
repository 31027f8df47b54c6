"""Shared fixtures: a migrated database per backend, the app, and tenants with keys.

Integration tests take the ``ctx`` or ``client`` fixture and so run once on SQLite and once on
PostgreSQL (when HONGYAN_TEST_POSTGRES_URL is set). Each PostgreSQL run gets a database of its
own, created here and dropped at the end, so runs never see each other's rows.
"""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest

from hongyan.accounts import service as accounts
from hongyan.accounts.schemas import KeyCreate, Scope, TenantCreate
from hongyan.api.app import create_app
from hongyan.api.context import AppContext
from hongyan.config import Settings
from hongyan.db import Database

# The CLI tests' data_dir fixture lives with their other helpers.
pytest_plugins = ["tests.cli_kit"]

POSTGRES_URL = os.environ.get("HONGYAN_TEST_POSTGRES_URL")
REDIS_URL = os.environ.get("HONGYAN_TEST_REDIS_URL")
TEST_SECRET_KEY = "test-secret-key-not-for-production"

BACKENDS = [
    "sqlite",
    pytest.param(
        "postgres",
        marks=pytest.mark.skipif(not POSTGRES_URL, reason="HONGYAN_TEST_POSTGRES_URL not set"),
    ),
]


def pytest_report_header() -> list[str]:
    lines = [f"postgres: {'yes' if POSTGRES_URL else 'NO'}; redis: {'yes' if REDIS_URL else 'NO'}"]
    if not POSTGRES_URL or not REDIS_URL:
        lines.append(
            "NOTICE: the PostgreSQL/Redis suites are SKIPPED: set HONGYAN_TEST_POSTGRES_URL "
            "and HONGYAN_TEST_REDIS_URL to run them (.ci/run does)."
        )
    return lines


def _pg_parts(url: str) -> tuple[str, str]:
    """(server URL without the database, the database name) of a postgresql:// URL."""
    plain = url.replace("postgresql+asyncpg://", "postgresql://")
    base, _, name = plain.rpartition("/")
    return base, name


@pytest.fixture(scope="session")
def tmp_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hongyan-data")


@pytest.fixture(scope="session", params=BACKENDS)
async def database(request: pytest.FixtureRequest, tmp_data_dir: Path) -> AsyncIterator[Database]:
    """A migrated database of one backend, shared by the tests of one session."""
    if request.param == "sqlite":
        db = Database(f"sqlite+aiosqlite:///{tmp_data_dir / 'test.db'}")
        await db.upgrade()
        yield db
        await db.dispose()
        return
    assert POSTGRES_URL
    server, admin_db = _pg_parts(POSTGRES_URL)
    name = f"hongyan_test_{os.getpid()}_{secrets.token_hex(3)}"
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


@pytest.fixture(scope="session")
def settings(tmp_data_dir: Path) -> Settings:
    return Settings(data_dir=tmp_data_dir, secret_key=TEST_SECRET_KEY, auth_key_cache_secs=0)


@pytest.fixture(scope="session")
def ctx(settings: Settings, database: Database) -> AppContext:
    return AppContext.build(settings.model_copy(update={"database_url": database.url}), database)


@pytest.fixture(scope="session")
async def client(ctx: AppContext) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(ctx=ctx)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hongyan.test") as http:
        yield http


@dataclass
class KeyPair:
    """An API key and its secret, with the headers that use it."""

    key_id: str
    secret: str
    tenant_id: str | None

    @property
    def basic(self) -> dict[str, str]:
        token = base64.b64encode(f"{self.key_id}:{self.secret}".encode()).decode()
        return {"Authorization": f"Basic {token}"}


async def make_tenant(
    ctx: AppContext, *, scopes: list[Scope] | None = None, **fields: object
) -> KeyPair:
    """A new tenant (unique name) and a key of it."""
    fields.setdefault("name", f"tenant-{secrets.token_hex(4)}")
    async with ctx.db.session() as session:
        tenant = await accounts.create_tenant(
            session, actor=accounts.CLI_ACTOR, req=TenantCreate.model_validate(fields)
        )
        created = await accounts.create_key(
            session,
            actor=accounts.CLI_ACTOR,
            box=ctx.box,
            tenant_id=tenant.id,
            req=KeyCreate(name="test", scopes=scopes or ["send", "read", "manage"]),
        )
    return KeyPair(created.key.id, created.secret, tenant.id)


async def make_operator(ctx: AppContext) -> KeyPair:
    async with ctx.db.session() as session:
        created = await accounts.create_key(
            session,
            actor=accounts.CLI_ACTOR,
            box=ctx.box,
            tenant_id=None,
            req=KeyCreate(name="operator"),
        )
    return KeyPair(created.key.id, created.secret, None)


@pytest.fixture
async def tenant(ctx: AppContext) -> KeyPair:
    return await make_tenant(ctx)


@pytest.fixture
async def operator(ctx: AppContext) -> KeyPair:
    return await make_operator(ctx)


@pytest.fixture
def redis_url() -> Iterator[str]:
    if not REDIS_URL:
        pytest.skip("HONGYAN_TEST_REDIS_URL not set")
    yield REDIS_URL
