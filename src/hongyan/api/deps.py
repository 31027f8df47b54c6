"""FastAPI dependencies: the process context, a database session, the authenticated caller."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession

from hongyan import errors
from hongyan.accounts.auth import Principal, RequestParts
from hongyan.accounts.service import Actor
from hongyan.api.context import AppContext
from hongyan.kit import pagination, signing


def get_ctx(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


Ctx = Annotated[AppContext, Depends(get_ctx)]


async def get_session(ctx: Ctx) -> AsyncIterator[AsyncSession]:
    """One transaction per request: committed when the endpoint returns, rolled back on error."""
    async with ctx.db.session() as session:
        yield session


Session = Annotated[AsyncSession, Depends(get_session)]


async def get_principal(request: Request, ctx: Ctx) -> Principal:
    authorization = request.headers.get("authorization")
    principal = await ctx.auth.authenticate(authorization, await _parts(request, authorization))
    request.state.principal = principal
    return principal


_UNSIGNED = RequestParts(method="", path="", query="", headers={}, body=b"")


async def _parts(request: Request, authorization: str | None) -> RequestParts:
    """What the signed form covers; for Basic nothing (no header copy, no URL parsing)."""
    if not authorization or not authorization.startswith(signing.ALGORITHM):
        return _UNSIGNED
    return RequestParts(
        method=request.method,
        path=request.url.path,
        query=request.url.query,
        headers={k.lower(): v for k, v in request.headers.items()},
        body=await _body_for_signature(request),
    )


async def _body_for_signature(request: Request) -> bytes:
    """The raw body of a signed request.

    FastAPI parses multipart forms before dependencies run and does not keep the raw bytes, so
    a signed multipart upload cannot be verified: it is refused with a clear reason.
    """
    try:
        return await request.body()
    except RuntimeError:  # "Stream consumed": the body went to a form parser
        raise errors.AUTH_MALFORMED(
            reason="signed requests cannot upload multipart forms; use Basic for uploads"
        ) from None


def tenant_caller(scope: str) -> Callable[..., Awaitable[Principal]]:
    """A tenant key holding ``scope``."""

    async def dependency(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if principal.is_operator or principal.tenant_id is None:
            raise errors.TENANT_KEY_REQUIRED()
        if scope not in principal.scopes:
            raise errors.SCOPE_MISSING(scope=scope)
        return principal

    return dependency


async def operator_caller(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    if not principal.is_operator:
        raise errors.OPERATOR_REQUIRED()
    return principal


TenantRead = Annotated[Principal, Depends(tenant_caller("read"))]
TenantSend = Annotated[Principal, Depends(tenant_caller("send"))]
TenantManage = Annotated[Principal, Depends(tenant_caller("manage"))]
Operator = Annotated[Principal, Depends(operator_caller)]


def actor_of(request: Request, principal: Principal) -> Actor:
    ip = request.client.host if request.client else None
    return Actor(role=principal.role, key_id=principal.key_id, tenant_id=principal.tenant_id, ip=ip)


class PageParams:
    """``?limit=&cursor=`` of a list endpoint."""

    def __init__(
        self,
        limit: Annotated[int, Query(ge=1, le=pagination.MAX_LIMIT)] = pagination.DEFAULT_LIMIT,
        cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    ) -> None:
        self.limit = limit
        self.before_id = pagination.decode_cursor(cursor)


Paging = Annotated[PageParams, Depends()]
