"""Evidence, disputes, cancellation with Stripe refunds, timers and settlement recovery."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from services.escrow.service_layer.gateway import GatewayRefused, GatewayUnavailable, PaymentGateway
from tests.integration.escrow.conftest import Api, order_body, pi_event

pytestmark = pytest.mark.integration
SHIPPED = {
    "kind": "shipment",
    "document": "air_waybill",
    "number": "176-12345675",
    "carrier": "Cathay Cargo",
}


async def funded_order(api: Api, **kw: Any) -> dict[str, Any]:
    order = (await api.post("/v1/orders", order_body(**kw), api.platform)).json()
    wire = {"amount": order["total"], "reference": f"w-{order['order_id']}"}
    r = await api.post(f"/v1/orders/{order['order_id']}/wire-confirmations", wire, api.finance)
    assert r.status_code == 201, r.text
    return r.json()


class Failing(PaymentGateway):
    """The real gateway, except that transfers fail the way we say."""

    def __init__(self, real: PaymentGateway, error: Exception) -> None:
        self.real, self.error = real, error

    async def create_payment_intent(self, **kw: Any) -> Any:
        return await self.real.create_payment_intent(**kw)

    async def transfer(self, **kw: Any) -> str:
        raise self.error

    async def refund(self, **kw: Any) -> str:
        return await self.real.refund(**kw)

    def verify_webhook(self, payload: bytes, signature: str | None) -> dict[str, Any]:
        return self.real.verify_webhook(payload, signature)


@pytest.fixture
def failing_transfers(api: Api) -> Iterator[Any]:
    real = api.container.gateway

    def install(error: Exception) -> None:
        api.container.gateway = Failing(real, error)

    yield install
    api.container.gateway = real


async def test_evidence_is_typed_and_scoped(api: Api) -> None:
    order = await funded_order(api)
    path = f"/v1/orders/{order['order_id']}/milestones/{order['milestones'][1]['milestone_id']}/evidence"
    bad = await api.post(path, {"evidence": {**SHIPPED, "document": "napkin"}}, api.supplier)
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "validation_error"
    float_money = await api.post(
        f"/v1/orders/{order['order_id']}/fund", {"amount": 10.5}, api.platform
    )
    assert float_money.status_code == 422
    assert (await api.post(path, {"evidence": SHIPPED}, api.finance)).status_code == 403
    ok = await api.post(path, {"evidence": SHIPPED}, api.supplier)
    assert ok.status_code == 201 and ok.json()["milestones"][1]["status"] == "in_inspection"


async def test_a_dispute_inside_the_window_stops_auto_acceptance(api: Api) -> None:
    order = await funded_order(api)
    oid, mid = order["order_id"], order["milestones"][1]["milestone_id"]
    await api.post(
        f"/v1/orders/{oid}/milestones/{mid}/evidence", {"evidence": SHIPPED}, api.supplier
    )
    api.clock.advance(timedelta(days=1))
    r = await api.post(
        f"/v1/orders/{oid}/milestones/{mid}/disputes", {"reason": "short shipped"}, api.platform
    )
    assert r.status_code == 201
    api.clock.advance(timedelta(days=3))
    await api.fire_timers()
    state = (await api.client.get(f"/v1/orders/{oid}", headers=api.finance)).json()
    assert state["milestones"][1]["status"] == "disputed"
    assert state["milestones"][0]["status"] == "releasing"  # the deposit's window passed
    late = await api.post(
        f"/v1/orders/{oid}/milestones/{mid}/disputes", {"reason": "again"}, api.platform
    )
    assert late.status_code == 409 and late.json()["error"]["code"] == "invalid_transition"


async def test_cancel_before_shipment_refunds_through_stripe(api: Api) -> None:
    order = (await api.post("/v1/orders", order_body(), api.platform)).json()
    oid = order["order_id"]
    funding = (await api.post(f"/v1/orders/{oid}/fund", {}, api.platform)).json()
    await api.webhook(pi_event("payment_intent.succeeded", order, funding))
    r = await api.post(f"/v1/orders/{oid}/cancel", {"reason": "buyer withdrew"}, api.platform)
    assert r.status_code == 200, r.text
    state = r.json()
    assert (state["status"], state["refunded"], state["held"]) == ("cancelled", 100_000, 0)
    assert state["refunds"][0]["stripe_refund_id"].startswith("re_")
    again = await api.post(f"/v1/orders/{oid}/cancel", {"reason": "x"}, api.platform)
    assert again.status_code == 409


async def test_cancel_after_shipment_is_refused(api: Api) -> None:
    order = await funded_order(api)
    oid, mid = order["order_id"], order["milestones"][1]["milestone_id"]
    await api.post(
        f"/v1/orders/{oid}/milestones/{mid}/evidence", {"evidence": SHIPPED}, api.supplier
    )
    r = await api.post(f"/v1/orders/{oid}/cancel", {"reason": "x"}, api.platform)
    assert r.status_code == 409 and r.json()["error"]["code"] == "invalid_transition"


async def test_stripe_down_leaves_the_payout_reserved_and_the_timer_completes_it(
    api: Api, failing_transfers: Any
) -> None:
    order = await funded_order(api)
    oid, mid = order["order_id"], order["milestones"][0]["milestone_id"]
    failing_transfers(GatewayUnavailable("stripe timed out"))
    r = await api.post(f"/v1/orders/{oid}/milestones/{mid}/accept", {}, api.platform)
    assert r.json()["milestones"][0]["status"] == "releasing" and r.json()["reserved"] == 30_000
    api.container.gateway = api.container.gateway.real  # type: ignore[attr-defined]
    api.clock.advance(timedelta(minutes=1))
    await api.fire_timers()
    state = (await api.client.get(f"/v1/orders/{oid}", headers=api.finance)).json()
    assert state["milestones"][0]["status"] == "released" and state["released"] == 30_000
    assert state["payouts"][0]["stripe_transfer_id"].startswith("tr_")


async def test_a_refused_transfer_returns_the_milestone_to_accepted_for_a_retry(
    api: Api, failing_transfers: Any
) -> None:
    order = await funded_order(api)
    oid, mid = order["order_id"], order["milestones"][0]["milestone_id"]
    failing_transfers(GatewayRefused("No such destination: acct_1SupplierShenzhen"))
    r = await api.post(f"/v1/orders/{oid}/milestones/{mid}/accept", {}, api.platform)
    assert r.json()["milestones"][0]["status"] == "accepted" and r.json()["reserved"] == 0
    api.container.gateway = api.container.gateway.real  # type: ignore[attr-defined]
    retry = await api.post(f"/v1/orders/{oid}/milestones/{mid}/release", {}, api.finance)
    assert retry.json()["milestones"][0]["status"] == "released"


async def test_only_the_buyer_side_can_evidence_the_buyers_acceptance(api: Api) -> None:
    # A supplier key may bring shipping documents, but "the buyer accepted" is the buyer's word
    # (platform scope): from the supplier it would start the window that releases the money.
    order = await funded_order(api, kinds=("contract", "shipment", "buyer_acceptance"))
    oid, mid = order["order_id"], order["milestones"][2]["milestone_id"]
    path = f"/v1/orders/{oid}/milestones/{mid}/evidence"
    acceptance = {"evidence": {"kind": "buyer_acceptance", "accepted_by": "buyer-acme"}}
    forged = await api.post(path, acceptance, api.supplier)
    assert forged.status_code == 403 and forged.json()["error"]["code"] == "insufficient_scope"
    state = (await api.client.get(f"/v1/orders/{oid}", headers=api.finance)).json()
    assert state["milestones"][2]["status"] == "awaiting_evidence"
    assert state["milestones"][2]["evidence"] == []
    ok = await api.post(path, acceptance, api.platform)
    assert ok.status_code == 201 and ok.json()["milestones"][2]["status"] == "in_inspection"
