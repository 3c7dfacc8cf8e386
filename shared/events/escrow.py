"""Events of the escrow service (topic ``settings.topic("escrow")``).

Contract, relied on by the ledger and financing services:
- the Kafka key / envelope ``subject`` of every event is the order id, so one escrow's events
  stay ordered; the envelope ``tenant_id`` is the order's tenant;
- every event carries ``order_id``; amounts are integer minor units with a ``currency``;
- every event that moves money in or out of the escrow carries ``held_after``: the escrow's
  held amount (funded - released - refunded) right after the event, for three-way checks.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.events.registry import EventModel, event, upcaster
from shared.events.types import (
    CurrencyCode,
    NonNegativeMinorUnits,
    PositiveMinorUnits,
)
from shared.fx import FxConversion

__all__ = ["FxConversion"]  # re-exported: the FX shape every event below carries

EvidenceKind = Literal[
    "shipment", "customs_clearance", "delivery", "inspection", "buyer_acceptance"
]
# What a milestone is paid on. "contract" needs no evidence: it is due once the escrow is
# fully funded (a deposit); the others name the evidence that completes them.
MilestoneKind = Literal[
    "contract", "shipment", "customs_clearance", "delivery", "inspection", "buyer_acceptance"
]
FundingMethod = Literal["stripe", "wire"]
AcceptedBy = Literal["buyer", "inspection_window", "dispute_resolution"]
DisputeOutcome = Literal["release", "refund", "split"]
# When an order's payout conversion is locked: once for the whole order at funding
# ("order"), or per milestone at release ("milestone"). A tenant setting (docs/fx.md).
FxPolicy = Literal["order", "milestone"]
DisputeParty = Literal["buyer", "supplier"]
DisputeStatus = Literal["open", "negotiating", "escalated", "resolved"]
OfferStatus = Literal["open", "accepted", "countered", "lapsed"]
ProposalStatus = Literal["open", "agreed", "declined", "withdrawn", "expired"]
# What follows a buyer's rejection of a failed inspection: the goods go back and the buyer
# is refunded, the goods are inspected again, or the supplier ships a replacement.
RejectionRemedy = Literal["return", "reinspection", "replacement"]


class MilestoneTerms(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    milestone_id: str
    name: str
    amount: PositiveMinorUnits
    kind: MilestoneKind
    evidence_required: list[EvidenceKind] = Field(default_factory=list)
    inspection_window_seconds: int = Field(ge=0)


# Superseded by v2, which carries the platform's own data. Kept, frozen as it was published,
# because v1 events stay on the topic (retention, replays): validated by it, then upcast.
@event("escrow.order_created", version=1, superseded=True)
class OrderCreatedV1(EventModel):
    model_config = ConfigDict(title="OrderCreated")

    order_id: str
    buyer_id: str
    supplier_id: str
    supplier_account_id: str  # Stripe connected account receiving the transfers
    currency: CurrencyCode
    total: PositiveMinorUnits
    milestones: list[MilestoneTerms]
    platform_fee_bps: int = Field(ge=0, le=10_000)
    platform_fee_fixed: NonNegativeMinorUnits  # per release, in the order's currency


# Superseded by v3, which names the funding and payout currencies. Kept, frozen as published.
@event("escrow.order_created", version=2, superseded=True)
class OrderCreatedV2(EventModel):
    """v2 adds the platform's own ``metadata`` and ``external_reference`` (shared/metadata.py)
    as the order was created with them; a later PATCH of them publishes no event."""

    model_config = ConfigDict(title="OrderCreated")

    order_id: str
    buyer_id: str
    supplier_id: str
    supplier_account_id: str  # Stripe connected account receiving the transfers
    currency: CurrencyCode
    total: PositiveMinorUnits
    milestones: list[MilestoneTerms]
    platform_fee_bps: int = Field(ge=0, le=10_000)
    platform_fee_fixed: NonNegativeMinorUnits  # per release, in the order's currency
    metadata: dict[str, str] = Field(default_factory=dict)
    external_reference: str | None = None


@event("escrow.order_created", version=3)
class OrderCreated(EventModel):
    """v3 adds the order's currencies (issue 14): ``currency`` stays the contract currency
    (price, milestones, held, fees, liens); ``funding_currency`` is what the buyer is
    charged, ``payout_currency`` what the supplier is transferred (each defaults to
    ``currency``), and ``fx_policy`` when the payout conversion is locked."""

    order_id: str
    buyer_id: str
    supplier_id: str
    supplier_account_id: str  # Stripe connected account receiving the transfers
    currency: CurrencyCode
    total: PositiveMinorUnits
    milestones: list[MilestoneTerms]
    platform_fee_bps: int = Field(ge=0, le=10_000)
    platform_fee_fixed: NonNegativeMinorUnits  # per release, in the order's currency
    metadata: dict[str, str] = Field(default_factory=dict)
    external_reference: str | None = None
    funding_currency: CurrencyCode
    payout_currency: CurrencyCode
    fx_policy: FxPolicy = "order"

    @model_validator(mode="before")
    @classmethod
    def _currencies_default_to_the_contract(cls, data: Any) -> Any:
        if isinstance(data, dict) and "currency" in data:
            data = {
                "funding_currency": data["currency"],
                "payout_currency": data["currency"],
                **data,
            }
        return data


@upcaster("escrow.order_created", from_version=1)
def _order_carries_platform_data(data: dict[str, Any]) -> dict[str, Any]:
    """v1 orders had no platform data: none."""
    return {**data, "metadata": {}, "external_reference": None}


@upcaster("escrow.order_created", from_version=2)
def _order_names_its_currencies(data: dict[str, Any]) -> dict[str, Any]:
    """v2 orders had one currency: funded and paid out in it, policy "order"."""
    return {
        **data,
        "funding_currency": data["currency"],
        "payout_currency": data["currency"],
        "fx_policy": "order",
    }


@event("escrow.funding_requested", version=1)
class FundingRequested(EventModel):
    order_id: str
    payment_id: str
    amount: PositiveMinorUnits
    currency: CurrencyCode
    stripe_payment_intent_id: str


# Superseded by v2, which carries the funding's conversion. Kept, frozen as published.
@event("escrow.funded", version=1, superseded=True)
class FundedV1(EventModel):
    model_config = ConfigDict(title="Funded")

    order_id: str
    payment_id: str
    amount: PositiveMinorUnits
    currency: CurrencyCode
    method: FundingMethod
    stripe_payment_intent_id: str | None
    stripe_charge_id: str | None
    funded_total: NonNegativeMinorUnits
    held_after: NonNegativeMinorUnits
    fully_funded: bool


@event("escrow.funded", version=2)
class Funded(EventModel):
    """``amount``/``currency``: the CONTRACT amount credited to held. ``fx``: the funding's
    conversion when the buyer paid in another currency (from = funding currency,
    ``from_amount`` = what Stripe charged; to = contract currency, ``to_amount`` = ``amount``).
    ``payout_lock``: under the "order" policy with a payout currency other than the
    contract's, the payout conversion locked at this funding for the order's total (from =
    contract, to = payout currency); each release takes its allocation of it."""

    order_id: str
    payment_id: str
    amount: PositiveMinorUnits
    currency: CurrencyCode
    method: FundingMethod
    stripe_payment_intent_id: str | None
    stripe_charge_id: str | None
    funded_total: NonNegativeMinorUnits
    held_after: NonNegativeMinorUnits
    fully_funded: bool
    fx: FxConversion | None = None
    payout_lock: FxConversion | None = None


@upcaster("escrow.funded", from_version=1)
def _funding_carries_fx(data: dict[str, Any]) -> dict[str, Any]:
    """v1 fundings were in the contract currency: no conversion, no lock."""
    return {**data, "fx": None, "payout_lock": None}


@event("escrow.funding_failed", version=1)
class FundingFailed(EventModel):
    order_id: str
    payment_id: str
    stripe_payment_intent_id: str | None
    reason: str


@event("escrow.evidence_submitted", version=1)
class EvidenceSubmitted(EventModel):
    order_id: str
    milestone_id: str
    evidence_id: str
    kind: EvidenceKind
    details: dict[str, Any]
    evidence_complete: bool  # every evidence the milestone requires is now in


@event("escrow.inspection_started", version=1)
class InspectionStarted(EventModel):
    """The milestone's inspection window opened; it is auto-accepted at ``ends_at``."""

    order_id: str
    milestone_id: str
    ends_at: datetime


