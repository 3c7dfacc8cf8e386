"""The console app in process in front of the three services' real apps (tests/support/
stack.py): every page is read through the real APIs over ASGI, with real keys."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from services.console.entrypoints.http.app import create_console_app
from services.financing.entrypoints.consumers import escrow_event_handler
from services.ledger.entrypoints.consumers import post_events
from shared.db import outbox
from shared.events import Envelope
from shared.settings import SERVICES
from tests.support.stack import Stack, Tenant, order_body

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def raw(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no CSRF token in the page"
    return found.group(1)


@pytest.fixture(scope="session")
async def console_app(stack: Stack) -> AsyncIterator[FastAPI]:
    settings = stack.settings.model_copy(update={"environment": "test"})
    transports = {s: httpx.ASGITransport(app=stack.apps[s]) for s in SERVICES}
    app = create_console_app(settings, transports)
    async with app.router.lifespan_context(app):
        yield app


Browser = Callable[[], httpx.AsyncClient]


@pytest.fixture
async def browser(console_app: FastAPI) -> AsyncIterator[Browser]:
    """New cookie jars on the console (https, as its cookies are Secure outside development)."""
    clients: list[httpx.AsyncClient] = []

    def new() -> httpx.AsyncClient:
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=console_app), base_url="https://console.test"
        )
        clients.append(client)
        return client

    yield new
    for c in clients:
        await c.aclose()


async def sign_in(client: httpx.AsyncClient, key: str) -> httpx.Response:
    page = await client.get("/sign-in")
    return await client.post("/sign-in", data={"api_key": key, "csrf_token": csrf_of(page.text)})


async def signed_in(browser: Browser, key: str) -> httpx.AsyncClient:
    client = browser()
    r = await sign_in(client, key)
    assert r.status_code == 303, r.text
    return client


async def funded_order(stack: Stack, tenant: Tenant) -> dict[str, Any]:
    """An order of the tenant's supplier, funded by wire, that financing knows of: escrow's
    own events, from its outbox, applied by financing's consumer handler (the path Kafka
    takes in production)."""
    k = tenant.keys
    order = await stack.ok("escrow", "POST", "/v1/orders", k["platform"],
                           json=order_body(total=10_000_000))  # fmt: skip
    oid = order["order_id"]
    await stack.ok("escrow", "POST", f"/v1/orders/{oid}/wire-confirmations", k["finance"],
                   json={"amount": order["total"], "reference": f"wire-{oid}"})  # fmt: skip
    async with stack.engines["escrow"].connect() as conn:
        rows = (
            await conn.execute(
                sa.select(outbox.c.envelope).where(outbox.c.key == oid).order_by(outbox.c.seq)
            )
        ).all()
    handler = escrow_event_handler(stack.apps["financing"].state.container)
    for (envelope,) in rows:
        async with stack.engines["financing"].begin() as conn:
            await handler(conn, Envelope.model_validate(envelope))
    return order


async def post_to_ledger(stack: Stack, order_id: str) -> None:
    """Escrow's events of the order posted by the ledger's consumer handler (as from Kafka)."""
    async with stack.engines["escrow"].connect() as conn:
        rows = (
            await conn.execute(
                sa.select(outbox.c.envelope).where(outbox.c.key == order_id).order_by(outbox.c.seq)
            )
        ).all()
    async with stack.engines["ledger"].begin() as conn:
        failed = await post_events(conn, [Envelope.model_validate(e) for (e,) in rows])
    assert not failed, failed


async def more_breaks(stack: Stack, tenant: Tenant, n: int) -> list[int]:
    """``n`` more open breaks of the tenant: Stripe charges the ledger never booked."""
    rows = "".join(
        f"txn_{tenant.id}_{i},2026-06-02 10:00:00,ch_{tenant.id}_{i},charge,usd,1{i}.00,0.30,"
        f"{tenant.id}\n"
        for i in range(n)
    )
    report = (
        "balance_transaction_id,created_utc,source_id,reporting_category,currency,gross,fee,"
        "payment_metadata[tenant_id]\n"
    )
    await stack.ok(
        "ledger", "POST", "/v1/ledger/reconciliation/runs", tenant.keys["finance"],
        params={"source": "csv", "from": "2026-06-02T00:00:00Z", "to": "2026-06-03T00:00:00Z"},
        content=(report + rows).encode(), headers={"Content-Type": "text/csv"},
    )  # fmt: skip
    listed = await stack.ok("ledger", "GET", "/v1/ledger/reconciliation/breaks",
                            tenant.keys["finance"], params={"status": "open"})  # fmt: skip
    return [b["id"] for b in listed["data"] if b["object_id"].startswith(f"ch_{tenant.id}_")]
