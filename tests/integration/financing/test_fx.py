"""Advances in the supplier's payout currency on real PostgreSQL and stripe-mock: a USD
order paid for in EUR and paid out in CNY at a locked rate (escrow.order_created v3,
escrow.funded v2), the offer in both currencies, the lien in USD, the Stripe transfer in
CNY, the repayment in USD; and a per-milestone order refused ``fx_rate_not_locked``."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from services.financing.adapters.tables import advances
from shared.db import outbox
from shared.events import escrow as ev
from shared.fx import funding_conversion, payout_conversion
from tests.integration.financing.conftest import (
    Harness,
    escrow_event,
    feed,
    funded,
    new_order,
    released,
)
from tests.support.keys import bearer, new_key
from tests.unit.financing.builders import T0

pytestmark = pytest.mark.integration

TENANT = "t-fx"  # its own tenant: the haircut policy binds no other test's quotes


def idem() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


async def keys(h: Harness) -> dict[str, dict[str, str]]:
    if f"{TENANT}-finance" not in h.keys:
        for scope in ("supplier", "finance", "platform"):
            raw = await new_key(h.identity, TENANT, [scope], f"{TENANT}-{scope}")
            h.keys[f"{TENANT}-{scope}"] = bearer(raw)
    return {s: h.keys[f"{TENANT}-{s}"] for s in ("supplier", "finance", "platform")}


async def cny_order(h: Harness, *, fx_policy: str = "order") -> str:
    """USD 100,000.00, 30/40/30, 1 % fee; the buyer pays EUR, the supplier gets CNY at 7.1
    locked at funding (fx_policy "order") or per release ("milestone": no lock); the 30 %
    deposit released; day 10."""
    created = new_order()
    oid = created.order_id
    order = ev.OrderCreated.model_validate(
        {
            **created.model_dump(),
            "funding_currency": "EUR",
            "payout_currency": "CNY",
            "fx_policy": fx_policy,
        }
    )
    fx = funding_conversion(
        10_000_000,
        from_currency="EUR",
        to_currency="USD",
        mid_rate=Decimal("1.0842"),
        markup_bps=50,
    )
    lock = None
    if fx_policy == "order":
        lock = payout_conversion(
            9_900_000,
            from_currency="USD",
            to_currency="CNY",
            mid_rate=Decimal("7.1"),
            markup_bps=0,
            quote_id="fxq_payout",
        )
    paid = funded(oid).model_copy(update={"fx": fx, "payout_lock": lock})
    h.clock.set(T0)
    await feed(
        h,
        escrow_event(order, oid, TENANT, occurred_at=T0),
        escrow_event(paid, oid, TENANT),
        escrow_event(released(oid, "m1", 3_000_000, held_after=7_000_000), oid, TENANT),
    )
    h.clock.set(T0 + timedelta(days=10))
    return oid


async def quote(client: httpx.AsyncClient, headers: dict[str, str], oid: str) -> httpx.Response:
    return await client.post(
        "/v1/quotes", json={"order_id": oid, "supplier_id": "s1"}, headers={**headers, **idem()}
    )


async def outbox_data(h: Harness, event_type: str, advance_id: str) -> list[dict[str, Any]]:
    async with h.engine.connect() as conn:
        rows = await conn.execute(
            sa.select(outbox.c.envelope)
            .where(
                outbox.c.envelope["type"].astext == event_type,
                outbox.c.envelope["data"]["advance_id"].astext == advance_id,
            )
            .order_by(outbox.c.seq)
        )
        return [r[0] for r in rows]


async def test_a_cross_currency_advance_is_offered_lent_paid_and_repaid_in_its_currencies(
    client: httpx.AsyncClient, harness: Harness
) -> None:
    k = await keys(harness)
    put = await client.put(
        "/v1/policies/USD", json={"fx_haircut_bps": 200}, headers={**k["finance"], **idem()}
    )
    assert put.status_code == 200, put.text
    got_policy = await client.get("/v1/policies/USD", headers=k["platform"])
    assert got_policy.json()["fx_haircut_bps"] == 200
    oid = await cny_order(harness)

    r = await quote(client, k["supplier"], oid)
    assert r.status_code == 201, r.text
    offer = r.json()
    # the worked example in USD (docs/financing.md) ...
    assert (offer["currency"], offer["principal"], offer["fee"], offer["net"]) == (
        "USD",
        5_544_000,
        166_320,
        5_377_680,
    )
    # ... paid in CNY at 7.1 less 2 %: floor(53,776.80 x 6.958) = CNY 374,178.97
    assert offer["payout"] == {
        "currency": "CNY",
        "net": 37_417_897,
        "rate": "6.958",
        "locked_rate": "7.1",
        "fx_haircut_bps": 200,
    }
    aid = offer["advance_id"]
    # as stored: every read of the offer shows it
    again = await client.get(f"/v1/advances/{aid}", headers=k["platform"])
    assert again.json()["payout"] == offer["payout"]
    listed = await client.get("/v1/advances?supplier_id=s1", headers=k["finance"])
    assert [a["payout"] for a in listed.json()["data"] if a["advance_id"] == aid] == [
        offer["payout"]
    ]
    (offered,) = await outbox_data(harness, "financing.advance_offered", aid)
    assert offered["version"] == 2
    assert offered["data"]["payout_net"] == 37_417_897
    assert offered["data"]["payout_rate"] == "6.958"

    accepted = await client.post(
        f"/v1/advances/{aid}/accept",
        json={"supplier_id": "s1"},
        headers={**k["supplier"], **idem()},
    )
    assert accepted.status_code == 200, accepted.text
    (lien,) = await outbox_data(harness, "financing.lien_requested", aid)
    assert (lien["data"]["amount"], lien["data"]["currency"]) == (5_544_000, "USD")

    placed = ev.LienPlaced(order_id=oid, advance_id=aid, amount=5_544_000, currency="USD")
    await feed(harness, escrow_event(placed, oid, TENANT))
    (call,) = [c for c in harness.gateway.calls if c["metadata"]["advance_id"] == aid]
    assert (call["amount"], call["currency"]) == (37_417_897, "CNY")
    assert call["source_transaction"] is None  # the EUR charge is no source for CNY
    shown = (await client.get(f"/v1/advances/{aid}", headers=k["platform"])).json()
    assert shown["state"] == "disbursed" and shown["stripe_transfer_id"].startswith("tr_")
    (paid,) = await outbox_data(harness, "financing.advance_disbursed", aid)
    assert paid["version"] == 2
    assert {k_: paid["data"][k_] for k_ in ("currency", "principal", "net_disbursed")} == {
        "currency": "USD",
        "principal": 5_544_000,
        "net_disbursed": 5_377_680,
    }
    assert {k_: paid["data"][k_] for k_ in ("payout_currency", "payout_amount", "payout_rate")} == {
        "payout_currency": "CNY",
        "payout_amount": 37_417_897,
        "payout_rate": "6.958",
    }

    # the shipment release repays the lien in USD: fee first, then principal
    shipment = released(oid, "m2", 4_000_000, lien=3_960_000, advance_id=aid, held_after=3_000_000)
    await feed(harness, escrow_event(shipment, oid, TENANT))
    after = (await client.get(f"/v1/advances/{aid}", headers=k["platform"])).json()
    assert after["state"] == "partially_repaid" and after["balance"] == 5_544_000 - 3_960_000
    (repaid,) = await outbox_data(harness, "financing.repayment_applied", aid)
    assert repaid["data"]["currency"] == "USD"
    assert (repaid["data"]["to_fee"], repaid["data"]["to_principal"]) == (166_320, 3_793_680)
    statement = (await client.get(f"/v1/advances/{aid}/statement", headers=k["platform"])).json()
    assert statement["currency"] == "USD" and statement["balance"] == after["balance"]


async def test_without_a_locked_payout_rate_the_quote_is_refused_and_nothing_recorded(
    client: httpx.AsyncClient, harness: Harness
) -> None:
    k = await keys(harness)
    oid = await cny_order(harness, fx_policy="milestone")
    r = await quote(client, k["supplier"], oid)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "fx_rate_not_locked"
    assert error["details"] == {"order_id": oid, "currency": "USD", "payout_currency": "CNY"}
    async with harness.engine.connect() as conn:
        count = (
            await conn.execute(
                sa.select(sa.func.count()).select_from(advances).where(advances.c.order_id == oid)
            )
        ).scalar()
    assert count == 0