@event("escrow.milestone_accepted", version=1)
class MilestoneAccepted(EventModel):
    order_id: str
    milestone_id: str
    accepted_by: AcceptedBy


# Superseded by v2, which names the payout. Kept, frozen as it was published, because v1
# events stay on the topic (retention, replays): they are validated by this model, then upcast.
@event("escrow.milestone_released", version=1, superseded=True)
class MilestoneReleasedV1(EventModel):
    """gross = platform_fee + lien_repayment + supplier_net, exactly."""

    model_config = ConfigDict(title="MilestoneReleased")

    order_id: str
    milestone_id: str
    currency: CurrencyCode
    gross: PositiveMinorUnits
    platform_fee: NonNegativeMinorUnits
    lien_repayment: NonNegativeMinorUnits
    supplier_net: NonNegativeMinorUnits
    advance_id: str | None
    stripe_transfer_id: str | None  # None when nothing was left to transfer
    held_after: NonNegativeMinorUnits


# Superseded by v3, which carries the payout's conversion. Kept, frozen as published.
@event("escrow.milestone_released", version=2, superseded=True)
class MilestoneReleasedV2(EventModel):
    """gross = platform_fee + lien_repayment + supplier_net, exactly.

    The event's id is its payout's id (``payout_id``): the Stripe transfer's idempotency key
    is derived from it, so event, payout and transfer name each other.
    """

    model_config = ConfigDict(title="MilestoneReleased")

    id_field: ClassVar[str | None] = "payout_id"

    order_id: str
    milestone_id: str
    payout_id: str | None = Field(
        description="the payout this release books; null only for a release published as v1, "
        "whose payout id is its event id"
    )
    currency: CurrencyCode
    gross: PositiveMinorUnits
    platform_fee: NonNegativeMinorUnits
    lien_repayment: NonNegativeMinorUnits
    supplier_net: NonNegativeMinorUnits
    advance_id: str | None
    stripe_transfer_id: str | None  # None when nothing was left to transfer
    held_after: NonNegativeMinorUnits


