"""The outermost middleware: correlation ids in and out, bound while the request runs."""

from __future__ import annotations

import uuid

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from shared.correlation import current_correlation_id
from shared.http.observe import CORRELATION_HEADER, ObserveMiddleware


async def seen(request: Request) -> JSONResponse:
    return JSONResponse({"correlation_id": str(current_correlation_id())})


def client() -> httpx.AsyncClient:
    app = Starlette(routes=[Route("/seen", seen)])
    app.add_middleware(ObserveMiddleware, service="test")
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_a_callers_uuid_is_bound_inside_and_echoed() -> None:
    given = str(uuid.uuid4())
    async with client() as c:
        r = await c.get("/seen", headers={CORRELATION_HEADER: given})
    assert r.json() == {"correlation_id": given}
    assert r.headers[CORRELATION_HEADER] == given


async def test_anything_else_gets_a_new_id_which_the_request_runs_with() -> None:
    async with client() as c:
        r = await c.get("/seen", headers={CORRELATION_HEADER: "not-a-uuid"})
        unmatched = await c.get("/nowhere")
    minted = r.headers[CORRELATION_HEADER]
    assert uuid.UUID(minted).version == 7 and r.json() == {"correlation_id": minted}
    assert unmatched.status_code == 404 and CORRELATION_HEADER in unmatched.headers
    assert current_correlation_id() is None  # nothing leaks out of the request
