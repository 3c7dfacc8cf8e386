"""Financing's own view of an order and its escrow, folded from escrow's events.

Financing never reads escrow's tables: this view is all it knows, and it is enough to size
an advance (what is funded, released, refunded and disputed) and to date its repayment.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from shared.money import apply_rate


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

    @property
    def held(self) -> int:
        return self.funded_total - self.released_total - self.refunded_total

    def platform_fee_on(self, amount: int) -> int:
        """Escrow's platform fee on a release of ``amount`` (bps half-up plus the fixed part)."""
        return min(
            amount, apply_rate(amount, self.platform_fee_bps, bps=True) + self.platform_fee_fixed
        )

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