@event("escrow.milestone_released", version=3)
class MilestoneReleased(EventModel):
    """gross = platform_fee + lien_repayment + supplier_net, exactly.

    The event's id is its payout's id (``payout_id``): the Stripe transfer's idempotency key
    is derived from it, so event, payout and transfer name each other.

    Amounts are in the contract currency. ``payout_fx`` (v3): the conversion of
    ``supplier_net`` into the order's payout currency when it differs (``to_amount`` is what
    the Stripe transfer sent, in the payout currency); None otherwise.
    """

    id_field: ClassVar[str | None] = "payout_id"

    order_id: str
    milestone_id: str
    payout_id: str | None = Field(
        description="the payout this release books; null only for a release published as v1, "
        "whose payout id is its event id"
    )
    currency: CurrencyCode
    gross: PositiveMinorUnits
    platform_fee: NonNegativeMinorUnits
    lien_repayment: NonNegativeMinorUnits
    supplier_net: NonNegativeMinorUnits
    advance_id: str | None
    stripe_transfer_id: str | None  # None when nothing was left to transfer
    held_after: NonNegativeMinorUnits
    payout_fx: FxConversion | None = None


@upcaster("escrow.milestone_released", from_version=1)
def _release_names_its_payout(data: dict[str, Any]) -> dict[str, Any]:
    """v1 carried no payout id and its data cannot give one back (it was the envelope's id,
    which an upcaster does not see): None. Every field v1 had keeps its meaning."""
    return {**data, "payout_id": None}


@upcaster("escrow.milestone_released", from_version=2)
def _release_carries_fx(data: dict[str, Any]) -> dict[str, Any]:
    """v2 releases were paid out in the contract currency: no conversion."""
    return {**data, "payout_fx": None}


@event("escrow.dispute_opened", version=1)
class DisputeOpened(EventModel):
    order_id: str
    dispute_id: str
    milestone_id: str | None  # None: a card chargeback on the whole escrow
    amount: NonNegativeMinorUnits  # the amount frozen
    currency: CurrencyCode
    reason: str
    evidence: list[str] = Field(default_factory=list)


@event("escrow.dispute_resolved", version=1)
class DisputeResolved(EventModel):
    order_id: str
    dispute_id: str
    milestone_id: str | None
    outcome: DisputeOutcome
    release_amount: NonNegativeMinorUnits
    refund_amount: NonNegativeMinorUnits
    currency: CurrencyCode


