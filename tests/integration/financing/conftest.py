"""Financing against real PostgreSQL (and Kafka / stripe-mock where a test needs them)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from services.financing.adapters.stripe_gateway import StripeTransferGateway, TransferFailed
from services.financing.bootstrap import FinancingContainer, make_container, routers
from shared.clock import ManualClock
from shared.db import make_engine
from shared.events import Envelope, EventModel
from shared.events import escrow as ev
from shared.http.app import create_service_app
from shared.migrations import upgrade
from shared.outbox import make_producer
from shared.runtime import Runtime
from shared.settings import Settings
from tests.conftest import TEST_DB_PREFIX, recreate_database
from tests.support.keys import bearer, new_key
from tests.unit.financing.builders import T0

pytestmark = pytest.mark.integration


class RecordingGateway(StripeTransferGateway):
    """The real Stripe gateway (stripe-mock), recording calls; can be told to refuse."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.calls: list[dict[str, Any]] = []
        self.refuse: set[str] = set()  # destinations Stripe "refuses"

    async def transfer(self, **kwargs: Any) -> str:
        self.calls.append(kwargs)
        if kwargs["destination"] in self.refuse:
            raise TransferFailed("account_invalid", "No such destination")
        return await super().transfer(**kwargs)


@dataclass
class Harness:
    container: FinancingContainer
    clock: ManualClock
    gateway: RecordingGateway
    engine: AsyncEngine
    settings: Settings
    identity: AsyncEngine
    keys: dict[str, dict[str, str]] = field(default_factory=dict)


@pytest.fixture(scope="session")
async def harness(migrated: Settings, identity: AsyncEngine) -> AsyncIterator[Harness]:
    # Financing's integration tests get a database and topics of their own: the e2e layer
    # runs the real services (with the system clock) against the session's shared ones, and
    # their timer worker and consumers must not act on these tests' advances. API keys live
    # in the session's identity database, as for every in-process app.
    settings = migrated.model_copy(
        update={
            "database_prefix": f"{TEST_DB_PREFIX}fin_",
            "topic_prefix": f"{migrated.topic_prefix}-fin",
        }
    )
    await recreate_database(settings, "financing")
    await asyncio.to_thread(upgrade, "financing", settings)
    engine = make_engine(settings.service_database_url("financing"))
    producer = make_producer(settings.kafka_bootstrap_servers)
    await producer.start()
    clock = ManualClock(T0)
    # stripe-mock accepts only keys shaped like sk_test_<alphanumerics>; the dev default
    # (sk_test_tradeflow_dev) is refused, so the tests use a mock-friendly one.
    gateway = RecordingGateway(
        settings.model_copy(update={"stripe_api_key": SecretStr("sk_test_tradeflow")})
    )
    runtime = Runtime("financing", settings, engine, producer, clock, identity)
    h = Harness(make_container(runtime, gateway), clock, gateway, engine, settings, identity)
    for tenant in ("t1", "t2"):
        for scopes in (["supplier"], ["finance"], ["platform"]):
            raw = await new_key(identity, tenant, scopes, f"{tenant}-{scopes[0]}")
            h.keys[f"{tenant}-{scopes[0]}"] = bearer(raw)
    yield h
    await producer.stop()
    await engine.dispose()


@pytest.fixture(scope="session")
async def client(harness: Harness) -> AsyncIterator[httpx.AsyncClient]:
    class _Borrowed(FinancingContainer):  # the harness owns the runtime; the app must not close it
        async def close(self) -> None:
            return None

    async def bootstrap() -> _Borrowed:
        return _Borrowed(harness.container.runtime, harness.container.gateway)

    app = create_service_app(service="financing", bootstrap=bootstrap, routers=routers())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            yield c


def escrow_event(payload: EventModel, order_id: str, tenant: str = "t1", **kw: Any) -> Envelope:
    return Envelope.wrap(payload, source="escrow", tenant_id=tenant, subject=order_id, **kw)


def new_order(
    order_id: str | None = None, supplier: str = "s1", buyer: str = "b1"
) -> ev.OrderCreated:
    """USD 100,000.00 with a 30/40/30 schedule; 1 % platform fee."""
    oid = order_id or f"ord_{uuid.uuid4().hex[:12]}"
    return ev.OrderCreated(
        order_id=oid,
        buyer_id=buyer,
        supplier_id=supplier,
        supplier_account_id=f"acct_{supplier}",
        currency="USD",
        total=10_000_000,
        milestones=[
            ev.MilestoneTerms(
                milestone_id="m1",
                name="deposit",
                amount=3_000_000,
                kind="contract",
                inspection_window_seconds=0,
            ),
            ev.MilestoneTerms(
                milestone_id="m2",
                name="shipment",
                amount=4_000_000,
                kind="shipment",
                evidence_required=["shipment"],
                inspection_window_seconds=0,
            ),
            ev.MilestoneTerms(
                milestone_id="m3",
                name="delivery",
                amount=3_000_000,
                kind="inspection",
                evidence_required=["delivery", "inspection"],
                inspection_window_seconds=5 * 86_400,
            ),
        ],
        platform_fee_bps=100,
        platform_fee_fixed=0,
    )


def funded(order_id: str, amount: int = 10_000_000) -> ev.Funded:
    return ev.Funded(
        order_id=order_id,
        payment_id=f"pay_{order_id}",
        amount=amount,
        currency="USD",
        method="stripe",
        stripe_payment_intent_id="pi_1",
        stripe_charge_id="ch_1",
        funded_total=amount,
        held_after=amount,
        fully_funded=amount == 10_000_000,
    )


def released(
    order_id: str,
    milestone: str,
    gross: int,
    lien: int = 0,
    advance_id: str | None = None,
    held_after: int = 0,
) -> ev.MilestoneReleased:
    fee = gross // 100
    return ev.MilestoneReleased(
        order_id=order_id,
        milestone_id=milestone,
        payout_id=str(uuid.uuid4()),
        currency="USD",
        gross=gross,
        platform_fee=fee,
        lien_repayment=lien,
        supplier_net=gross - fee - lien,
        advance_id=advance_id,
        stripe_transfer_id="tr_x",
        held_after=held_after,
    )


async def feed(harness: Harness, *envelopes: Envelope) -> None:
    """Apply escrow events through financing's handler, each in its own transaction."""
    from services.financing.entrypoints.consumers import escrow_event_handler

    handler = escrow_event_handler(harness.container)
    for env in envelopes:
        async with harness.engine.begin() as conn:
            await handler(conn, env)


async def funded_order(
    harness: Harness, supplier: str = "s1", buyer: str = "b1", tenant: str = "t1"
) -> str:
    """An order fully funded with its 30 % deposit released: 70,000.00 still held."""
    order = new_order(supplier=supplier, buyer=buyer)
    oid = order.order_id
    harness.clock.set(T0)
    await feed(
        harness,
        escrow_event(order, oid, tenant, occurred_at=T0),
        escrow_event(funded(oid), oid, tenant),
        escrow_event(released(oid, "m1", 3_000_000, held_after=7_000_000), oid, tenant),
    )
    harness.clock.set(T0 + timedelta(days=10))
    return oid
