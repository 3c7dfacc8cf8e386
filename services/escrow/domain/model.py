"""The escrow aggregate: one order's money held between buyer and supplier.

State is immutable; every command (see ``commands/``) returns a new state plus the events it
caused. Money leaves the escrow in two steps, because a Stripe call cannot share a database
transaction: a command first *reserves* a payout or refund (``pending``), the Stripe call is
made with an idempotency key derived from that reservation's id, and a second command
*completes* it. Reserved money still counts as held but is no longer available.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from services.escrow.domain.errors import UnknownDispute, UnknownMilestone
from services.escrow.domain.records import (
    DisputeEvidence,
    RefundProposal,
    Rejection,
    SplitOffer,
    SupplierResponse,
)
from services.escrow.domain.terms import DEFAULT_DISPUTE_TERMS, DisputeTerms
from shared.events.escrow import (
    DisputeParty,
    DisputeStatus,
    EvidenceKind,
    FundingMethod,
    MilestoneKind,
)
from shared.fx import FxConversion

MilestoneStatus = Literal[
    "awaiting_evidence",  # evidence missing, or the escrow is not fully funded yet
    "in_inspection",  # evidence in; the buyer may accept or dispute until the window ends
    "accepted",  # to be released (release not started, or the last attempt failed)
    "releasing",  # payout reserved, Stripe transfer in flight
    "disputed",  # frozen until the parties agree or finance resolves the dispute
    "rejected",  # the buyer rejected a failed inspection; the supplier picks the remedy
    "returning",  # the goods go back to the supplier (the buyer ships them)
    "return_shipped",  # the return is on its way (tracking given); the refund follows receipt
    "reinspection",  # the supplier asked for a new inspection report
    "replacing",  # the supplier ships replacement goods; evidence starts again
    "refunding",  # refund to the buyer reserved, Stripe refund in flight
    "released",  # paid out (a split may also have refunded part of it)
    "refunded",  # all of it went back to the buyer
    "cancelled",  # the order was cancelled before this milestone was paid
    "closed_unpaid",  # a lost chargeback took back the money that was to pay it
]
OrderStatus = Literal["awaiting_funding", "partially_funded", "funded", "completed", "cancelled"]
FINAL_MILESTONE: frozenset[str] = frozenset({"released", "refunded", "cancelled", "closed_unpaid"})


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Evidence(Frozen):
    evidence_id: str
    kind: EvidenceKind
    details: dict[str, Any]
    satisfies: bool  # False e.g. for a failed inspection report
    submitted_by: str
    submitted_at: datetime
    void: bool = False  # evidence of goods a replacement superseded


class Milestone(Frozen):
    milestone_id: str
    name: str
    amount: int
    kind: MilestoneKind
    evidence_required: tuple[EvidenceKind, ...]
    inspection_window_seconds: int
    status: MilestoneStatus = "awaiting_evidence"
    evidence: tuple[Evidence, ...] = ()
    inspection_ends_at: datetime | None = None
    released_amount: int = 0
    refunded_amount: int = 0
    # What a lost card chargeback took back of it: never to be paid out or refunded.
    unfunded_amount: int = 0
    rejections: tuple[Rejection, ...] = ()
    # When the current step of a rejection is due (the durable deadline timer's time).
    due_by: datetime | None = None

    @property
    def evidence_complete(self) -> bool:
        have = {e.kind for e in self.evidence if e.satisfies and not e.void}
        return all(kind in have for kind in self.evidence_required)

    @property
    def inspection_failed(self) -> bool:
        """The latest inspection report (of the goods in hand) failed."""
        reports = [e for e in self.evidence if e.kind == "inspection" and not e.void]
        return bool(reports) and not reports[-1].satisfies

    @property
    def rejection(self) -> Rejection | None:
        """The rejection in progress, if any."""
        last = self.rejections[-1] if self.rejections else None
        return last if last is not None and last.status == "open" else None


class Payment(Frozen):
    payment_id: str
    method: FundingMethod
    amount: int
    status: Literal["requested", "succeeded", "failed"]
    stripe_payment_intent_id: str | None = None
    stripe_charge_id: str | None = None
    refunded: int = 0  # completed and reserved refunds against this payment
    # A payment in the funding currency (docs/fx.md): ``amount`` is the contract amount it
    # credits; ``fx`` the locked conversion (from_amount: what Stripe charges, in the
    # funding currency). ``returned``: what refunds gave back of ``fx.from_amount``.
    fx: FxConversion | None = None
    returned: int = 0


class Dispute(Frozen):
    dispute_id: str
    milestone_id: str | None  # None: a card chargeback freezing the whole escrow
    amount: int
    reason: str
    evidence: tuple[str, ...] = ()
    # open: evidence and offers go back and forth; negotiating: an offer awaits an answer;
    # escalated: the parties' time ran out (or one asked), finance decides; resolved.
    status: DisputeStatus = "open"
    outcome: Literal["release", "refund", "split"] | None = None
    stripe_dispute_id: str | None = None
    payment_id: str | None = None  # a chargeback: the card payment the bank took back
    # A chargeback: what the bank claimed (``amount`` is what of it was free to freeze; the
    # rest may be frozen by milestone disputes). None: a milestone dispute, or one of before.
    claimed: int | None = None
    # A chargeback on a payment in the funding currency (docs/fx.md): what the bank took, in
    # that currency (``from_amount``), and the contract share it stands for (``to_amount``,
    # = ``claimed``); the refunds booked for the chargeback return exactly ``from_amount``.
    claimed_fx: FxConversion | None = None
    stripe_status: str | None = None  # a chargeback Stripe closed: won, lost, warning_closed
    opened_by: DisputeParty | None = None  # None: a chargeback (or a dispute of before)
    opened_at: datetime | None = None
    respond_by: datetime | None = None  # the parties' deadline; then finance decides
    submissions: tuple[DisputeEvidence, ...] = ()
    response: SupplierResponse | None = None
    offers: tuple[SplitOffer, ...] = ()
    escalated_at: datetime | None = None
    escalation_reason: str | None = None
    release_amount: int | None = None
    refund_amount: int | None = None
    # chargeback: a milestone dispute whose money a lost card chargeback took.
    resolved_by: Literal["agreement", "finance", "chargeback"] | None = None
    resolved_at: datetime | None = None

    @property
    def is_open(self) -> bool:
        return self.status != "resolved"

    @property
    def open_offer(self) -> SplitOffer | None:
        return next((o for o in self.offers if o.status == "open"), None)


class Lien(Frozen):
    advance_id: str
    amount: int
    repaid: int = 0  # includes repayments reserved by payouts in flight
    status: Literal["active", "released"] = "active"

    @property
    def outstanding(self) -> int:
        return self.amount - self.repaid if self.status == "active" else 0


class Payout(Frozen):
    """A release to the supplier. ``payout_id`` is also the id of its milestone_released event."""

    payout_id: str
    milestone_id: str
    gross: int
    platform_fee: int
    lien_repayment: int
    supplier_net: int
    advance_id: str | None
    status: Literal["pending", "done"] = "pending"
    stripe_transfer_id: str | None = None
    # The card charge the transfer is made from (Stripe ``source_transaction``), chosen when
    # the payout is reserved so every retry sends the same request; None: from the balance.
    source_charge_id: str | None = None
    # Who caused the release (an API key's actor, system:inspection_window, ...), recorded
    # when it is reserved: the milestone_released event is theirs, whoever completes it.
    requested_by: str | None = None
    # supplier_net converted into the payout currency (to_amount: what Stripe transfers).
    payout_fx: FxConversion | None = None


class Refund(Frozen):
    """Money back to the buyer. ``refund_id`` is also the id of its escrow.refunded event."""

    refund_id: str
    payment_id: str | None
    milestone_id: str | None
    amount: int
    reason: str
    via_stripe: bool  # False: a wire returned offline, or money a chargeback already took
    status: Literal["pending", "done"] = "pending"
    stripe_refund_id: str | None = None
    requested_by: str | None = None  # who caused the refund (see Payout.requested_by)
    # ``amount`` back into the payment's funding currency (to_amount: what Stripe refunds).
    fx: FxConversion | None = None
    chargeback_id: str | None = None  # the card chargeback (its dispute_id) that took it


class Escrow(Frozen):
    order_id: str
    tenant_id: str
    buyer_id: str
    supplier_id: str
    supplier_account_id: str
    currency: str
    total: int
    platform_fee_bps: int
    platform_fee_fixed: int
    milestones: tuple[Milestone, ...]
    created_at: datetime
    status: OrderStatus = "awaiting_funding"
    funded: int = 0
    released: int = 0
    refunded: int = 0
    payments: tuple[Payment, ...] = ()
    disputes: tuple[Dispute, ...] = ()
    lien: Lien | None = None
    # Advances whose lien was released (or whose release came before the request): a late
    # or repeated request for one of them is refused instead of placing the lien again.
    released_advances: tuple[str, ...] = ()
    payouts: tuple[Payout, ...] = ()
    refunds: tuple[Refund, ...] = ()
    refund_proposals: tuple[RefundProposal, ...] = ()
    # The tenant's dispute deadlines in force when the order was created (domain/terms.py).
    dispute_terms: DisputeTerms = DEFAULT_DISPUTE_TERMS
    # The platform's own data (shared/metadata.py): never read by any rule here.
    metadata: dict[str, str] = {}
    external_reference: str | None = None
    # FX (issue 14, docs/fx.md). None: the contract currency (orders of before, or the same).
    funding_currency: str | None = None
    payout_currency: str | None = None
    fx_policy: Literal["order", "milestone"] = "order"
    # The "order" policy's payout conversion of the whole total (contract -> payout
    # currency), locked at the first funding; each release takes its allocation of it.
    payout_lock: FxConversion | None = None
    version: int = 0

    @property
    def funding_ccy(self) -> str:
        return self.funding_currency or self.currency

    @property
    def payout_ccy(self) -> str:
        return self.payout_currency or self.currency

    @property
    def converts_payouts(self) -> bool:
        return self.payout_ccy != self.currency

    @property
    def held(self) -> int:
        return self.funded - self.released - self.refunded

    @property
    def reserved(self) -> int:
        """Held money already promised to a payout or refund in flight."""
        out = sum(p.gross for p in self.payouts if p.status == "pending")
        return out + sum(r.amount for r in self.refunds if r.status == "pending")

    @property
    def frozen(self) -> int:
        return sum(d.amount for d in self.disputes if d.is_open)

    @property
    def available(self) -> int:
        return self.held - self.reserved - self.frozen

    @property
    def fully_funded(self) -> bool:
        return self.funded >= self.total

    @property
    def chargeback_open(self) -> bool:
        return any(d.milestone_id is None and d.is_open for d in self.disputes)

    @property
    def closed(self) -> bool:
        return self.status in ("completed", "cancelled")

    def milestone(self, milestone_id: str) -> Milestone:
        for m in self.milestones:
            if m.milestone_id == milestone_id:
                return m
        raise UnknownMilestone(f"milestone {milestone_id} is not part of order {self.order_id}")

    def dispute(self, dispute_id: str) -> Dispute:
        for d in self.disputes:
            if d.dispute_id == dispute_id:
                return d
        raise UnknownDispute(f"dispute {dispute_id} is not part of order {self.order_id}")

    def with_dispute(self, dispute: Dispute) -> Escrow:
        disputes = tuple(
            dispute if d.dispute_id == dispute.dispute_id else d for d in self.disputes
        )
        return self.model_copy(update={"disputes": disputes})

    def with_milestone(self, milestone: Milestone) -> Escrow:
        milestones = tuple(
            milestone if m.milestone_id == milestone.milestone_id else m for m in self.milestones
        )
        return self.model_copy(update={"milestones": milestones})