# The ``reason`` of a refund a lost card chargeback made (the bank kept the money).
CHARGEBACK_REASON = "chargeback"


# Superseded by v2, which carries the refund's conversion. Kept, frozen as published.
@event("escrow.refunded", version=1, superseded=True)
class RefundedV1(EventModel):
    """The event's id is its refund's id (``refund_id``), from which the Stripe refund's
    idempotency key is derived. ``reason`` ``CHARGEBACK_REASON``: money a lost card
    chargeback took from the Stripe balance (no Stripe refund, no wire either)."""

    model_config = ConfigDict(title="Refunded")

    id_field: ClassVar[str | None] = "refund_id"

    order_id: str
    refund_id: str
    payment_id: str | None
    amount: PositiveMinorUnits
    currency: CurrencyCode
    # None for a wire (returned offline by finance) or a chargeback the bank kept
    stripe_refund_id: str | None
    reason: str
    held_after: NonNegativeMinorUnits


@event("escrow.refunded", version=2)
class Refunded(EventModel):
    """The event's id is its refund's id (``refund_id``), from which the Stripe refund's
    idempotency key is derived. ``reason`` ``CHARGEBACK_REASON``: money a lost card
    chargeback took from the Stripe balance (no Stripe refund, no wire either).

    ``amount``/``currency``: the contract amount taken out of held. ``fx`` (v2): when the
    payment was in another currency, the refunded amount converted back into the funding
    currency at the funding's locked conversion (``to_amount`` is what the Stripe refund
    returned, in the funding currency); None otherwise."""

    id_field: ClassVar[str | None] = "refund_id"

    order_id: str
    refund_id: str
    payment_id: str | None
    amount: PositiveMinorUnits
    currency: CurrencyCode
    # None for a wire (returned offline by finance) or a chargeback the bank kept
    stripe_refund_id: str | None
    reason: str
    held_after: NonNegativeMinorUnits
    fx: FxConversion | None = None


@upcaster("escrow.refunded", from_version=1)
def _refund_carries_fx(data: dict[str, Any]) -> dict[str, Any]:
    """v1 refunds were in the contract currency: no conversion."""
    return {**data, "fx": None}


@event("escrow.cancelled", version=1)
class Cancelled(EventModel):
    order_id: str
    reason: str
    refund_amount: NonNegativeMinorUnits
    currency: CurrencyCode


@event("escrow.completed", version=1)
class Completed(EventModel):
    order_id: str
    currency: CurrencyCode
    released_total: NonNegativeMinorUnits
    refunded_total: NonNegativeMinorUnits
    held_after: NonNegativeMinorUnits


@event("escrow.lien_placed", version=1)
class LienPlaced(EventModel):
    order_id: str
    advance_id: str
    amount: PositiveMinorUnits
    currency: CurrencyCode


@event("escrow.lien_refused", version=1)
class LienRefused(EventModel):
    order_id: str
    advance_id: str
    reasons: list[str]


@event("escrow.lien_released", version=1)
class LienReleased(EventModel):
    order_id: str
    advance_id: str
    reason: str  # "repaid" or the reason financing gave
    repaid: NonNegativeMinorUnits  # repaid out of releases over the lien's life


# --- operations alerts: money Stripe moved (or would not move) that escrow could not book -----


@event("escrow.refund_stuck", version=1)
class RefundStuck(EventModel):
    """A refund to the buyer that Stripe refused ``attempts`` times (the settlement timer's
    attempts; ``settings.escrow_refund_stuck_after_attempts``). It stays reserved and the
    timer keeps retrying it under the same idempotency key, but finance must look
    (``GET /v1/operations/stuck-refunds``). Raised once per refund; the event's id is
    ``alert_id``, derived from the refund's id."""

    id_field: ClassVar[str | None] = "alert_id"

    order_id: str
    alert_id: str
    refund_id: str
    payment_id: str | None
    amount: PositiveMinorUnits
    currency: CurrencyCode
    attempts: int = Field(ge=1)
    last_error: str


