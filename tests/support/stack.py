"""The three services in process over databases of their own, with prepared tenants.

Used by the attack-surface tests (bad input, authorization matrix, fuzzing). The databases
carry the session's test prefix plus ``hard_``, so nothing else (the e2e layer's live
processes, other integration tests) writes to them while a test compares snapshots.

A prepared tenant has, on every service, keys of each scope (a supplier key bound to its
supplier ``SUPPLIER`` and one bound to ``OTHER_SUPPLIER``) and real objects to point at:
escrow an order with a funded escrow and an open dispute on its deposit milestone, plus a
fee policy; financing the same order in its read model, an offered advance and a policy;
ledger a staff adjustment (its transaction and accounts), a reconciliation break and a
closed period.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from services.escrow.bootstrap import DEFINITION as ESCROW
from services.financing.bootstrap import DEFINITION as FINANCING
from services.financing.entrypoints.consumers import escrow_event_handler
from services.ledger.bootstrap import DEFINITION as LEDGER
from services.runner import ServiceDefinition, create_app
from shared.db import make_engine
from shared.identity.keys import create_api_key
from shared.migrations import upgrade
from shared.runtime import identity_engine
from shared.settings import IDENTITY, SERVICES, Settings
from tests.conftest import TEST_DB_PREFIX, recreate_database
from tests.integration.financing.conftest import escrow_event, funded, new_order, released
from tests.support.keys import new_key, revoke

DEFINITIONS: dict[str, ServiceDefinition] = {
    "escrow": ESCROW,
    "ledger": LEDGER,
    "financing": FINANCING,
}
SUPPLIER = "supplier-shenzhen"
OTHER_SUPPLIER = "supplier-dongguan"
BUYER = "buyer-acme"


def stack_settings(migrated: Settings) -> Settings:
    return migrated.model_copy(
        update={
            "database_prefix": f"{TEST_DB_PREFIX}hard_",
            "topic_prefix": f"{migrated.topic_prefix}-hard",
            # stripe-mock takes keys shaped sk_test_<alphanumerics>
            "stripe_api_key": SecretStr("sk_test_tradeflow"),
        }
    )


async def migrate_stack(settings: Settings) -> dict[str, AsyncEngine]:
    """Fresh databases for identity and the three services; engines on the services'
    databases for the test's own loop (the identity database: ``identity_engine``)."""
    for component in (IDENTITY, *SERVICES):
        await recreate_database(settings, component)
        await asyncio.to_thread(upgrade, component, settings)
    return {s: make_engine(settings.service_database_url(s), pool_size=4) for s in SERVICES}


def service_app(service: str, settings: Settings) -> FastAPI:
    """The service's real app: its lifespan bootstraps the real container on ``settings``."""
    return create_app(DEFINITIONS[service], settings)


Headers = dict[str, str]


@dataclass
class Tenant:
    id: str
    keys: dict[str, Headers] = field(default_factory=dict)
    objects: dict[str, str] = field(default_factory=dict)


async def make_keys(identity: AsyncEngine, tenant: str) -> dict[str, Headers]:
    """One key per role in the identity database (as ``tradeflow apikey create`` does)."""
    roles: dict[str, tuple[list[str], str | None]] = {
        "platform": (["platform"], None),
        "finance": (["finance"], None),
        "supplier": (["supplier"], SUPPLIER),
        "other_supplier": (["supplier"], OTHER_SUPPLIER),
        "all": (["platform", "finance", "supplier"], None),
        "revoked": (["platform", "finance", "supplier"], None),
    }
    keys: dict[str, Headers] = {}
    for role, (scopes, party) in roles.items():
        raw = await new_key(identity, tenant, scopes, f"{tenant}-{role}", party)
        keys[role] = {"Authorization": f"Bearer {raw}"}
    await revoke(identity, keys["revoked"]["Authorization"].removeprefix("Bearer "))
    return keys


