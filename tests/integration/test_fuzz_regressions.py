"""Focused regressions for what making the OpenAPI documents truthful, and fuzzing them, found.

Each test names the defect it pins down; the fuzz layer itself is in test_fuzz.py.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import httpx
import pytest

from shared.settings import Settings
from tests.support.stack import Stack, Tenant, service_app, stack_settings

pytestmark = pytest.mark.integration


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def ledger_without_stripe(
    migrated: Settings, stack: Stack
) -> AsyncIterator[httpx.AsyncClient]:
    """The ledger of the stack, with Stripe unreachable."""
    settings = stack_settings(migrated).model_copy(
        update={"stripe_api_base": f"http://127.0.0.1:{_closed_port()}"}
    )
    app = service_app("ledger", settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ledger") as client:
            yield client


async def test_a_reconciliation_run_when_stripe_is_unreachable_is_a_502(
    ledger_without_stripe: httpx.AsyncClient, prepared: Tenant
) -> None:
    """It was a 500 internal_error (the Stripe client's connection error escaped)."""
    r = await ledger_without_stripe.post(
        "/v1/ledger/reconciliation/runs", headers=prepared.keys["finance"]
    )
    assert r.status_code == 502, r.text
    assert r.json()["error"]["code"] == "payment_provider_error"
