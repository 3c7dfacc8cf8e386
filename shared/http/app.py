"""The FastAPI application every service builds: errors, idempotency, /healthz, /metrics,
and the shared /v1/api-keys router."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.middleware.base import RequestResponseEndpoint

from shared.correlation import correlated
from shared.events.envelope import new_event_id
from shared.http import api_keys
from shared.http.errors import install_error_handlers
from shared.http.guard import RequestGuardMiddleware
from shared.http.idempotency import IdempotencyMiddleware
from shared.http.openapi import install_openapi
from shared.metrics import HTTP_LATENCY, HTTP_REQUESTS
from shared.runtime import Runtime

CORRELATION_HEADER = "X-Correlation-Id"

# bootstrap() -> an object with a ``runtime`` attribute and an async ``close()``.
Bootstrap = Callable[[], Awaitable[Any]]


def create_service_app(
    *, service: str, bootstrap: Bootstrap, routers: Sequence[APIRouter], version: str = "0.1.0"
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        container = await bootstrap()
        app.state.container = container
        app.state.engine = container.runtime.engine
        app.state.identity = container.runtime.identity  # API keys (shared.http.auth)
        try:
            yield
        finally:
            await container.close()

    app = FastAPI(title=f"Tradeflow {service}", version=version, lifespan=lifespan)
    install_error_handlers(app)
    install_openapi(app)
    app.add_middleware(IdempotencyMiddleware)
    app.add_middleware(RequestGuardMiddleware)  # added later = runs first: before idempotency

    @app.middleware("http")
    async def _observe(request: Request, call_next: RequestResponseEndpoint) -> Response:
        started = time.perf_counter()
        cid = _correlation_id(request.headers.get(CORRELATION_HEADER))
        with correlated(cid, http_method=request.method, http_path=request.url.path):
            response = await call_next(request)
        response.headers[CORRELATION_HEADER] = str(cid)
        route = getattr(request.scope.get("route"), "path", "unmatched")
        HTTP_REQUESTS.labels(service, request.method, route, str(response.status_code)).inc()
        HTTP_LATENCY.labels(service, request.method, route).observe(time.perf_counter() - started)
        return response

    @app.get("/healthz", include_in_schema=False)
    async def healthz(request: Request) -> JSONResponse:
        runtime: Runtime = request.app.state.container.runtime
        checks = {"database": await _check_db(runtime), "kafka": await _check_kafka(runtime)}
        healthy = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"service": service, "status": "ok" if healthy else "unhealthy", "checks": checks},
            status_code=200 if healthy else 503,
        )

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    for router in (*routers, api_keys.router):
        app.include_router(router)
    return app


def _correlation_id(header: str | None) -> UUID:
    """The caller's correlation id when it is a UUID, else a new one."""
    try:
        return UUID(header) if header else new_event_id()
    except ValueError:
        return new_event_id()


async def _check_db(runtime: Runtime) -> str:
    try:
        async with runtime.engine.connect() as conn:
            await asyncio.wait_for(conn.execute(sa.text("SELECT 1")), timeout=3)
        return "ok"
    except Exception as exc:
        return f"error: {type(exc).__name__}"


async def _check_kafka(runtime: Runtime) -> str:
    try:
        ok = await asyncio.wait_for(runtime.producer.client.fetch_all_metadata(), timeout=3)
        return "ok" if ok is not None else "error: no metadata"
    except Exception as exc:
        return f"error: {type(exc).__name__}"