@dataclass
class Stack:
    settings: Settings
    engines: dict[str, AsyncEngine]
    apps: dict[str, FastAPI]
    clients: dict[str, httpx.AsyncClient]
    identity: AsyncEngine  # the API keys every app authenticates against

    @property
    def all_engines(self) -> dict[str, AsyncEngine]:
        """The services' databases and the identity database: what a snapshot covers."""
        return {**self.engines, "identity": self.identity}

    async def call(
        self, service: str, method: str, path: str, who: Headers, **kw: Any
    ) -> httpx.Response:
        headers = {**who, **kw.pop("headers", {})}
        return await self.clients[service].request(method, path, headers=headers, **kw)

    async def ok(self, service: str, method: str, path: str, who: Headers, **kw: Any) -> Any:
        r = await self.call(service, method, path, who, **kw)
        assert r.status_code < 300, f"{method} {path}: {r.status_code} {r.text}"
        return r.json()

    async def prepare(self, tenant_id: str | None = None) -> Tenant:
        tenant = Tenant(tenant_id or f"t-{uuid.uuid4().hex[:8]}")
        tenant.keys = await make_keys(self.identity, tenant.id)
        # A key of the tenant's for the key-management operations to aim at.
        async with self.identity.begin() as conn:
            spare = await create_api_key(conn, tenant.id, ["platform"], f"{tenant.id}-spare",
                                         actor="test")  # fmt: skip
        tenant.objects["key_id"] = spare.key.key_id
        await self._escrow(tenant)
        await self._financing(tenant)
        await self._ledger(tenant)
        return tenant

    async def _escrow(self, t: Tenant) -> None:
        k = t.keys
        await self.ok(
            "escrow", "PUT", "/v1/fee-policy", k["finance"],
            json={"basis_points": 150, "fixed_fees": {"USD": 25}},
        )  # fmt: skip
        order = await self.ok("escrow", "POST", "/v1/orders", k["platform"], json=order_body())
        oid = order["order_id"]
        await self.ok(
            "escrow", "POST", f"/v1/orders/{oid}/wire-confirmations", k["finance"],
            json={"amount": order["total"], "reference": f"wire-{oid}"},
        )  # fmt: skip
        deposit = order["milestones"][0]["milestone_id"]
        disputed = await self.ok(
            "escrow", "POST", f"/v1/orders/{oid}/milestones/{deposit}/disputes", k["platform"],
            json={"reason": "goods sample differs", "evidence": ["photo-1"]},
        )  # fmt: skip
        dispute = disputed["disputes"][0]
        did, mid = dispute["dispute_id"], order["milestones"][1]["milestone_id"]
        offered = await self.ok(
            "escrow", "POST", f"/v1/orders/{oid}/disputes/{did}/offers", k["platform"],
            json={"party": "supplier", "release_amount": dispute["amount"], "refund_amount": 0},
        )  # fmt: skip
        proposed = await self.ok(
            "escrow", "POST", f"/v1/orders/{oid}/partial-refunds", k["platform"],
            json={"milestone_id": mid, "amount": 100, "reason": "a week late"},
        )  # fmt: skip
        t.objects.update(
            order_id=oid,
            milestone_id=mid,
            dispute_id=did,
            offer_id=offered["offers"][0]["offer_id"],
            proposal_id=proposed["refund_proposals"][0]["proposal_id"],
        )
        await self.ok(
            "escrow", "POST", "/v1/fx/rates", k["finance"],
            json={"rates": [{
                "from_currency": "USD", "to_currency": "EUR", "mid_rate": "0.93",
                "effective_at": "2001-01-01T00:00:00Z", "source": "test",
            }]},
        )  # fmt: skip
        quote = await self.ok(
            "escrow", "POST", "/v1/fx/quotes", k["platform"],
            json={"from_currency": "USD", "to_currency": "EUR", "amount": 1_000,
                  "side": "payout"},
        )  # fmt: skip
        # No stuck refund or refund break of ours to aim at (they need Stripe to refuse):
        # ids no tenant has, so the matrix checks who is refused before any lookup.
        t.objects.update(
            quote_id=quote["id"],
            refund_id=f"re_none_{t.id}",
            stripe_refund_id=f"re_stripe_none_{t.id}",
        )

    async def _financing(self, t: Tenant) -> None:
        k = t.keys
        await self.ok(
            "financing", "PUT", "/v1/policies/USD", k["finance"],
            json={"advance_rate_bps": 7_000, "supplier_limit": 50_000_000},
        )  # fmt: skip
        order = new_order(supplier=SUPPLIER, buyer=BUYER)
        oid = order.order_id
        handler = escrow_event_handler(self.apps["financing"].state.container)
        for env in (
            escrow_event(order, oid, t.id),
            escrow_event(funded(oid), oid, t.id),
            escrow_event(released(oid, "m1", 3_000_000, held_after=7_000_000), oid, t.id),
        ):
            async with self.engines["financing"].begin() as conn:
                await handler(conn, env)
        advance = await self.ok(
            "financing", "POST", "/v1/quotes", k["supplier"], json={"order_id": oid}
        )
        t.objects.update(advance_id=advance["advance_id"], financing_order_id=oid)

    async def adjustment(self, t: Tenant, body: dict[str, Any]) -> Any:
        """A staff adjustment by the tenant's finance user, approved by a second one (the
        ``all`` key's user): maker-checker, whatever the tenant's threshold."""
        asked = await self.ok(
            "ledger", "POST", "/v1/ledger/adjustment-requests", t.keys["finance"], json=body
        )
        return await self.ok(
            "ledger", "POST", f"/v1/ledger/adjustment-requests/{asked['id']}/approve",
            t.keys["all"],
        )  # fmt: skip

    async def _ledger(self, t: Tenant) -> None:
        k = t.keys
        tx = await self.adjustment(t, {
            "reason": "opening bank balance",
            "lines": [
                {"account": "bank", "currency": "USD", "debit": 125_000},
                {"account": "suspense", "currency": "USD", "credit": 125_000},
            ],
        })  # fmt: skip
        report = (  # the platform's report: the tenant on each payment's metadata
            "balance_transaction_id,created_utc,source_id,reporting_category,currency,gross,fee,"
            "payment_metadata[tenant_id]\n"
            f"txn_{t.id},2026-06-01 10:00:00,ch_{t.id},charge,usd,70.00,0.30,{t.id}\n"
        )
        await self.ok(
            "ledger", "POST", "/v1/ledger/reconciliation/runs", k["finance"],
            params={"source": "csv"}, content=report.encode(),
            headers={"Content-Type": "text/csv"},
        )  # fmt: skip
        breaks = await self.ok("ledger", "GET", "/v1/ledger/reconciliation/breaks", k["finance"])
        pending = await self.ok(  # a request no second finance user approved yet
            "ledger", "POST", "/v1/ledger/adjustment-requests", k["finance"],
            json={"reason": "awaiting approval", "lines": [
                {"account": "bank", "currency": "USD", "debit": 100},
                {"account": "suspense", "currency": "USD", "credit": 100},
            ]},
        )  # fmt: skip
        await self.ok(
            "ledger", "POST", "/v1/ledger/periods/close", k["finance"],
            json={"through": "2001-01-01T00:00:00Z", "reason": "before the first trade"},
        )  # fmt: skip
        t.objects.update(
            transaction_id=tx["id"],
            source_event_id=tx["source_event_id"],
            account_id=str(tx["postings"][0]["account_id"]),
            break_id=str(breaks["data"][0]["id"]),
            adjustment_id=str(pending["id"]),
            currency="USD",
        )


