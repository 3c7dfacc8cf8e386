"""The escrow service on real Postgres + Kafka + stripe-mock, driven over HTTP in-process."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from services.escrow.bootstrap import DEFINITION, EscrowContainer, bootstrap
from shared.clock import ManualClock
from shared.http.app import create_service_app
from shared.settings import Settings
from shared.timers import TimerWorker
from tests.support.keys import bearer, new_key

pytestmark = pytest.mark.integration


@dataclass
class Api:
    client: httpx.AsyncClient
    container: EscrowContainer
    clock: ManualClock
    settings: Settings
    engine: AsyncEngine
    identity: AsyncEngine
    platform: dict[str, str]
    finance: dict[str, str]
    supplier: dict[str, str]
    other_tenant: dict[str, str]
    tenant: str = ""

    async def supplier_key(self, party: str) -> dict[str, str]:
        """A supplier key of this tenant bound to one supplier."""
        return await _key(self.identity, self.tenant, "supplier", party=party)

    async def post(
        self, path: str, body: Any, who: dict[str, str], key: str | None = None
    ) -> httpx.Response:
        headers = {**who, "Idempotency-Key": key or str(uuid.uuid4())}
        return await self.client.post(path, json=body, headers=headers)

    async def fire_timers(self) -> int:
        """One pass of the timer worker over what is due now. The database is shared by
        the session's tests, so timers other tests left due may fill the worker's batch:
        a full batch is followed by another, until the backlog is through (a pass over
        fewer timers than a batch stays one pass, as the tests' steps expect)."""
        worker = TimerWorker(self.engine, DEFINITION.timers(self.container), clock=self.clock)
        total = 0
        while True:
            fired = await worker.fire_due()
            total += fired
            if fired < worker.batch_size:
                return total

    def signed(
        self, event: dict[str, Any] | bytes, *, at: int | None = None, secret: str | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """A webhook body (an event, or raw bytes) and header signed the way Stripe signs them."""
        payload = event if isinstance(event, bytes) else json.dumps(event).encode()
        t = at if at is not None else int(time.time())
        key = secret or self.settings.stripe_webhook_secret.get_secret_value()
        sig = hmac.new(key.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
        return payload, {"Stripe-Signature": f"t={t},v1={sig}", "Content-Type": "application/json"}

    async def webhook(self, event: dict[str, Any] | bytes, **kw: Any) -> httpx.Response:
        payload, headers = self.signed(event, **kw)
        return await self.client.post("/v1/webhooks/stripe", content=payload, headers=headers)


async def _key(
    identity: AsyncEngine, tenant: str, *scopes: str, party: str | None = None
) -> dict[str, str]:
    name = f"{tenant}-{'-'.join(scopes)}" + (f"-{party}" if party else "")
    return bearer(await new_key(identity, tenant, scopes, name, party_id=party))


@pytest.fixture(scope="session")
async def api(
    migrated: Settings, service_engines: dict[str, AsyncEngine], identity: AsyncEngine
) -> AsyncIterator[Api]:
    engine = service_engines["escrow"]
    # Ahead of real time, so no timer worker on the system clock ever fires our timers.
    clock = ManualClock(datetime.now(UTC) + timedelta(days=1))
    container: EscrowContainer | None = None

    async def boot() -> EscrowContainer:
        nonlocal container
        # stripe-mock refuses the dev default key (sk_test_tradeflow_dev: underscores).
        settings = migrated.model_copy(update={"stripe_api_key": SecretStr("sk_test_tradeflow")})
        container = await bootstrap(settings, clock)
        return container

    app = create_service_app(service="escrow", bootstrap=boot, routers=DEFINITION.routers())
    tenant = f"t-{uuid.uuid4().hex[:6]}"
    keys = {
        "platform": await _key(identity, tenant, "platform"),
        "finance": await _key(identity, tenant, "finance"),
        "supplier": await _key(identity, tenant, "supplier"),
        "other_tenant": await _key(identity, f"other-{tenant}", "platform", "finance", "supplier"),
    }
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://escrow") as client:
            assert container is not None
            yield Api(client, container, clock, migrated, engine, identity, **keys, tenant=tenant)


def order_body(
    amounts: tuple[int, ...] = (30_000, 40_000, 30_000),
    kinds: tuple[str, ...] = ("contract", "shipment", "delivery"),
    currency: str = "USD",
    window: int = 3 * 86_400,
) -> dict[str, Any]:
    return {
        "buyer_id": "buyer-acme",
        "supplier_id": "supplier-shenzhen",
        "supplier_account_id": "acct_1SupplierShenzhen",
        "currency": currency,
        "total": sum(amounts),
        "milestones": [
            {"name": f"{k} milestone", "amount": a, "kind": k, "inspection_window_seconds": window}
            for a, k in zip(amounts, kinds, strict=True)
        ],
    }


def pi_event(
    kind: str, order: dict[str, Any], funding: dict[str, Any], **obj: Any
) -> dict[str, Any]:
    """A Stripe payment_intent.* event for a PaymentIntent created by POST /fund."""
    return {
        "id": f"evt_{uuid.uuid4().hex}",
        "object": "event",
        "type": kind,
        "data": {
            "object": {
                "id": funding["stripe_payment_intent_id"],
                "object": "payment_intent",
                "amount": funding["amount"],
                "amount_received": funding["amount"] if kind.endswith("succeeded") else 0,
                "currency": order["currency"].lower(),
                "latest_charge": "ch_test_1",
                "metadata": {
                    "order_id": order["order_id"],
                    "payment_id": funding["payment_id"],
                },
                **obj,
            }
        },
    }
