"""Worked scenario: a 30/40/30 cross-border order from contract to completion, to the cent.

A US buyer orders machine parts from a Shenzhen supplier for USD 125,000.00:
  30% deposit on contract (37,500.00), 40% on shipment (50,000.00), 30% on delivery plus
  inspection (37,500.00). The tenant's fee policy is 1.50% + USD 25.00 per release.
The supplier took a USD 20,000.00 advance, so the first release repays it first.
The buyer disputes the last milestone; finance splits it 50/50.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from services.escrow.entrypoints.consumers import lien_handler
from shared.db import outbox
from shared.events import Envelope
from shared.events.financing import LienRequested
from tests.integration.escrow.conftest import Api, order_body, pi_event

pytestmark = pytest.mark.integration
DAY = timedelta(days=1)


async def test_thirty_forty_thirty_order_with_a_split_dispute(api: Api) -> None:
    fee = await api.client.put(
        "/v1/fee-policy",
        json={"basis_points": 150, "fixed_fees": {"USD": 2_500}},
        headers=api.finance,
    )
    assert fee.status_code == 200
    body = order_body(
        (3_750_000, 5_000_000, 3_750_000), ("contract", "shipment", "inspection"), window=5 * 86_400
    )
    body["milestones"][2]["evidence_required"] = ["delivery", "inspection"]
    order = (await api.post("/v1/orders", body, api.platform)).json()
    oid = order["order_id"]
    deposit, shipment, final = (m["milestone_id"] for m in order["milestones"])
    assert (order["platform_fee_bps"], order["platform_fee_fixed"]) == (150, 2_500)

    # Funding by card: PaymentIntent, then the signed webhook.
    funding = (await api.post(f"/v1/orders/{oid}/fund", {}, api.platform)).json()
    await api.webhook(pi_event("payment_intent.succeeded", order, funding))

    # Financing asks for a lien of 20,000.00 against future releases.
    lien = LienRequested(
        order_id=oid,
        advance_id="adv-1",
        amount=2_000_000,
        currency="USD",
        supplier_id="supplier-shenzhen",
    )
    env = Envelope.wrap(lien, source="financing", tenant_id=order["tenant_id"], subject=oid)
    async with api.engine.begin() as conn:
        await lien_handler(api.container)(conn, env)

    # The deposit's window ends without dispute: auto-accepted, then paid by the settlement timer.
    api.clock.advance(5 * DAY)
    await api.fire_timers()
    api.clock.advance(timedelta(minutes=1))
    await api.fire_timers()

    # Shipment: bill of lading in, the buyer accepts at once (released inline).
    shipped = {
        "kind": "shipment",
        "document": "bill_of_lading",
        "number": "MAEU-2231-778",
        "carrier": "Maersk",
        "tracking": "MSKU7781",
    }
    assert (
        await api.post(
            f"/v1/orders/{oid}/milestones/{shipment}/evidence", {"evidence": shipped}, api.supplier
        )
    ).status_code == 201
    assert (
        await api.post(f"/v1/orders/{oid}/milestones/{shipment}/accept", {}, api.platform)
    ).status_code == 200

    # Delivery and a passed inspection; the buyer disputes inside the window; finance splits.
    delivered = {
        "kind": "delivery",
        "delivered_at": "2026-02-01T10:00:00Z",
        "received_by": "ACME dock 4",
    }
    inspected = {
        "kind": "inspection",
        "inspector": "SGS",
        "report_id": "SGS-HK-5521",
        "passed": True,
    }
    for ev in (delivered, inspected):
        assert (
            await api.post(
                f"/v1/orders/{oid}/milestones/{final}/evidence", {"evidence": ev}, api.supplier
            )
        ).status_code == 201
    api.clock.advance(DAY)
    disputed = await api.post(
        f"/v1/orders/{oid}/milestones/{final}/disputes",
        {"reason": "20% of units scratched", "evidence": ["photos.zip"]},
        api.platform,
    )
    assert disputed.status_code == 201 and disputed.json()["frozen"] == 3_750_000
    dispute_id = disputed.json()["disputes"][0]["dispute_id"]
    resolved = await api.post(
        f"/v1/orders/{oid}/disputes/{dispute_id}/resolve",
        {"outcome": "split", "release_amount": 1_875_000},
        api.finance,
    )
    assert resolved.status_code == 200, resolved.text
    done = resolved.json()

    assert done["status"] == "completed"
    assert (done["funded"], done["released"], done["refunded"], done["held"]) == (
        12_500_000,
        10_625_000,
        1_875_000,
        0,
    )
    payouts = {p["milestone_id"]: p for p in done["payouts"]}
    split = lambda p: (p["gross"], p["platform_fee"], p["lien_repayment"], p["supplier_net"])  # noqa: E731
    assert split(payouts[deposit]) == (3_750_000, 58_750, 2_000_000, 1_691_250)
    assert split(payouts[shipment]) == (5_000_000, 77_500, 0, 4_922_500)
    assert split(payouts[final]) == (1_875_000, 30_625, 0, 1_844_375)
    assert all(p["stripe_transfer_id"].startswith("tr_") for p in done["payouts"])
    assert [r["amount"] for r in done["refunds"]] == [1_875_000]
    assert done["refunds"][0]["stripe_refund_id"].startswith("re_")
    # Fees 166,875 + lien 2,000,000 + supplier 8,458,125 + buyer back 1,875,000 = 12,500,000.
    assert (
        sum(p["platform_fee"] + p["lien_repayment"] + p["supplier_net"] for p in done["payouts"])
        + 1_875_000
        == 12_500_000
    )

    # The timeline tells the story, with its actors; the outbox carries the same events.
    tl = (await api.client.get(f"/v1/orders/{oid}/timeline?limit=100", headers=api.finance)).json()[
        "data"
    ]
    assert [e["type"].removeprefix("escrow.") for e in tl] == [
        "order_created",
        "funding_requested",
        "funded",
        "inspection_started",
        "lien_placed",
        "milestone_accepted",
        "milestone_released",
        "lien_released",
        "evidence_submitted",
        "inspection_started",
        "milestone_accepted",
        "milestone_released",
        "evidence_submitted",
        "evidence_submitted",
        "inspection_started",
        "dispute_opened",
        "dispute_resolved",
        "milestone_accepted",
        "milestone_released",
        "refunded",
        "completed",
    ]
    actors = {e["type"]: e["actor"] for e in tl}
    assert (
        actors["escrow.funded"] == "stripe:webhook" and actors["escrow.lien_placed"] == "financing"
    )
    assert actors["escrow.dispute_resolved"].startswith("apikey:")
    async with api.engine.connect() as conn:
        rows = (
            (
                await conn.execute(
                    sa.select(outbox.c.envelope).where(outbox.c.key == oid).order_by(outbox.c.seq)
                )
            )
            .scalars()
            .all()
        )
    held = [r["data"]["held_after"] for r in rows if "held_after" in r["data"]]
    assert held == [12_500_000, 8_750_000, 3_750_000, 1_875_000, 0, 0]
    assert all(r["subject"] == oid and r["tenant_id"] == order["tenant_id"] for r in rows)
