"""Worked-example builders for the financing unit tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from services.financing.domain.advance import Advance
from services.financing.domain.lifecycle import accept, open_advance, record_disbursement
from services.financing.domain.orders import MilestoneView, OrderView
from services.financing.domain.policy import Policy
from services.financing.domain.sizing import Exposure, Offer, size

T0 = datetime(2026, 3, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def order_30_40_30(*, funded: int = 10_000_000, deposit_released: bool = True) -> OrderView:
    """USD 100,000.00: 30 % on contract, 40 % on shipment, 30 % on delivery + inspection."""
    milestones = (
        MilestoneView("m1", "contract", 3_000_000, released=deposit_released),
        MilestoneView("m2", "shipment", 4_000_000),
        MilestoneView("m3", "inspection", 3_000_000, inspection_window_seconds=5 * 86_400),
    )
    return OrderView(
        tenant_id="t1",
        order_id="o1",
        buyer_id="b1",
        supplier_id="s1",
        currency="USD",
        total=10_000_000,
        created_at=T0,
        milestones=milestones,
        funded_total=funded,
        released_total=3_000_000 if deposit_released else 0,
    )


def policy(**changes: object) -> Policy:
    return replace(Policy(currency="USD", daily_fee_rate=Decimal("0.0005")), **changes)  # type: ignore[arg-type]


def disbursed_advance(
    principal: int = 5_600_000, now: datetime = T0, pol: Policy | None = None
) -> Advance:
    pol = pol or policy()
    outcome = size(order_30_40_30(), pol, Exposure(), now, requested=principal)
    assert isinstance(outcome, Offer)
    advance, _ = open_advance("a1", order_30_40_30(), "s1", outcome, pol, now)
    advance, _ = accept(advance, now, "apikey:supplier")
    advance, _ = record_disbursement(advance, "tr_1", now)
    return advance
