"""Typed API errors: every failure is JSON ``{"error": {"code", "message", "details"}}``.

``code`` is machine-readable and stable; clients branch on it, never on ``message``.

A database that cannot be used right now (``shared.db.is_unavailable``: refused, starting
up, connection cut, pool exhausted) is ``503 service_unavailable`` with ``Retry-After``,
wherever it shows: in a route, in a dependency (authentication), in a middleware. Nothing
else is a 503; any other unexpected failure is ``500 internal_error``.
"""

from __future__ import annotations

import asyncpg
import sqlalchemy.exc
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.db import is_unavailable
from shared.metadata import DuplicateExternalReference, InvalidMetadata
from shared.pagination import InvalidCursor, InvalidPage

log = structlog.get_logger(__name__)

RETRY_AFTER_SECONDS = 1  # a restarting PostgreSQL is back within about a second
# What a database outage raises; each is a 503 only when ``is_unavailable`` says so.
OUTAGE_TYPES: tuple[type[Exception], ...] = (
    OSError,
    sqlalchemy.exc.DBAPIError,
    sqlalchemy.exc.TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
)


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: object = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers  # e.g. Retry-After on a retryable refusal


def not_found(what: str, ident: object) -> ApiError:
    return ApiError(404, f"{what}_not_found", f"{what} {ident} does not exist")


def error_body(code: str, message: str, details: object = None) -> dict[str, object]:
    body: dict[str, object] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return {"error": body}


def service_unavailable(exc: BaseException) -> JSONResponse:
    """The answer to ``exc`` when ``is_unavailable(exc)``: 503, retry after a second."""
    log.warning("http.service_unavailable", error=repr(exc)[:500])
    return JSONResponse(
        error_body(
            "service_unavailable",
            "the service cannot reach its database right now; retry shortly",
            {"retry_after_seconds": RETRY_AFTER_SECONDS},
        ),
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def internal_error() -> JSONResponse:
    return JSONResponse(
        error_body("internal_error", "the request failed; it is logged"), status_code=500
    )


_STATUS_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    415: "unsupported_media_type",
}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(
            error_body(exc.code, exc.message, exc.details),
            status_code=exc.status,
            headers=exc.headers,
        )

    @app.exception_handler(InvalidCursor)
    async def _invalid_cursor(_: Request, exc: InvalidCursor) -> JSONResponse:
        # Every list's ``starting_after`` that names no object of it (shared/pagination.py).
        return JSONResponse(
            error_body("invalid_cursor", str(exc), {"param": "starting_after"}), status_code=400
        )

    @app.exception_handler(InvalidPage)
    async def _invalid_page(_: Request, exc: InvalidPage) -> JSONResponse:
        return JSONResponse(error_body("invalid_page", str(exc)), status_code=400)

    @app.exception_handler(InvalidMetadata)
    async def _invalid_metadata(_: Request, exc: InvalidMetadata) -> JSONResponse:
        return JSONResponse(error_body(exc.code, str(exc), exc.details), status_code=400)

    @app.exception_handler(DuplicateExternalReference)
    async def _duplicate_reference(_: Request, exc: DuplicateExternalReference) -> JSONResponse:
        details = {"param": "external_reference", "external_reference": exc.external_reference}
        return JSONResponse(error_body(exc.code, str(exc), details), status_code=409)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")}
            for e in exc.errors()
        ]
        return JSONResponse(
            error_body("validation_error", "the request is invalid", details), status_code=422
        )

    async def _outage(_: Request, exc: Exception) -> JSONResponse:
        # Inside the middleware stack, so the answer carries the correlation id and is
        # counted; anything else goes on up, as if this handler were not there.
        if is_unavailable(exc):
            return service_unavailable(exc)
        raise exc

    for outage in OUTAGE_TYPES:
        app.add_exception_handler(outage, _outage)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        if is_unavailable(exc):  # raised in a middleware, outside the handler above
            return service_unavailable(exc)
        return internal_error()

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "http_error")
        return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code)
