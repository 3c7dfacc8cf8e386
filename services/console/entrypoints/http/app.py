"""The console's FastAPI app: pages, static files, health, and the one mapping of what the
services answered to what the person sees."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape

from services.console.adapters.api import ApiFailure, ServiceUnavailable
from services.console.bootstrap import HERE, UPSTREAMS, ConsoleContainer, bootstrap
from services.console.domain import formatting
from services.console.domain.session import signed_out
from services.console.entrypoints.http import (
    break_workflow,
    breaks,
    finance,
    links,
    matching,
    operations,
    pages,
    periods,
    reports,
    supplier,
    trends,
)
from services.console.entrypoints.http.deps import (
    CsrfRefused,
    FormTooLarge,
    SignInRequired,
    redirect,
    render,
    replace_session,
    session_of,
    sign_in_path,
)
from services.console.entrypoints.http.middleware import install_session
from shared.clock import Clock
from shared.settings import Settings

HTMX = "htmx-2.0.11.min.js"  # vendored from npm (htmx.org 2.0.11), see docs/console.md
CHARTJS = "chart-4.5.1.umd.min.js"  # vendored from npm (chart.js 4.5.1)


def templates() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        amount=formatting.amount,
        money=formatting.money,
        utc=formatting.utc_text,
        iso=formatting.iso_utc,
        percent=formatting.percent,
    )
    env.globals.update(htmx=HTMX, chartjs=CHARTJS)
    return env


def create_console_app(
    settings: Settings | None = None,
    transports: dict[str, httpx.AsyncBaseTransport] | None = None,
    clock: Clock | None = None,
) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        container = bootstrap(settings, transports, clock)
        app.state.container = container
        try:
            yield
        finally:
            await container.close()

    app = FastAPI(title="Tradeflow console", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)  # fmt: skip
    app.state.templates = templates()
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for module in (
        pages,
        links,
        finance,
        breaks,
        matching,
        break_workflow,
        periods,
        reports,
        trends,
        operations,
        supplier,
    ):
        app.include_router(module.router)
    install_errors(app)
    install_health(app)
    install_session(app)
    return app


def install_errors(app: FastAPI) -> None:
    @app.exception_handler(SignInRequired)
    async def sign_in_first(request: Request, exc: SignInRequired) -> Response:
        reason = exc.reason or (
            "expired" if getattr(request.state, "session_expired", False) else None
        )
        return redirect(sign_in_path(exc.next_path, reason))

    @app.exception_handler(CsrfRefused)
    async def csrf_refused(request: Request, exc: CsrfRefused) -> HTMLResponse:
        return render(request, "error.html", 403, title="Form expired",
                      message="This form was not sent from a page of this session. Reload the "
                      "page and send it again.")  # fmt: skip

    @app.exception_handler(FormTooLarge)
    async def too_large(request: Request, exc: FormTooLarge) -> HTMLResponse:
        return render(request, "error.html", 413, title="Form too large",
                      message="This form carried more than the console accepts.")  # fmt: skip

    @app.exception_handler(ApiFailure)
    async def refused(request: Request, exc: ApiFailure) -> Response:
        if exc.status == 401:  # the key was revoked or expired: the session is over
            replace_session(request, signed_out(session_of(request)))
            return redirect(sign_in_path(request.url.path, "key_invalid"))
        if exc.status == 404:
            return render(request, "error.html", 404, title="Not found",
                          message="There is nothing at this address for your account.")  # fmt: skip
        if exc.status == 403:
            return render(request, "error.html", 403, title="Not allowed",
                          message=f"Your API key may not see this ({exc.message}).")  # fmt: skip
        return render(request, "error.html", exc.status, title="Refused",
                      message=f"The {exc.service} service refused: {exc.message}")  # fmt: skip

    @app.exception_handler(ServiceUnavailable)
    async def unavailable(request: Request, exc: ServiceUnavailable) -> HTMLResponse:
        response = render(request, "error.html", 503, title="Service unavailable",
                          message=f"The {exc.service} service is not answering right now. "
                          "Nothing was changed; try again in a moment.", retry=True)  # fmt: skip
        response.headers["Retry-After"] = "5"
        return response


def install_health(app: FastAPI) -> None:
    @app.get("/healthz/live", include_in_schema=False)
    async def live() -> JSONResponse:
        return JSONResponse({"service": "console", "status": "ok"})

    @app.get("/healthz/ready", include_in_schema=False)
    @app.get("/healthz", include_in_schema=False)
    async def ready(request: Request) -> JSONResponse:
        """Ready when every API it reads answers its liveness probe (3 s each)."""
        c: ConsoleContainer = request.app.state.container

        async def probe(service: str) -> str:
            try:
                r = await c.http[service].get("/healthz/live", timeout=3)
                return "ok" if r.status_code == 200 else f"error: HTTP {r.status_code}"
            except httpx.HTTPError as exc:
                return f"error: {type(exc).__name__}"

        results = await asyncio.gather(*(probe(s) for s in UPSTREAMS))
        checks = dict(zip(UPSTREAMS, results, strict=True))
        ok = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"service": "console", "status": "ok" if ok else "unavailable", "checks": checks,
             "blocking": list(UPSTREAMS)},
            status_code=200 if ok else 503,
        )  # fmt: skip
