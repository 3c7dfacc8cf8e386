"""Small builders for escrow domain tests: an order and the steps that move it along."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from services.escrow.domain.funding import record_funding
from services.escrow.domain.milestones import submit_evidence
from services.escrow.domain.model import Escrow
from services.escrow.domain.ordering import MilestoneSpec, OrderSpec, create_order
from shared.events.escrow import FundingMethod, MilestoneKind

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
EVIDENCE = {
    "shipment": {"document": "bill_of_lading", "number": "MAEU123", "carrier": "Maersk"},
    "customs_clearance": {"declaration": "CN-88"},
    "delivery": {"received_by": "warehouse"},
    "inspection": {"inspector": "SGS", "report_id": "R-1", "passed": True},
    "buyer_acceptance": {"note": "ok"},
}


def new_order(
    amounts: Sequence[int] = (30_000, 40_000, 30_000),
    kinds: Sequence[MilestoneKind] = ("contract", "shipment", "delivery"),
    *,
    currency: str = "USD",
    fee_bps: int = 100,
    fee_fixed: int = 0,
    window_days: int = 3,
) -> Escrow:
    spec = OrderSpec(
        tenant_id="t1",
        buyer_id="buyer-1",
        supplier_id="supplier-1",
        supplier_account_id="acct_supplier1",
        currency=currency,
        total=sum(amounts),
        milestones=[
            MilestoneSpec(f"m{i}", a, k, window_days * 86_400)
            for i, (a, k) in enumerate(zip(amounts, kinds, strict=True))
        ],
        platform_fee_bps=fee_bps,
        platform_fee_fixed=fee_fixed,
    )
    escrow, _ = create_order(spec, T0)
    return escrow


def funded(escrow: Escrow, method: FundingMethod = "stripe", now: datetime = T0) -> Escrow:
    escrow, _ = record_funding(
        escrow, "pay-1", escrow.total - escrow.funded, method, now, stripe_payment_intent_id="pi_1"
    )
    return escrow


def ms(escrow: Escrow, index: int) -> str:
    return escrow.milestones[index].milestone_id


def evidenced(escrow: Escrow, index: int, now: datetime = T0) -> Escrow:
    m = escrow.milestones[index]
    for kind in m.evidence_required:
        escrow, _ = submit_evidence(escrow, m.milestone_id, kind, EVIDENCE[kind], "supplier", now)
    return escrow
