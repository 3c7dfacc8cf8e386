"""End to end, in process, over real Kafka: escrow, financing and ledger, each with its own
database, outbox relay and inbox consumers; Stripe is stripe-mock.

A USD 100,000.00 order, 30/40/30, 1 % platform fee, funded by wire. Before the deposit is
released the supplier takes a 70 % advance (69,300.00). Escrow places the lien, financing
pays the supplier by Stripe transfer, the deposit and shipment releases repay the advance,
the final release goes to the supplier in full; the ledger balances to the cent.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from services.escrow.bootstrap import DEFINITION as ESCROW
from services.financing.bootstrap import DEFINITION as FINANCING
from services.ledger.bootstrap import DEFINITION as LEDGER
from services.runner import ServiceDefinition
from shared.clock import ManualClock
from shared.http.app import create_service_app
from shared.inbox import InboxConsumer
from shared.outbox import OutboxRelay
from shared.settings import SERVICES, Settings
from shared.timers import TimerWorker
from tests.conftest import TEST_DB_PREFIX, create_topic, migrate_all
from tests.support.keys import bearer, new_key
from tests.unit.financing.builders import T0

pytestmark = pytest.mark.integration
DAY = timedelta(days=1)
TENANT = "t-e2e"


@dataclass
class Stack:
    clock: ManualClock
    containers: dict[str, Any]
    clients: dict[str, httpx.AsyncClient]
    keys: dict[str, dict[str, str]]
    consumers: list[InboxConsumer]

    async def pump(self) -> None:
        """Relay every outbox and consume every topic until two quiet rounds in a row."""
        quiet = 0
        while quiet < 2:
            moved = 0
            for c in self.containers.values():
                moved += await OutboxRelay(c.runtime.engine, c.runtime.producer).relay_once()
            for consumer in self.consumers:
                moved += await consumer.poll_once(timeout_ms=150)
            quiet = quiet + 1 if moved == 0 else 0

    async def call(self, service: str, who: str, method: str, path: str, body: Any = None) -> Any:
        headers = {**self.keys[f"{service}-{who}"], "Idempotency-Key": uuid.uuid4().hex}
        r = await self.clients[service].request(method, path, json=body, headers=headers)
        assert r.status_code < 300, r.text
        return r.json()

    async def fire_escrow_timers(self) -> None:
        container = self.containers["escrow"]
        worker = TimerWorker(container.runtime.engine, ESCROW.timers(container), clock=self.clock)
        await worker.fire_due()


@pytest.fixture
async def stack(migrated: Settings) -> AsyncIterator[Stack]:
    settings = migrated.model_copy(
        update={
            "database_prefix": f"{TEST_DB_PREFIX}e2efin_",
            "topic_prefix": f"{migrated.topic_prefix}-e2efin",
            "stripe_api_key": SecretStr("sk_test_tradeflow"),  # stripe-mock: no underscores
        }
    )
    await migrate_all(settings)
    for service in SERVICES:
        await create_topic(settings.kafka_bootstrap_servers, settings.topic(service))
    clock = ManualClock(T0)
    definitions: dict[str, ServiceDefinition] = {
        "escrow": ESCROW,
        "financing": FINANCING,
        "ledger": LEDGER,
    }
    containers = {n: await d.bootstrap(settings, clock) for n, d in definitions.items()}  # type: ignore[call-arg]
    keys: dict[str, dict[str, str]] = {}
    for name, c in containers.items():  # one identity database: any key works on all three
        for scope in ("platform", "finance", "supplier"):
            raw = await new_key(c.runtime.identity, TENANT, [scope], f"{name}-{scope}")
            keys[f"{name}-{scope}"] = bearer(raw)
    consumers = [
        InboxConsumer(
            name=f"{spec.name}-{uuid.uuid4().hex[:6]}",  # not the live services' groups
            topics=spec.topics,
            engine=c.runtime.engine,
            bootstrap_servers=settings.kafka_bootstrap_servers,
            handler=spec.handler,
            batch_handler=spec.batch_handler,
            dlq_producer=c.runtime.producer,
            dlq_topic=settings.dlq_topic,
        )
        for name, c in containers.items()
        for spec in definitions[name].consumers(c)
    ]
    async with AsyncExitStack() as stack:
        clients = {}
        for name in ("escrow", "financing", "ledger"):
            container = containers[name]

            async def boot(c: Any = container) -> Any:
                return c

            app = create_service_app(
                service=name, bootstrap=boot, routers=definitions[name].routers()
            )
            await stack.enter_async_context(
                app.router.lifespan_context(app)
            )  # closes the container
            clients[name] = await stack.enter_async_context(
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{name}")
            )
        for consumer in consumers:
            await consumer.start()
            stack.push_async_callback(consumer.stop)
        yield Stack(clock, containers, clients, keys, consumers)


async def test_a_70_percent_advance_on_a_30_40_30_order_end_to_end(stack: Stack) -> None:
    await stack.call("escrow", "finance", "PUT", "/v1/fee-policy", {"basis_points": 100})
    await stack.call("financing", "finance", "PUT", "/v1/policies/USD", {"advance_rate_bps": 7_000})
    order = await stack.call("escrow", "platform", "POST", "/v1/orders", {
        "buyer_id": "buyer-acme", "supplier_id": "supplier-sz", "supplier_account_id": "acct_1SupplierSz",
        "currency": "USD", "total": 10_000_000,
        "milestones": [
            {"name": "deposit", "amount": 3_000_000, "kind": "contract", "inspection_window_seconds": 2 * 86_400},
            {"name": "shipment", "amount": 4_000_000, "kind": "shipment", "inspection_window_seconds": 0},
            {"name": "delivery", "amount": 3_000_000, "kind": "inspection", "inspection_window_seconds": 0,
             "evidence_required": ["delivery", "inspection"]},
        ],
    })  # fmt: skip
    oid = order["order_id"]
    _, shipment, final = (m["milestone_id"] for m in order["milestones"])
    await stack.call("escrow", "finance", "POST", f"/v1/orders/{oid}/wire-confirmations",
                     {"amount": 10_000_000, "reference": "WIRE-778"})  # fmt: skip
    await stack.pump()

    # 70 % of (100,000.00 less the 1 % fee on every release) = 69,300.00
    offer = await stack.call("financing", "supplier", "POST", "/v1/quotes",
                             {"order_id": oid, "supplier_id": "supplier-sz"})  # fmt: skip
    aid = offer["advance_id"]
    assert offer["principal"] == 6_930_000
    assert offer["fee"] == 6_930_000 * 5 * offer["term_days"] // 10_000  # 0.05 % a day
    await stack.call(
        "financing",
        "supplier",
        "POST",
        f"/v1/advances/{aid}/accept",
        {"supplier_id": "supplier-sz"},
    )
    await stack.pump()  # lien_requested -> lien_placed -> Stripe transfer -> advance_disbursed
    advance = await stack.call("financing", "finance", "GET", f"/v1/advances/{aid}")
    assert advance["state"] == "disbursed" and advance["stripe_transfer_id"].startswith("tr_")

    # the deposit's window passes: auto-accepted, then released; the lien takes its net
    stack.clock.advance(2 * DAY)
    await stack.fire_escrow_timers()
    stack.clock.advance(timedelta(minutes=1))
    await stack.fire_escrow_timers()
    await stack.pump()
    shipped = {
        "kind": "shipment",
        "document": "bill_of_lading",
        "number": "MAEU-1",
        "carrier": "Maersk",
    }
    await stack.call(
        "escrow",
        "supplier",
        "POST",
        f"/v1/orders/{oid}/milestones/{shipment}/evidence",
        {"evidence": shipped},
    )
    await stack.call(
        "escrow", "platform", "POST", f"/v1/orders/{oid}/milestones/{shipment}/accept", {}
    )
    await stack.pump()
    advance = await stack.call("financing", "finance", "GET", f"/v1/advances/{aid}")
    assert (advance["state"], advance["balance"]) == ("repaid", 0)

    for evidence in (
        {"kind": "delivery", "delivered_at": "2026-04-01T10:00:00Z", "received_by": "ACME dock 4"},
        {"kind": "inspection", "inspector": "SGS", "report_id": "SGS-1", "passed": True},
    ):
        await stack.call(
            "escrow",
            "supplier",
            "POST",
            f"/v1/orders/{oid}/milestones/{final}/evidence",
            {"evidence": evidence},
        )
    done = await stack.call(
        "escrow", "platform", "POST", f"/v1/orders/{oid}/milestones/{final}/accept", {}
    )
    await stack.pump()

    payouts = [
        (p["gross"], p["platform_fee"], p["lien_repayment"], p["supplier_net"])
        for p in done["payouts"]
    ]
    assert payouts == [
        (3_000_000, 30_000, 2_970_000, 0),
        (4_000_000, 40_000, 3_960_000, 0),
        (3_000_000, 30_000, 0, 2_970_000),
    ]
    statement = await stack.call("financing", "finance", "GET", f"/v1/advances/{aid}/statement")
    totals = statement["totals"]
    assert statement["balance"] == 0 and totals["repaid"] == 6_930_000
    assert totals["fee_earned"] == totals["fee"] == offer["fee"]
    # the supplier got the advance's net and the last release: everything but the fees
    assert totals["net_disbursed"] + 2_970_000 == 10_000_000 - 100_000 - offer["fee"]

    async def balance(code: str, subledger: str) -> int:
        accounts = await stack.call(
            "ledger", "finance", "GET", f"/v1/ledger/accounts?code={code}&currency=USD"
        )
        (account,) = [a for a in accounts if a["subledger"] == subledger]
        return int(
            (
                await stack.call(
                    "ledger", "finance", "GET", f"/v1/ledger/accounts/{account['id']}/balance"
                )
            )["balance"]
        )

    assert await balance("advance_receivable", aid) == 0 == statement["balance"]
    assert await balance("deferred_fee_income", aid) == 0
    assert await balance("escrow_held", oid) == 0
    trial = await stack.call("ledger", "finance", "GET", "/v1/ledger/trial-balance")
    (usd,) = trial["currencies"]
    assert usd["difference"] == 0 and usd["total_debit"] > 0
