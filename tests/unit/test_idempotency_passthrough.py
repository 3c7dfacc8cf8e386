"""The idempotency middleware's ways around the database: what it passes on untouched.

The keyed path (claims, stored answers, crashes) needs PostgreSQL and is tested in
tests/integration/test_idempotency.py and tests/e2e/test_crash_recovery.py."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from shared.http.idempotency import IdempotencyMiddleware, _call_next


async def echo(request: Request) -> JSONResponse:
    return JSONResponse({"body": (await request.body()).decode()}, status_code=201)


def client() -> httpx.AsyncClient:
    app = Starlette(routes=[Route("/w", echo, methods=["GET", "POST"])])
    app.add_middleware(IdempotencyMiddleware)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_reads_and_unkeyed_writes_reach_the_app_with_their_body() -> None:
    async with client() as c:
        assert (await c.get("/w")).json() == {"body": ""}
        r = await c.post("/w", content=b'{"a": 1}')
    assert r.status_code == 201 and r.json() == {"body": '{"a": 1}'}


async def test_a_malformed_key_is_refused_before_anything_else() -> None:
    async with client() as c:
        for key in ("", "k" * 256):
            r = await c.post("/w", content=b"{}", headers={"Idempotency-Key": key})
            assert r.status_code == 400
            assert r.json()["error"]["code"] == "invalid_idempotency_key"


async def test_a_keyed_write_without_an_api_key_is_left_to_the_endpoint() -> None:
    async with client() as c:
        r = await c.post("/w", content=b"{}", headers={"Idempotency-Key": "k1"})
    assert r.status_code == 201 and r.json() == {"body": "{}"}


async def test_a_keyed_write_runs_with_its_body_and_its_answer_is_captured_whole() -> None:
    """What the middleware stores and sends for a keyed write: the app's status, headers and
    body, the request body replayed to the app after the middleware read it."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        body = (await receive())["body"]
        headers = [(b"content-type", b"application/json"), (b"x-seen", body)]
        await send({"type": "http.response.start", "status": 202, "headers": headers})
        await send({"type": "http.response.body", "body": b'{"a"', "more_body": True})
        await send({"type": "http.response.body", "body": b": 1}"})

    async def receive() -> Message:
        return {"type": "http.request", "body": b"sent", "more_body": False}

    request = Request({"type": "http", "method": "POST", "headers": []}, receive)
    await request.body()  # as the middleware does, to fingerprint it
    response = await _call_next(app)(request)
    assert response.status_code == 202 and response.body == b'{"a": 1}'
    assert response.headers["x-seen"] == "sent"
    assert response.headers["content-length"] == "8"
