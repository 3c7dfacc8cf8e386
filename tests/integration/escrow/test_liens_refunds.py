"""The lien consumer's answers, and charge.refunded webhooks for our refunds and foreign ones."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from services.escrow.entrypoints.consumers import lien_handler
from shared.db import outbox
from shared.events import Envelope
from shared.events.financing import LienReleaseRequested, LienRequested
from tests.integration.escrow.conftest import Api, order_body, pi_event

pytestmark = pytest.mark.integration


async def answers(api: Api, tenant: str, command: Any) -> list[dict[str, Any]]:
    env = Envelope.wrap(command, source="financing", tenant_id=tenant, subject=command.order_id)
    async with api.engine.begin() as conn:
        await lien_handler(api.container)(conn, env)
    async with api.engine.connect() as conn:
        rows = await conn.execute(
            sa.select(outbox.c.envelope).where(
                outbox.c.envelope["causation_id"].astext == str(env.id)
            )
        )
        return [r[0] for r in rows]


async def test_liens_are_placed_refused_and_released_with_causation(api: Api) -> None:
    order = (await api.post("/v1/orders", order_body(), api.platform)).json()
    oid, tenant = order["order_id"], order["tenant_id"]
    early = await answers(
        api,
        tenant,
        LienRequested(
            order_id=oid,
            advance_id="a1",
            amount=10_000,
            currency="USD",
            supplier_id="supplier-shenzhen",
        ),
    )
    assert early[0]["type"] == "escrow.lien_refused" and early[0]["data"]["reasons"] == [
        "escrow_not_fully_funded"
    ]
    await api.post(
        f"/v1/orders/{oid}/wire-confirmations",
        {"amount": 100_000, "reference": f"w{oid}"},
        api.finance,
    )
    placed = await answers(
        api,
        tenant,
        LienRequested(
            order_id=oid,
            advance_id="a1",
            amount=10_000,
            currency="USD",
            supplier_id="supplier-shenzhen",
        ),
    )
    assert placed[0]["type"] == "escrow.lien_placed" and placed[0]["subject"] == oid
    released = await answers(
        api, tenant, LienReleaseRequested(order_id=oid, advance_id="a1", reason="advance cancelled")
    )
    assert released[0]["type"] == "escrow.lien_released" and released[0]["data"]["repaid"] == 0
    missing = str(uuid.uuid4())
    unknown = await answers(
        api,
        tenant,
        LienRequested(order_id=missing, advance_id="a2", amount=1, currency="USD", supplier_id="s"),
    )
    assert (
        unknown[0]["data"]["reasons"] == ["order_not_found"] and unknown[0]["tenant_id"] == tenant
    )
    other_tenant = await answers(
        api,
        "someone-else",
        LienRequested(
            order_id=oid, advance_id="a3", amount=1, currency="USD", supplier_id="supplier-shenzhen"
        ),
    )
    assert other_tenant[0]["data"]["reasons"] == ["order_not_found"]


def charge_refunded(
    order: dict[str, Any], funding: dict[str, Any], refunds: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "id": f"evt_{uuid.uuid4().hex}",
        "type": "charge.refunded",
        "data": {
            "object": {
                "id": "ch_1",
                "object": "charge",
                "payment_intent": funding["stripe_payment_intent_id"],
                "metadata": {"order_id": order["order_id"]},
                "refunds": {"data": refunds},
            }
        },
    }


async def test_charge_refunded_recognises_our_refunds_and_books_foreign_ones(api: Api) -> None:
    order = (await api.post("/v1/orders", order_body(), api.platform)).json()
    oid = order["order_id"]
    funding = (await api.post(f"/v1/orders/{oid}/fund", {}, api.platform)).json()
    await api.webhook(pi_event("payment_intent.succeeded", order, funding))
    foreign = charge_refunded(
        order, funding, [{"id": "re_dashboard", "amount": 2_500, "metadata": {}}]
    )
    assert (await api.webhook(foreign)).json()["handled"]
    assert (
        await api.webhook(
            charge_refunded(
                order, funding, [{"id": "re_dashboard", "amount": 2_500, "metadata": {}}]
            )
        )
    ).status_code == 200
    state = (await api.client.get(f"/v1/orders/{oid}", headers=api.finance)).json()
    assert (state["refunded"], state["held"]) == (2_500, 97_500)
    cancelled = (await api.post(f"/v1/orders/{oid}/cancel", {"reason": "x"}, api.platform)).json()
    ours = cancelled["refunds"][-1]
    echo = charge_refunded(
        order,
        funding,
        [
            {
                "id": ours["stripe_refund_id"],
                "amount": ours["amount"],
                "metadata": {"refund_id": ours["refund_id"]},
            }
        ],
    )
    assert (await api.webhook(echo)).status_code == 200
    final = (await api.client.get(f"/v1/orders/{oid}", headers=api.finance)).json()
    assert (final["refunded"], final["held"], final["status"]) == (100_000, 0, "cancelled")


async def test_charge_refunded_books_no_refund_that_failed_or_was_cancelled(api: Api) -> None:
    """A charge's ``refunds`` list holds every refund of the charge, in any status: one that
    failed or was cancelled at Stripe returned nothing to the buyer. Booking it took the
    amount out of escrow held while the money stayed at Stripe, with no one to pay it out."""
    order = (await api.post("/v1/orders", order_body(), api.platform)).json()
    oid = order["order_id"]
    funding = (await api.post(f"/v1/orders/{oid}/fund", {}, api.platform)).json()
    await api.webhook(pi_event("payment_intent.succeeded", order, funding))
    refunds = [
        {"id": "re_failed", "amount": 2_500, "status": "failed", "metadata": {}},
        {"id": "re_cancelled", "amount": 1_000, "status": "canceled", "metadata": {}},
        {"id": "re_done", "amount": 500, "status": "succeeded", "metadata": {}},
    ]
    assert (await api.webhook(charge_refunded(order, funding, refunds))).status_code == 200
    state = (await api.client.get(f"/v1/orders/{oid}", headers=api.finance)).json()
    assert (state["refunded"], state["held"]) == (500, 99_500)
    assert [r["stripe_refund_id"] for r in state["refunds"]] == ["re_done"]
