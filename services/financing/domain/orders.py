"""Financing's own view of an order and its escrow, folded from escrow's events.

Financing never reads escrow's tables: this view is all it knows, and it is enough to size
an advance (what is funded, released, refunded and disputed) and to date its repayment.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import TypedDict

from services.financing.domain.fx import PayoutLock
from shared.events import escrow as ev
from shared.events.registry import EventModel
from shared.money import apply_rate


class OpenDispute(TypedDict):
    milestone_id: str | None  # None: a chargeback on the whole escrow
    amount: int


# An order's open disputes, by dispute id (as the read model stores them).
Disputes = dict[str, OpenDispute]


@dataclass(frozen=True)
class MilestoneView:
    milestone_id: str
    kind: str
    amount: int
    inspection_window_seconds: int = 0
    released: bool = False
    disputed: bool = False


@dataclass(frozen=True)
class OrderView:
    tenant_id: str
    order_id: str
    buyer_id: str
    supplier_id: str
    currency: str
    total: int
    created_at: datetime
    milestones: tuple[MilestoneView, ...]
    platform_fee_bps: int = 0
    platform_fee_fixed: int = 0
    funded_total: int = 0
    released_total: int = 0
    refunded_total: int = 0
    disputed_total: int = 0  # amount frozen by open disputes
    status: str = "open"  # open | cancelled | completed
    supplier_account_id: str = ""  # Stripe connected account that receives disbursements
    # The order's funding charge: the first card payment that paid the whole contract total
    # (escrow's rule too, services/escrow/domain/payouts.py: source_charge).
    funding_charge_id: str | None = None
    funding_charge_amount: int = 0
    # What the supplier is paid in (escrow.order_created v3; the contract currency before),
    # and the rate escrow locked for the order's payouts at funding (escrow.funded v2's
    # payout_lock; None under the per-milestone policy, or in one currency).
    payout_currency: str | None = None
    payout_lock: PayoutLock | None = None

    @property
    def pays_out_in(self) -> str:
        return self.payout_currency or self.currency

    @property
    def cross_currency(self) -> bool:
        return self.pays_out_in != self.currency

    @property
    def locked_payout(self) -> PayoutLock | None:
        """The locked payout rate, if it is one into the order's payout currency."""
        lock = self.payout_lock
        return lock if lock is not None and lock.to_currency == self.pays_out_in else None

    @property
    def held(self) -> int:
        return self.funded_total - self.released_total - self.refunded_total

    def platform_fee_on(self, amount: int) -> int:
        """Escrow's platform fee on a release of ``amount`` (bps half-up plus the fixed part)."""
        return min(
            amount, apply_rate(amount, self.platform_fee_bps, bps=True) + self.platform_fee_fixed
        )

    def funding_source(self, amount: int) -> str | None:
        """The charge a disbursement of ``amount`` is transferred from (Stripe's
        ``source_transaction``: the transfer then waits for the charge's funds rather than
        draining, or being refused by, the platform balance); None: from the balance.

        Only the funding charge, which alone paid the whole total: everything the order ever
        transfers to its supplier (this advance's net, escrow's payouts after the lien is
        repaid first) stays within the total less the fees, so the charge covers it all
        whichever service transfers first. Checked again, conservatively, against what was
        already released or refunded of the order."""
        if self.funding_charge_id is None or amount <= 0:
            return None
        left = self.funding_charge_amount - self.released_total - self.refunded_total
        return self.funding_charge_id if amount <= left else None

    def eligible_milestones(self) -> list[MilestoneView]:
        """Unreleased, undisputed milestones, in schedule order."""
        return [m for m in self.milestones if not m.released and not m.disputed]

    def financeable(self) -> int:
        """Funded, unreleased, undisputed amount due to the supplier (after platform fees)."""
        eligible = self.eligible_milestones()
        gross = min(sum(m.amount for m in eligible), max(0, self.held - self.disputed_total))
        fees = sum(self.platform_fee_on(m.amount) for m in eligible)
        return max(0, gross - fees)

    def repayable(self) -> int:
        """What the remaining releases could still repay: held, unreleased, net of fees
        (disputed amounts included: a dispute may still end in a release)."""
        unreleased = [m for m in self.milestones if not m.released]
        gross = min(sum(m.amount for m in unreleased), self.held)
        return max(0, gross - sum(self.platform_fee_on(m.amount) for m in unreleased))

    def refunded_from(self, milestone_id: str | None, amount: int) -> OrderView:
        """A dispute refunded ``amount`` of a milestone to the buyer: less is left to release
        (a milestone refunded in full is done, as if released)."""
        if amount <= 0:
            return self
        milestones = tuple(
            replace(m, amount=max(0, m.amount - amount), released=m.released or m.amount <= amount)
            if m.milestone_id == milestone_id
            else m
            for m in self.milestones
        )
        return replace(self, milestones=milestones)

    def with_milestone(
        self,
        milestone_id: str | None,
        *,
        released: bool | None = None,
        disputed: bool | None = None,
    ) -> OrderView:
        def change(m: MilestoneView) -> MilestoneView:
            if m.milestone_id != milestone_id:
                return m
            return replace(
                m,
                released=m.released if released is None else released,
                disputed=m.disputed if disputed is None else disputed,
            )

        return replace(self, milestones=tuple(change(m) for m in self.milestones))


