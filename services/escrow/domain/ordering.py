"""Creating an order: the trade contract and its milestone schedule; the platform's own data.

A schedule is in amounts or in percentages (``schedule.py``); ``metadata`` and
``external_reference`` follow ``shared/metadata.py`` (uniqueness is the repository's).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from services.escrow.domain.errors import InvalidOrder
from services.escrow.domain.model import Escrow, Milestone
from services.escrow.domain.rules import Decision, new_id
from services.escrow.domain.schedule import scheduled_amounts
from shared.events.escrow import (
    EvidenceKind,
    MilestoneKind,
    MilestoneTerms,
    OrderCreated,
    OrderUpdated,
)
from shared.metadata import merge_metadata, new_metadata
from shared.money import MoneyError, check_currency

# Evidence a milestone needs when the contract does not list it: the kind itself.
DEFAULT_EVIDENCE: dict[str, tuple[EvidenceKind, ...]] = {
    "contract": (),
    "shipment": ("shipment",),
    "customs_clearance": ("customs_clearance",),
    "delivery": ("delivery",),
    "inspection": ("inspection",),
    "buyer_acceptance": ("buyer_acceptance",),
}


@dataclass(frozen=True)
class MilestoneSpec:
    name: str
    amount: int | None  # None: the schedule is in percentages
    kind: MilestoneKind
    inspection_window_seconds: int
    evidence_required: Sequence[EvidenceKind] | None = None
    percent_bps: int | None = None  # of the total, 1..10000; all milestones' sum to 10000


@dataclass(frozen=True)
class OrderSpec:
    tenant_id: str
    buyer_id: str
    supplier_id: str
    supplier_account_id: str
    currency: str
    total: int
    milestones: Sequence[MilestoneSpec]
    platform_fee_bps: int
    platform_fee_fixed: int
    metadata: Mapping[str, object] | None = None
    external_reference: str | None = None
    order_id: str = field(default_factory=new_id)
    funding_currency: str | None = None  # None: the contract currency
    payout_currency: str | None = None
    fx_policy: Literal["order", "milestone"] = "order"


def _validate(spec: OrderSpec) -> list[int]:
    """The milestones' amounts, if the terms are acceptable."""
    try:
        check_currency(spec.currency)
        for other in (spec.funding_currency, spec.payout_currency):
            if other is not None:
                check_currency(other)
    except MoneyError as exc:
        raise InvalidOrder(str(exc)) from exc
    if type(spec.total) is not int or spec.total <= 0:
        raise InvalidOrder("total must be a positive integer of minor units")
    for label, value in (("buyer_id", spec.buyer_id), ("supplier_id", spec.supplier_id)):
        if not value.strip():
            raise InvalidOrder(f"{label} is required")
    if not spec.supplier_account_id.startswith("acct_"):
        raise InvalidOrder("supplier_account_id must be a Stripe connected account (acct_...)")
    if spec.buyer_id == spec.supplier_id:
        raise InvalidOrder("buyer and supplier must differ")
    if not spec.milestones:
        raise InvalidOrder("an order needs at least one milestone")
    amounts = scheduled_amounts(
        spec.total, [m.amount for m in spec.milestones], [m.percent_bps for m in spec.milestones]
    )
    if any(type(a) is not int or a <= 0 for a in amounts):
        raise InvalidOrder("milestone amounts must be positive integers of minor units")
    scheduled = sum(amounts)
    if scheduled != spec.total:
        raise InvalidOrder(f"milestones sum to {scheduled}, the total is {spec.total}")
    if any(m.inspection_window_seconds < 0 for m in spec.milestones):
        raise InvalidOrder("inspection windows cannot be negative")
    if not 0 <= spec.platform_fee_bps <= 10_000 or spec.platform_fee_fixed < 0:
        raise InvalidOrder("platform fee must be 0-10000 bps plus a non-negative fixed amount")
    return amounts


def create_order(spec: OrderSpec, now: datetime) -> Decision:
    amounts = _validate(spec)
    metadata = new_metadata(spec.metadata)
    milestones = tuple(
        Milestone(
            milestone_id=new_id(),
            name=m.name,
            amount=amount,
            kind=m.kind,
            evidence_required=tuple(
                m.evidence_required if m.evidence_required is not None else DEFAULT_EVIDENCE[m.kind]
            ),
            inspection_window_seconds=m.inspection_window_seconds,
        )
        for m, amount in zip(spec.milestones, amounts, strict=True)
    )
    escrow = Escrow(
        order_id=spec.order_id,
        tenant_id=spec.tenant_id,
        buyer_id=spec.buyer_id,
        supplier_id=spec.supplier_id,
        supplier_account_id=spec.supplier_account_id,
        currency=spec.currency,
        total=spec.total,
        platform_fee_bps=spec.platform_fee_bps,
        platform_fee_fixed=spec.platform_fee_fixed,
        milestones=milestones,
        created_at=now,
        metadata=metadata,
        external_reference=spec.external_reference,
        funding_currency=spec.funding_currency or spec.currency,
        payout_currency=spec.payout_currency or spec.currency,
        fx_policy=spec.fx_policy,
    )
    event = OrderCreated(
        order_id=escrow.order_id,
        buyer_id=escrow.buyer_id,
        supplier_id=escrow.supplier_id,
        supplier_account_id=escrow.supplier_account_id,
        currency=escrow.currency,
        total=escrow.total,
        milestones=[
            MilestoneTerms(
                milestone_id=m.milestone_id,
                name=m.name,
                amount=m.amount,
                kind=m.kind,
                evidence_required=list(m.evidence_required),
                inspection_window_seconds=m.inspection_window_seconds,
            )
            for m in milestones
        ],
        platform_fee_bps=escrow.platform_fee_bps,
        platform_fee_fixed=escrow.platform_fee_fixed,
        metadata=escrow.metadata,
        external_reference=escrow.external_reference,
        funding_currency=escrow.funding_ccy,
        payout_currency=escrow.payout_ccy,
        fx_policy=escrow.fx_policy,
    )
    return escrow, [event]


def update_platform_data(
    escrow: Escrow,
    metadata: Mapping[str, object] | None,
    external_reference: str | None,
    *,
    clear_reference: bool = False,
) -> Decision:
    """The order with its metadata merged (Stripe's rules) and its external_reference set
    (or removed, ``clear_reference``). Allowed in every status: it is the platform's
    bookkeeping, not the contract. ``escrow.order_updated`` when something changed (a
    webhook tells the platform), nothing when the values are the same."""
    update: dict[str, object] = {}
    if metadata is not None:
        update["metadata"] = merge_metadata(escrow.metadata, metadata)
    if clear_reference:
        update["external_reference"] = None
    elif external_reference is not None:
        update["external_reference"] = external_reference
    after = escrow.model_copy(update=update)
    changed: list[Literal["metadata", "external_reference"]] = []
    if after.metadata != escrow.metadata:
        changed.append("metadata")
    if after.external_reference != escrow.external_reference:
        changed.append("external_reference")
    if not changed:
        return after, []
    event = OrderUpdated(
        order_id=after.order_id,
        metadata=dict(after.metadata),
        external_reference=after.external_reference,
        changed=changed,
    )
    return after, [event]
