"""Financing's Stripe loose ends on real PostgreSQL and stripe-mock: the disbursement made
from the order's funding charge, and ``order_not_yet_known`` (409, ``Retry-After``) for an
order escrow may have created after the events financing has read."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import httpx
import pytest
import sqlalchemy as sa
from uuid6 import uuid7

from services.financing.adapters.tables import escrow_watermarks
from services.financing.domain import arrival
from tests.integration.financing.conftest import Harness, escrow_event, feed, new_order
from tests.integration.financing.test_servicing import disbursed
from tests.support.keys import bearer, new_key
from tests.unit.financing.builders import T0

pytestmark = pytest.mark.integration


async def test_a_disbursement_is_transferred_from_the_funding_charge_at_stripe_mock(
    client: httpx.AsyncClient, harness: Harness
) -> None:
    before = len(harness.gateway.calls)
    oid, aid = await disbursed(client, harness)
    (call,) = harness.gateway.calls[before:]
    assert call["source_transaction"] == "ch_1"  # funded() paid the whole total by ch_1
    got = await client.get(f"/v1/advances/{aid}", headers=harness.keys["t1-platform"])
    assert got.json()["state"] == "disbursed" and got.json()["stripe_transfer_id"].startswith("tr_")
    async with harness.engine.connect() as conn:
        charge = (
            await conn.execute(
                sa.text("SELECT funding_charge_id FROM orders WHERE order_id = :o"), {"o": oid}
            )
        ).scalar_one()
    assert charge == "ch_1"


def made_at(at: datetime) -> str:
    ms = int(at.timestamp() * 1000)
    return str(uuid.UUID(int=(ms << 80) | (uuid7().int & ((1 << 80) - 1))))


async def test_an_order_not_heard_of_yet_is_409_retryable_then_unknown_once_read_past(
    client: httpx.AsyncClient, harness: Harness
) -> None:
    tenant = f"t-arrival-{uuid.uuid4().hex[:6]}"
    key = bearer(await new_key(harness.identity, tenant, ["supplier"], f"{tenant}-supplier"))
    harness.clock.set(T0)
    fresh = made_at(T0 - timedelta(seconds=1))

    async def quote() -> httpx.Response:
        body = {"order_id": fresh, "supplier_id": "s1"}
        return await client.post(
            "/v1/quotes", json=body, headers={**key, "Idempotency-Key": uuid.uuid4().hex}
        )

    early = await quote()
    assert early.status_code == 409, early.text
    assert early.json()["error"]["code"] == "order_not_yet_known"
    assert early.headers["Retry-After"] == str(arrival.RETRY_AFTER_SECONDS)
    # The consumer reads one of the tenant's events from after the id was made (another
    # order's creation): the order never came, so now it does not exist.
    other = new_order()
    later = T0 + timedelta(seconds=40)
    await feed(harness, escrow_event(other, other.order_id, tenant, occurred_at=later))
    async with harness.engine.connect() as conn:
        mark = (
            await conn.execute(
                sa.select(escrow_watermarks.c.last_event_at).where(
                    escrow_watermarks.c.tenant_id == tenant
                )
            )
        ).scalar_one()
    assert mark == later
    unknown = await quote()
    assert unknown.status_code == 422
    assert [r["code"] for r in unknown.json()["error"]["details"]["reasons"]] == ["order_unknown"]
    # An earlier event read afterwards (a replay) never moves the mark back.
    await feed(harness, escrow_event(new_order(), "o-replayed", tenant, occurred_at=T0))
    assert (await quote()).status_code == 422
