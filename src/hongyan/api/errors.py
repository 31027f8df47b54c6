"""The one error handler: every refusal leaves as the catalog's JSON body."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from hongyan import errors
from hongyan.kit.metrics import API_ERRORS

log = structlog.get_logger("hongyan.api")


class ErrorDetail(BaseModel):
    code: str = Field(examples=["TEMPLATE_NOT_APPROVED"])
    message: str
    action: str = Field(description="What the caller should do about it.")
    field: str | None = None
    request_id: str | None = Field(None, examples=["req_01jd3x8m2q0000000000000000"])
    doc: str


class ErrorBody(BaseModel):
    error: ErrorDetail


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text}
    for status, text in (
        (400, "Bad request"),
        (401, "Not authenticated"),
        (402, "Balance too low"),
        (403, "Not allowed"),
        (404, "Not found"),
        (409, "Conflict"),
        (422, "Invalid field"),
        (429, "Too many requests"),
    )
}

# pydantic error types -> catalog entries; anything else is FIELD_INVALID.
_VALIDATION_CODES = {
    "missing": errors.FIELD_REQUIRED,
    "string_too_long": errors.FIELD_TOO_LONG,
    "too_long": errors.FIELD_TOO_LONG,
    "string_too_short": errors.FIELD_TOO_SHORT,
    "too_short": errors.FIELD_TOO_SHORT,
    "extra_forbidden": errors.FIELD_UNKNOWN,
    "json_invalid": errors.BODY_NOT_JSON,
}


def error_response(request: Request, exc: errors.HongyanError) -> JSONResponse:
    lang = errors.lang_from_header(request.headers.get("accept-language"))
    request_id = getattr(request.state, "request_id", None)
    base = request.app.state.ctx.settings.base_url if hasattr(request.app.state, "ctx") else ""
    body = ErrorBody(
        error=ErrorDetail(
            code=exc.code,
            message=exc.message(lang),
            action=exc.action(lang),
            field=exc.field,
            request_id=request_id,
            doc=f"{base}/docs/errors#{exc.code}",
        )
    )
    API_ERRORS.labels(exc.code).inc()
    log.info("refused", code=exc.code, field=exc.field, status=exc.status)
    headers = {"WWW-Authenticate": 'Basic realm="hongyan"'} if exc.status == 401 else None
    return JSONResponse(body.model_dump(), status_code=exc.status, headers=headers)


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def validation_to_catalog(exc: RequestValidationError) -> errors.HongyanError:
    """The first validation problem as a catalog error naming the field."""
    first = exc.errors()[0]
    spec = _VALIDATION_CODES.get(first["type"], errors.FIELD_INVALID)
    reason = str(first.get("msg", "invalid value"))
    if spec is errors.BODY_NOT_JSON:
        return spec()
    return spec(field=_field_name(tuple(first.get("loc", ()))), reason=reason)


def install(app: FastAPI) -> None:
    """Register the handlers on the application."""

    async def on_hongyan(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, errors.HongyanError)
        return error_response(request, exc)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return error_response(request, validation_to_catalog(exc))

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        spec = {404: errors.NOT_FOUND, 405: errors.METHOD_NOT_ALLOWED}.get(exc.status_code)
        response = error_response(request, (spec or errors.INTERNAL_ERROR)())
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    async def on_crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", path=request.url.path)
        return error_response(request, errors.INTERNAL_ERROR())

    app.add_exception_handler(errors.HongyanError, on_hongyan)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_crash)
