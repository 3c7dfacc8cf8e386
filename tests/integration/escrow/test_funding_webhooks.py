"""Funding through stripe-mock and signed webhooks: valid, forged, stale, duplicated, out of order."""

from __future__ import annotations

import time
from typing import Any

import pytest
import sqlalchemy as sa

from services.escrow.adapters.tables import timeline
from tests.integration.escrow.conftest import Api, order_body, pi_event

pytestmark = pytest.mark.integration


async def new_order(api: Api, **kw: Any) -> dict[str, Any]:
    r = await api.post("/v1/orders", order_body(**kw), api.platform)
    assert r.status_code == 201, r.text
    return r.json()


async def fund(api: Api, order: dict[str, Any], amount: int | None = None) -> dict[str, Any]:
    body = {"amount": amount} if amount else {}
    r = await api.post(f"/v1/orders/{order['order_id']}/fund", body, api.platform)
    assert r.status_code == 201, r.text
    return r.json()


async def get(api: Api, order: dict[str, Any]) -> dict[str, Any]:
    return (await api.client.get(f"/v1/orders/{order['order_id']}", headers=api.finance)).json()


async def test_fund_creates_a_payment_intent_and_the_signed_webhook_funds(api: Api) -> None:
    order = await new_order(api)
    funding = await fund(api, order, 40_000)
    assert funding["client_secret"] and funding["stripe_payment_intent_id"].startswith("pi_")
    assert (await api.webhook(pi_event("payment_intent.succeeded", order, funding))).json()[
        "handled"
    ]
    partial = await get(api, order)
    assert (partial["status"], partial["funded"], partial["held"]) == (
        "partially_funded",
        40_000,
        40_000,
    )
    rest = await fund(api, order)
    assert rest["amount"] == 60_000
    await api.webhook(pi_event("payment_intent.succeeded", order, rest))
    full = await get(api, order)
    assert full["status"] == "funded" and full["held"] == 100_000
    over = await api.post(f"/v1/orders/{order['order_id']}/fund", {"amount": 1}, api.platform)
    assert over.status_code == 422 and over.json()["error"]["code"] == "invalid_amount"


async def test_forged_and_stale_webhooks_are_refused(api: Api) -> None:
    order = await new_order(api)
    funding = await fund(api, order)
    event = pi_event("payment_intent.succeeded", order, funding)
    forged = await api.webhook(event, secret="whsec_attacker")
    stale = await api.webhook(event, at=int(time.time()) - 301)
    unsigned = await api.client.post("/v1/webhooks/stripe", content=b"{}")
    for r in (forged, stale, unsigned):
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_signature"
    assert (await get(api, order))["funded"] == 0


async def test_duplicated_webhooks_fund_once(api: Api) -> None:
    order = await new_order(api)
    funding = await fund(api, order)
    event = pi_event("payment_intent.succeeded", order, funding)
    first = await api.webhook(event)
    again = await api.webhook(event)
    same_payment_new_event = await api.webhook(pi_event("payment_intent.succeeded", order, funding))
    assert first.json()["handled"] and again.json()["duplicate"]
    assert same_payment_new_event.status_code == 200
    assert (await get(api, order))["funded"] == 100_000
    async with api.engine.connect() as conn:
        funded = await conn.execute(
            sa.select(sa.func.count()).where(
                timeline.c.order_id == order["order_id"], timeline.c.event_type == "escrow.funded"
            )
        )
        assert funded.scalar() == 1


async def test_out_of_order_webhooks_are_harmless(api: Api) -> None:
    order = await new_order(api)
    funding = await fund(api, order)
    await api.webhook(pi_event("payment_intent.succeeded", order, funding))
    late_failure = await api.webhook(
        pi_event(
            "payment_intent.payment_failed",
            order,
            funding,
            last_payment_error={"code": "card_declined"},
        )
    )
    assert late_failure.status_code == 200
    state = await get(api, order)
    assert state["funded"] == 100_000 and state["payments"][0]["status"] == "succeeded"
    # A failure first, then a success (buyer retried with another card): funded.
    other = await new_order(api)
    f2 = await fund(api, other)
    await api.webhook(
        pi_event(
            "payment_intent.payment_failed", other, f2, last_payment_error={"code": "card_declined"}
        )
    )
    assert (await get(api, other))["payments"][0]["status"] == "failed"
    await api.webhook(pi_event("payment_intent.succeeded", other, f2))
    assert (await get(api, other))["funded"] == 100_000


async def test_finance_confirms_an_offline_wire(api: Api) -> None:
    order = await new_order(api)
    path = f"/v1/orders/{order['order_id']}/wire-confirmations"
    r = await api.post(path, {"amount": 100_000, "reference": "MT103-778"}, api.finance)
    assert r.status_code == 201 and r.json()["status"] == "funded"
    again = await api.post(path, {"amount": 1, "reference": "MT103-779"}, api.finance)
    assert again.status_code == 422


async def test_a_chargeback_freezes_the_escrow(api: Api) -> None:
    order = await new_order(api)
    funding = await fund(api, order)
    await api.webhook(pi_event("payment_intent.succeeded", order, funding))
    dispute = {
        "id": "evt_dp_" + order["order_id"],
        "type": "charge.dispute.created",
        "data": {
            "object": {
                "id": "dp_1",
                "object": "dispute",
                "amount": 100_000,
                "reason": "fraudulent",
                "payment_intent": funding["stripe_payment_intent_id"],
                "metadata": {"order_id": order["order_id"]},
            }
        },
    }
    assert (await api.webhook(dispute)).json()["handled"]
    state = await get(api, order)
    assert state["frozen"] == 100_000 and state["available"] == 0
    assert state["disputes"][0]["payment_id"] == funding["payment_id"]  # the card money taken


async def test_a_payment_in_another_currency_is_not_counted_as_funding(api: Api) -> None:
    # A PaymentIntent carrying the order's metadata but made in EUR (e.g. created by hand in
    # the dashboard) must not add euros to a USD escrow: money of two currencies never adds up.
    order = await new_order(api)
    funding = await fund(api, order)
    eur = await api.webhook(pi_event("payment_intent.succeeded", order, funding, currency="eur"))
    assert eur.status_code == 200 and eur.json()["error"] == "currency_mismatch"
    state = await get(api, order)
    assert (state["funded"], state["status"]) == (0, "awaiting_funding")
