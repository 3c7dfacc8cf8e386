"""Limits hold under concurrency: acceptances are serialised per tenant and currency."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from services.financing.service_layer import commands
from services.financing.service_layer.errors import AdvanceRefusal
from services.financing.service_layer.unit_of_work import FinancingUnitOfWork
from tests.integration.financing.conftest import Harness, funded_order
from tests.support.keys import bearer, new_key

pytestmark = pytest.mark.integration


async def test_concurrent_acceptances_cannot_both_slip_under_the_supplier_limit(
    client: httpx.AsyncClient, harness: Harness
) -> None:
    tenant = f"t-{uuid.uuid4().hex[:6]}"
    supplier = "s1"
    finance = await new_key(harness.identity, tenant, ["finance"], "finance")
    keys = bearer(await new_key(harness.identity, tenant, ["supplier"], "sp"))
    put = await client.put(
        "/v1/policies/USD",
        json={"supplier_limit": 5_000_000},
        headers={"Authorization": f"Bearer {finance}", "Idempotency-Key": uuid.uuid4().hex},
    )
    assert put.status_code == 200
    orders = [await funded_order(harness, supplier=supplier, tenant=tenant) for _ in range(6)]

    async def quote(oid: str) -> str:
        r = await client.post(
            "/v1/quotes",
            json={"order_id": oid, "supplier_id": supplier, "amount": 3_000_000},
            headers={**keys, "Idempotency-Key": uuid.uuid4().hex},
        )
        assert r.status_code == 201, r.text
        return str(r.json()["advance_id"])

    advances = [await quote(oid) for oid in orders]  # each fits alone: 30,000 <= 50,000

    class Lingering(FinancingUnitOfWork):
        async def commit(self) -> None:
            await asyncio.sleep(0.05)  # hold the transaction open: maximal overlap
            await super().commit()

    def lingering() -> Lingering:
        return Lingering(harness.engine, harness.container.topic)

    async def accept(aid: str) -> str:
        # Each in its own transaction, as concurrent API requests would be.
        try:
            await commands.accept(lingering, harness.clock, tenant, supplier, aid, "sp")
            return "accepted"
        except AdvanceRefusal as exc:
            return exc.reasons[0].code

    results = await asyncio.gather(*(accept(aid) for aid in advances))
    assert sorted(results) == ["accepted"] + ["supplier_limit"] * 5
