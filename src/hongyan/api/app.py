"""The HTTP application: ``create_app()`` mounts every domain's routes."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from hongyan import __version__, runtime
from hongyan.accounts import api as accounts_api
from hongyan.api import errors as api_errors
from hongyan.api import system
from hongyan.api.context import AppContext
from hongyan.api.middleware import RequestContext
from hongyan.config import Settings

DESCRIPTION = """\
Hongyan (鸿雁) is a self-hostable SMS platform.

Authenticate with `Authorization: Basic base64(key_id:key_secret)` or with the signed
`HONGYAN-HMAC-SHA256` form (see the authentication how-to). Errors come back as
`{"error": {"code", "message", "action", "field", "request_id", "doc"}}`; every code is listed by
`GET /v1/errors`. Send `Accept-Language: zh-CN` for messages in Chinese.
"""


def create_app(settings: Settings | None = None, *, ctx: AppContext | None = None) -> FastAPI:
    """Build the application.

    Given a context, the caller owns it (starts and stops it); otherwise the application makes
    its own and starts and stops it with its lifespan.
    """
    owned = ctx is None
    ctx = ctx or AppContext.build(settings or Settings())

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if owned:
            runtime.start(ctx)
        yield
        if owned:
            await runtime.stop(ctx)

    app = FastAPI(
        title="Hongyan SMS API",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url="/redoc",
    )
    app.state.ctx = ctx
    api_errors.install(app)
    app.add_middleware(RequestContext)
    for router in (system.router, accounts_api.router, accounts_api.admin, *_domain_routers()):
        app.include_router(router)
    _add_security_schemes(app)
    return app


# Domains whose api.py is mounted; each may export ``router`` (tenant routes) and ``admin``.
DOMAINS = (
    "signs",
    "templates",
    "reviews",
    "compliance",
    "numbers",
    "messages",
    "billing",
    "limits",
    "routing",
    "connectors",
    "webhooks",
    "dlr",
    "inbound",
    "stats",
    "smpp_server",
)


def _domain_routers() -> list[APIRouter]:
    routers = []
    for domain in DOMAINS:
        name = f"hongyan.{domain}.api"
        if importlib.util.find_spec(f"hongyan.{domain}") is None:
            continue
        if importlib.util.find_spec(name) is None:
            continue
        module = importlib.import_module(name)
        routers += [
            r
            for r in (getattr(module, "router", None), getattr(module, "admin", None))
            if isinstance(r, APIRouter)
        ]
    return routers


def _add_security_schemes(app: FastAPI) -> None:
    """Declare both auth forms in the OpenAPI document so generated clients know them."""
    original = app.openapi

    def openapi() -> dict[str, object]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = original()
        components = schema.setdefault("components", {})
        components["securitySchemes"] = {
            "basic": {
                "type": "http",
                "scheme": "basic",
                "description": "key_id as user name, key secret as password",
            },
            "signed": {
                "type": "apiKey",
                "in": "header",
                "name": "Authorization",
                "description": "HONGYAN-HMAC-SHA256 Credential=..., SignedHeaders=..., "
                "Signature=... with X-Hongyan-Date and X-Hongyan-Nonce",
            },
        }
        schema["security"] = [{"basic": []}, {"signed": []}]
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