@event("escrow.external_refund_unbooked", version=1)
class ExternalRefundUnbooked(EventModel):
    """Stripe reported (``charge.refunded``) a refund not made by Tradeflow, for more than
    escrow could book: more than its payment had left to refund (``reason``
    ``invalid_amount``) or than the escrow held free (``insufficient_funds``). The money
    left Stripe; escrow and the ledger did not book it, so the ledger's reconciliation will
    show the refund as an unmatched Stripe line: this record says which order it hit and
    why (``GET /v1/operations/refund-breaks``). Raised once per Stripe refund; the event's
    id is ``alert_id``, derived from the tenant and the Stripe refund id."""

    id_field: ClassVar[str | None] = "alert_id"

    order_id: str
    alert_id: str
    stripe_refund_id: str
    stripe_event_id: str
    payment_id: str
    amount: PositiveMinorUnits
    currency: CurrencyCode
    bookable: NonNegativeMinorUnits  # what escrow could have booked of it at the time
    reason: Literal["invalid_amount", "insufficient_funds"]


# --- disputes as people run them: evidence, response, negotiation, escalation ------------


@event("escrow.dispute_evidence_added", version=1)
class DisputeEvidenceAdded(EventModel):
    """Evidence a party added to an open dispute: text, or a document by reference."""

    order_id: str
    dispute_id: str
    evidence_id: str
    party: DisputeParty
    kind: Literal["text", "document"]
    text: str | None = None
    document_type: str | None = None
    sha256: str | None = Field(None, description="hex SHA-256 of the document's bytes")
    uri: str | None = None


@event("escrow.dispute_responded", version=1)
class DisputeResponded(EventModel):
    order_id: str
    dispute_id: str
    text: str


@event("escrow.dispute_offer_made", version=1)
class DisputeOfferMade(EventModel):
    """A split offered by one party: release_amount + refund_amount = the disputed amount."""

    order_id: str
    dispute_id: str
    offer_id: str
    party: DisputeParty
    release_amount: NonNegativeMinorUnits
    refund_amount: NonNegativeMinorUnits
    currency: CurrencyCode
    counter_to: str | None = None


@event("escrow.dispute_offer_accepted", version=1)
class DisputeOfferAccepted(EventModel):
    """The other party accepted the offer; ``dispute_resolved`` follows with its amounts."""

    order_id: str
    dispute_id: str
    offer_id: str
    party: DisputeParty  # who accepted
    release_amount: NonNegativeMinorUnits
    refund_amount: NonNegativeMinorUnits
    currency: CurrencyCode


@event("escrow.dispute_escalated", version=1)
class DisputeEscalated(EventModel):
    """The dispute goes to the platform's finance staff (``deadline_lapsed`` or a party)."""

    order_id: str
    dispute_id: str
    reason: str
    escalated_by: Literal["deadline", "buyer", "supplier"]


# --- a failed inspection's way out -----------------------------------------------------


@event("escrow.milestone_rejected", version=1)
class MilestoneRejected(EventModel):
    """The buyer rejected a milestone whose inspection failed; the supplier answers by
    ``answer_by`` (else the goods go back for a refund)."""

    order_id: str
    milestone_id: str
    rejection_id: str
    reasons: list[str]
    evidence: list[str] = Field(default_factory=list)
    answer_by: datetime


@event("escrow.rejection_answered", version=1)
class RejectionAnswered(EventModel):
    """The remedy of a rejection, chosen by the supplier or, when it did not answer in time,
    by the deadline (``return``); ``due_by``: when its next step is due."""

    order_id: str
    milestone_id: str
    rejection_id: str
    remedy: RejectionRemedy
    answered_by: Literal["supplier", "deadline"]
    due_by: datetime


@event("escrow.return_shipped", version=1)
class ReturnShipped(EventModel):
    order_id: str
    milestone_id: str
    rejection_id: str
    carrier: str
    tracking: str
    receive_by: datetime  # the supplier confirms receipt by then, else the refund goes ahead


@event("escrow.return_received", version=1)
class ReturnReceived(EventModel):
    """The returned goods are in (or the deadline passed): the refund follows."""

    order_id: str
    milestone_id: str
    rejection_id: str
    confirmed_by: Literal["supplier", "deadline"]
    refund_amount: PositiveMinorUnits
    currency: CurrencyCode


# --- a partial refund agreed outside a dispute -----------------------------------------


@event("escrow.partial_refund_proposed", version=1)
class PartialRefundProposed(EventModel):
    order_id: str
    proposal_id: str
    milestone_id: str
    amount: PositiveMinorUnits
    currency: CurrencyCode
    reason: str
    proposed_by: DisputeParty
    expires_at: datetime