def order_body(total: int = 100_000, supplier: str = SUPPLIER) -> dict[str, Any]:
    """A 30/40/30 order (deposit, shipment, delivery) of ``total`` USD minor units."""
    parts = (total * 3 // 10, total * 4 // 10, total - total * 3 // 10 - total * 4 // 10)
    kinds = ("contract", "shipment", "delivery")
    return {
        "buyer_id": BUYER,
        "supplier_id": supplier,
        "supplier_account_id": "acct_1SupplierShenzhen",
        "currency": "USD",
        "total": total,
        "milestones": [
            {"name": f"{k} milestone", "amount": a, "kind": k}
            for a, k in zip(parts, kinds, strict=True)
        ],
    }


@asynccontextmanager
async def running_stack(
    settings: Settings, engines: dict[str, AsyncEngine]
) -> AsyncIterator[Stack]:
    """The three apps with their lifespans started on the caller's loop."""
    async with AsyncExitStack() as exit_stack:
        apps = {s: service_app(s, settings) for s in SERVICES}
        clients = {}
        for service, app in apps.items():
            await exit_stack.enter_async_context(app.router.lifespan_context(app))
            transport = httpx.ASGITransport(app=app)
            clients[service] = await exit_stack.enter_async_context(
                httpx.AsyncClient(transport=transport, base_url=f"http://{service}")
            )
        identity = identity_engine(settings)
        exit_stack.push_async_callback(identity.dispose)
        yield Stack(settings, engines, apps, clients, identity)


@pytest.fixture(scope="session")
async def stack_engines(migrated: Settings) -> AsyncIterator[dict[str, AsyncEngine]]:
    engines = await migrate_stack(stack_settings(migrated))
    yield engines
    for engine in engines.values():
        await engine.dispose()


@pytest.fixture(scope="session")
async def stack(migrated: Settings, stack_engines: dict[str, AsyncEngine]) -> AsyncIterator[Stack]:
    async with running_stack(stack_settings(migrated), stack_engines) as running:
        yield running


@pytest.fixture(scope="session")
async def prepared(stack: Stack) -> Tenant:
    """The tenant whose objects the attacks aim at."""
    return await stack.prepare()


@pytest.fixture(scope="session")
async def intruder(stack: Stack) -> Tenant:
    """Another tenant, with objects of its own and keys of every scope."""
    return await stack.prepare()
