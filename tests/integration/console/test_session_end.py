"""A session ends by itself, and a service that does not answer is a designed page."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI

from services.console.entrypoints.http.app import create_console_app
from shared.clock import ManualClock
from tests.integration.console.conftest import csrf_of, raw, sign_in
from tests.support.keys import revoke
from tests.support.stack import Stack, Tenant

pytestmark = pytest.mark.integration


async def client_of(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://c.test")


@pytest.fixture
async def clock() -> ManualClock:
    return ManualClock(datetime.now(UTC))


@pytest.fixture
async def timed_console(stack: Stack, clock: ManualClock) -> AsyncIterator[FastAPI]:
    settings = stack.settings.model_copy(
        update={"environment": "test", "console_session_seconds": 3_600}
    )
    transports = {s: httpx.ASGITransport(app=a) for s, a in stack.apps.items()}
    app = create_console_app(settings, transports, clock)
    async with app.router.lifespan_context(app):
        yield app


async def test_a_session_ends_after_its_lifetime(
    timed_console: FastAPI, clock: ManualClock, prepared: Tenant
) -> None:
    async with await client_of(timed_console) as client:
        assert (await sign_in(client, raw(prepared.keys["finance"]))).status_code == 303
        clock.advance(timedelta(minutes=59))
        assert (await client.get("/finance/trial-balance")).status_code == 200
        clock.advance(timedelta(minutes=1))
        r = await client.get("/finance/trial-balance")
        assert r.status_code == 303
        assert r.headers["location"] == "/sign-in?next=/finance/trial-balance&reason=expired"
        page = await client.get(r.headers["location"])
        assert "Your session ended" in page.text


async def test_a_revoked_key_ends_its_sessions_at_once(console_app: FastAPI, stack: Stack) -> None:
    tenant = await stack.prepare()
    async with await client_of(console_app) as client:
        assert (await sign_in(client, raw(tenant.keys["revoked"]))).status_code == 401
    async with await client_of(console_app) as client:
        assert (await sign_in(client, raw(tenant.keys["platform"]))).status_code == 303
        assert (await client.get("/orders")).status_code == 200
        await revoke(stack.identity, raw(tenant.keys["platform"]))
        r = await client.get("/orders")
        assert r.status_code == 303 and "reason=key_invalid" in r.headers["location"]
        assert (await client.get("/orders")).status_code == 303  # the session is gone


async def test_a_service_that_does_not_answer_is_a_503_page(stack: Stack, prepared: Tenant) -> None:
    # The ledger at a port nothing listens on: a real refused connection.
    settings = stack.settings.model_copy(
        update={"environment": "test", "ledger_url": "http://127.0.0.1:9"}
    )
    transports = {s: httpx.ASGITransport(app=a) for s, a in stack.apps.items() if s != "ledger"}
    app = create_console_app(settings, transports)
    async with app.router.lifespan_context(app), await client_of(app) as client:
        # Sign-in asks the ledger whom the key acts for.
        page = await client.get("/sign-in")
        assert page.status_code == 200
        r = await client.post(
            "/sign-in",
            data={"api_key": raw(prepared.keys["finance"]), "csrf_token": csrf_of(page.text)},
        )
        assert r.status_code == 503
        assert "ledger service is not answering" in r.text
        assert r.headers["retry-after"] == "5"
