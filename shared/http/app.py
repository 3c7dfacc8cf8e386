"""The FastAPI application every service builds: errors, idempotency, health, /metrics,
and the shared /v1/api-keys router.

Health keeps liveness and readiness apart:
- ``/healthz/live``: the process and its event loop answer. No dependency is checked, so
  an outage elsewhere never gets a healthy process restarted.
- ``/healthz/ready`` (and ``/healthz``, its old name): may this instance take traffic? It
  needs its database and the identity database (API keys): 503 (with Retry-After) while
  either cannot be reached. Kafka is
  reported but does not block: the API only writes events to its outbox, and the relay
  publishes them once Kafka is back. ``status`` is ``ok``, ``degraded`` (ready, but a
  non-blocking check fails) or ``unavailable``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.faults import refuse_in_production
from shared.http import api_keys
from shared.http.claims import close_claim_engine
from shared.http.errors import RETRY_AFTER_SECONDS, install_error_handlers
from shared.http.guard import RequestGuardMiddleware
from shared.http.idempotency import IdempotencyMiddleware
from shared.http.observe import ObserveMiddleware
from shared.http.openapi import install_openapi
from shared.runtime import Runtime

# Readiness checks that make an instance unready when they fail; the others are reported.
# Every request authenticates against the identity database and works in its own.
BLOCKING = ("database", "identity")

# bootstrap() -> an object with a ``runtime`` attribute and an async ``close()``.
Bootstrap = Callable[[], Awaitable[Any]]


def create_service_app(
    *, service: str, bootstrap: Bootstrap, routers: Sequence[APIRouter], version: str = "0.1.0"
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        refuse_in_production()
        container = await bootstrap()
        app.state.container = container
        app.state.engine = container.runtime.engine
        app.state.identity = container.runtime.identity  # API keys (shared.http.auth)
        try:
            yield
        finally:
            await close_claim_engine(container.runtime.engine)
            await container.close()

    app = FastAPI(title=f"Tradeflow {service}", version=version, lifespan=lifespan)
    install_error_handlers(app)
    install_openapi(app)
    app.add_middleware(IdempotencyMiddleware)
    app.add_middleware(RequestGuardMiddleware)  # added later = runs first: before idempotency

    # Added last = runs first: the correlation id is bound before the guard may refuse.
    app.add_middleware(ObserveMiddleware, service=service)

    @app.get("/healthz/live", include_in_schema=False)
    async def live() -> JSONResponse:
        return JSONResponse({"service": service, "status": "ok"})

    @app.get("/healthz/ready", include_in_schema=False)
    @app.get("/healthz", include_in_schema=False)
    async def ready(request: Request) -> JSONResponse:
        runtime: Runtime = request.app.state.container.runtime
        database, identity, kafka = await asyncio.gather(
            _check_db(runtime.engine), _check_db(runtime.identity), _check_kafka(runtime)
        )
        checks = {"database": database, "identity": identity, "kafka": kafka}
        is_ready = all(checks[name] == "ok" for name in BLOCKING)
        status = "unavailable" if not is_ready else "ok" if kafka == "ok" else "degraded"
        return JSONResponse(
            {"service": service, "status": status, "checks": checks, "blocking": list(BLOCKING)},
            status_code=200 if is_ready else 503,
            headers={} if is_ready else {"Retry-After": str(RETRY_AFTER_SECONDS)},
        )

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    for router in (*routers, api_keys.router):
        app.include_router(router)
    return app


async def _check_db(engine: AsyncEngine) -> str:
    try:
        async with engine.connect() as conn:
            await asyncio.wait_for(conn.execute(sa.text("SELECT 1")), timeout=3)
        return "ok"
    except Exception as exc:
        return f"error: {type(exc).__name__}"


async def _check_kafka(runtime: Runtime) -> str:
    try:
        ok = await asyncio.wait_for(runtime.producer.client.fetch_all_metadata(), timeout=2)
        return "ok" if ok is not None else "error: no metadata"
    except Exception as exc:
        return f"error: {type(exc).__name__}"