def order_created(tenant_id: str, p: ev.OrderCreated, occurred_at: datetime) -> OrderView:
    """The view of an order escrow just created."""
    return OrderView(
        tenant_id=tenant_id,
        order_id=p.order_id,
        buyer_id=p.buyer_id,
        supplier_id=p.supplier_id,
        supplier_account_id=p.supplier_account_id,
        currency=p.currency,
        total=p.total,
        created_at=occurred_at,
        milestones=tuple(
            MilestoneView(m.milestone_id, m.kind, m.amount, m.inspection_window_seconds)
            for m in p.milestones
        ),
        platform_fee_bps=p.platform_fee_bps,
        platform_fee_fixed=p.platform_fee_fixed,
        payout_currency=p.payout_currency,
    )


def fold(order: OrderView, disputes: Disputes, p: EventModel) -> tuple[OrderView, Disputes]:
    """The view (and its open disputes) after one more of escrow's events."""
    if isinstance(p, ev.Funded):
        order = replace(order, funded_total=max(order.funded_total, p.funded_total))
        # (a charge in another currency than the contract's is no source for its transfers)
        whole = p.method == "stripe" and p.stripe_charge_id and p.amount >= order.total
        whole = whole and p.fx is None
        if whole and order.funding_charge_id is None:
            order = replace(
                order, funding_charge_id=p.stripe_charge_id, funding_charge_amount=p.amount
            )
        if p.payout_lock is not None and order.payout_lock is None:  # locked once, at funding
            order = replace(order, payout_lock=PayoutLock.of_conversion(p.payout_lock))
        return order, disputes
    if isinstance(p, ev.MilestoneReleased):
        order = order.with_milestone(p.milestone_id, released=True)
        return replace(order, released_total=order.released_total + p.gross), disputes
    if isinstance(p, ev.DisputeOpened):
        opened = OpenDispute(milestone_id=p.milestone_id, amount=p.amount)
        disputes = {**disputes, p.dispute_id: opened}
        order = order.with_milestone(p.milestone_id, disputed=True)
    elif isinstance(p, ev.DisputeResolved):
        disputes = {k: v for k, v in disputes.items() if k != p.dispute_id}
        if p.milestone_id not in {d["milestone_id"] for d in disputes.values()}:
            order = order.with_milestone(p.milestone_id, disputed=False)
        order = order.refunded_from(p.milestone_id, p.refund_amount)
    elif isinstance(p, ev.Refunded):
        order = replace(order, refunded_total=order.refunded_total + p.amount)
    elif isinstance(p, ev.Cancelled):
        order = replace(order, status="cancelled")
    elif isinstance(p, ev.Completed):
        order = replace(order, status="completed")
    total = sum(d["amount"] for d in disputes.values())
    return replace(order, disputed_total=total), disputes