@event("escrow.partial_refund_agreed", version=1)
class PartialRefundAgreed(EventModel):
    """Both parties consented; the refund itself is booked by ``escrow.refunded``."""

    order_id: str
    proposal_id: str
    milestone_id: str
    amount: PositiveMinorUnits
    currency: CurrencyCode
    proposed_by: DisputeParty
    consented_by: DisputeParty
    advance_id: str | None = None  # the order's active lien, if any
    lien_shortfall: NonNegativeMinorUnits = Field(
        0, description="what of the lien the remaining releases can no longer repay"
    )


@event("escrow.partial_refund_closed", version=1)
class PartialRefundClosed(EventModel):
    """A proposal that ended without a refund: declined, withdrawn or expired."""

    order_id: str
    proposal_id: str
    milestone_id: str
    outcome: Literal["declined", "withdrawn", "expired"]


# --- platform gaps: parked deadlines, settled milestones, order updates, abandoned refunds --


@event("escrow.deadline_parked", version=1)
class DeadlineParked(EventModel):
    """A person's deadline whose action escrow kept refusing (e.g. the return's refund while
    a chargeback froze the money): after ``attempts`` firings
    (``settings.escrow_deadline_max_attempts``) the timer gives up and the deadline is parked
    for finance (``GET /v1/operations/parked-deadlines``). Raised once per deadline; the
    event's id is ``alert_id``, derived from the deadline's timer key."""

    id_field: ClassVar[str | None] = "alert_id"

    order_id: str
    alert_id: str
    what: Literal["dispute", "milestone", "refund_proposal"]
    subject: str
    due_at: datetime
    attempts: int = Field(ge=1)
    error_code: str
    last_error: str


@event("escrow.milestone_settled_unpaid", version=1)
class MilestoneSettledUnpaid(EventModel):
    """A lost card chargeback took back money that was to pay this milestone: what the
    escrow no longer holds for it (``unfunded_amount``) will never be paid out nor
    refunded by escrow (the bank returned it to the cardholder; ``escrow.refunded`` with
    reason ``chargeback`` booked it). ``status``: the milestone's after it, ``closed_unpaid``
    when it had nothing left to pay (then the order may complete). Moves no money: the
    ledger posts nothing for it."""

    order_id: str
    milestone_id: str
    unfunded_amount: PositiveMinorUnits
    currency: CurrencyCode
    status: str
    reason: Literal["chargeback_lost"] = "chargeback_lost"


@event("escrow.order_updated", version=1)
class OrderUpdated(EventModel):
    """The platform's own data on an order changed (``PATCH /v1/orders/{id}``): the
    ``metadata`` and ``external_reference`` after the change, and which of them changed.
    The trade itself (schedule, money) is the same; the ledger posts nothing for it."""

    order_id: str
    metadata: dict[str, str] = Field(default_factory=dict)
    external_reference: str | None = None
    changed: list[Literal["metadata", "external_reference"]]


@event("escrow.refund_abandoned", version=1)
class RefundAbandoned(EventModel):
    """Finance gave up a stuck refund at Stripe (``escrow.refund_stuck``) and answered it
    with a typed ``resolution``: ``returned_offline`` (the money went back to the buyer
    another way; the refund is booked without Stripe, by the ``escrow.refunded`` of the
    same decision, which the ledger posts against the bank). ``by``: the finance key;
    ``note``: why. Once per refund; the event's id is ``alert_id``."""

    id_field: ClassVar[str | None] = "alert_id"

    order_id: str
    alert_id: str
    refund_id: str
    amount: PositiveMinorUnits
    currency: CurrencyCode
    resolution: Literal["returned_offline"]
    by: str
    note: str


@event("escrow.refund_break_resolved", version=1)
class RefundBreakResolved(EventModel):
    """Finance worked a refund break (``escrow.external_refund_unbooked``): ``resolution``
    ``booked_in_ledger`` (the ledger's reconciliation break for the same Stripe refund was
    booked there), ``recovered`` (the money came back) or ``written_off``. Escrow's books do
    not change. Once per break; the event's id is ``alert_id``."""

    id_field: ClassVar[str | None] = "alert_id"

    order_id: str
    alert_id: str
    stripe_refund_id: str
    amount: PositiveMinorUnits
    currency: CurrencyCode
    resolution: Literal["booked_in_ledger", "recovered", "written_off"]
    by: str
    note: str
