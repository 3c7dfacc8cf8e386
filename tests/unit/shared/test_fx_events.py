"""The escrow events' FX versions: older versions still read, with no conversion."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from shared.events import escrow as ev
from shared.events.registry import REGISTRY
from shared.fx import funding_conversion

ORDER_V2 = {
    "order_id": "o",
    "buyer_id": "b",
    "supplier_id": "s",
    "supplier_account_id": "acct",
    "currency": "USD",
    "total": 1000,
    "milestones": [
        {
            "milestone_id": "m",
            "name": "all",
            "amount": 1000,
            "kind": "contract",
            "evidence_required": [],
            "inspection_window_seconds": 0,
        }
    ],
    "platform_fee_bps": 0,
    "platform_fee_fixed": 0,
    "metadata": {},
    "external_reference": None,
}
FUNDED_V1 = {
    "order_id": "o",
    "payment_id": "p",
    "amount": 1000,
    "currency": "USD",
    "method": "stripe",
    "stripe_payment_intent_id": "pi",
    "stripe_charge_id": "ch",
    "funded_total": 1000,
    "held_after": 1000,
    "fully_funded": True,
}
RELEASED_V2 = {
    "order_id": "o",
    "milestone_id": "m",
    "payout_id": "p",
    "currency": "USD",
    "gross": 1000,
    "platform_fee": 0,
    "lien_repayment": 0,
    "supplier_net": 1000,
    "advance_id": None,
    "stripe_transfer_id": "tr",
    "held_after": 0,
}
REFUNDED_V1 = {
    "order_id": "o",
    "refund_id": "r",
    "payment_id": "p",
    "amount": 1000,
    "currency": "USD",
    "stripe_refund_id": "re",
    "reason": "x",
    "held_after": 0,
}


def test_old_versions_upcast_to_no_conversion() -> None:
    order = REGISTRY.load("escrow.order_created", 2, ORDER_V2)
    assert isinstance(order, ev.OrderCreated) and order.event_version == 3
    assert (order.funding_currency, order.payout_currency, order.fx_policy) == (
        "USD",
        "USD",
        "order",
    )
    v1 = {k: v for k, v in ORDER_V2.items() if k not in ("metadata", "external_reference")}
    assert REGISTRY.load("escrow.order_created", 1, v1) == order
    funded = REGISTRY.load("escrow.funded", 1, FUNDED_V1)
    assert isinstance(funded, ev.Funded) and funded.fx is None and funded.payout_lock is None
    released = REGISTRY.load("escrow.milestone_released", 2, RELEASED_V2)
    assert isinstance(released, ev.MilestoneReleased) and released.payout_fx is None
    refunded = REGISTRY.load("escrow.refunded", 1, REFUNDED_V1)
    assert isinstance(refunded, ev.Refunded) and refunded.fx is None
    # an old version never carried the new fields
    with pytest.raises(ValidationError):
        REGISTRY.load("escrow.funded", 1, {**FUNDED_V1, "fx": None})


def test_new_versions_carry_the_conversion() -> None:
    fx = funding_conversion(
        1000,
        from_currency="EUR",
        to_currency="USD",
        mid_rate=Decimal("1.08"),
        markup_bps=50,
        quote_id="q",
    )
    funded = ev.Funded(**{**FUNDED_V1, "fx": fx})
    again = REGISTRY.load("escrow.funded", 2, funded.model_dump(mode="json"))
    assert again == funded and again.fx == fx
    order = ev.OrderCreated(**ORDER_V2, funding_currency="EUR", payout_currency="CNY")
    assert order.fx_policy == "order" and order.funding_currency == "EUR"
    assert ev.OrderCreated(**ORDER_V2).payout_currency == "USD"
    with pytest.raises(ValidationError):
        ev.OrderCreated(**ORDER_V2, fx_policy="daily")
