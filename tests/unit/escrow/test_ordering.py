"""Creating an order: the schedule must be a valid, exact contract."""

from __future__ import annotations

from dataclasses import replace

import pytest

from services.escrow.domain.errors import InvalidOrder
from services.escrow.domain.ordering import MilestoneSpec, OrderSpec, create_order
from shared.events.escrow import OrderCreated
from tests.unit.escrow.builders import T0

SPEC = OrderSpec(
    tenant_id="t1",
    buyer_id="b",
    supplier_id="s",
    supplier_account_id="acct_1",
    currency="USD",
    total=1000,
    milestones=[
        MilestoneSpec("deposit", 300, "contract", 0),
        MilestoneSpec("ship", 700, "shipment", 60),
    ],
    platform_fee_bps=100,
    platform_fee_fixed=0,
)


def test_a_valid_order_is_awaiting_funding_and_announces_its_schedule() -> None:
    escrow, events = create_order(SPEC, T0)
    assert escrow.status == "awaiting_funding" and escrow.held == 0
    assert [m.evidence_required for m in escrow.milestones] == [(), ("shipment",)]
    (created,) = events
    assert isinstance(created, OrderCreated)
    assert [m.amount for m in created.milestones] == [300, 700]


@pytest.mark.parametrize(
    "change",
    [
        {"total": 999},
        {"currency": "XXX"},
        {"currency": "usd"},
        {"buyer_id": " "},
        {"supplier_id": "b"},
        {"supplier_account_id": "cus_1"},
        {"milestones": []},
        {"milestones": [MilestoneSpec("a", 1000, "contract", -1)]},
        {
            "milestones": [
                MilestoneSpec("a", 1100, "contract", 0),
                MilestoneSpec("b", -100, "delivery", 0),
            ]
        },
        {"platform_fee_bps": 10_001},
    ],
)
def test_invalid_orders_are_refused_with_a_typed_error(change: dict) -> None:
    with pytest.raises(InvalidOrder) as exc:
        create_order(replace(SPEC, **change), T0)
    assert exc.value.code == "invalid_order"
