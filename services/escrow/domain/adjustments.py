"""A partial refund agreed outside a dispute: one party proposes, the other consents.

"The goods came a week late; we agree 1,250.00 off the delivery milestone." The proposal
names a milestone not yet accepted (``awaiting_evidence`` or ``in_inspection``) and an
amount below what of it is unpaid (all of it is a rejection's or a dispute's business).
The other party consents (the refund is reserved and made through Stripe, exact to the
minor unit, like every refund; the milestone keeps its status and later releases only the
rest), declines, or lets it expire (``PROPOSAL_LIFETIME``); the proposer may withdraw it.
One open proposal per milestone.

A lien on the order keeps its priority on what is still released; what the refund took
from the releases that were to repay it shows as the lien's shortfall
(``liens.lien_shortfall``), which financing turns into recourse on the supplier when it
reads ``escrow.refunded``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from services.escrow.domain.errors import (
    InsufficientFunds,
    InvalidAmount,
    InvalidTransition,
    UnknownProposal,
    WrongParty,
)
from services.escrow.domain.liens import lien_shortfall
from services.escrow.domain.model import Escrow
from services.escrow.domain.records import RefundProposal
from services.escrow.domain.refunds import reserve_refund
from services.escrow.domain.rules import (
    BEFORE_ACCEPTANCE,
    Decision,
    check_invariants,
    new_id,
    unpaid,
)
from services.escrow.domain.terms import DEFAULT_DISPUTE_TERMS
from shared.events import EventModel
from shared.events.escrow import (
    DisputeParty,
    PartialRefundAgreed,
    PartialRefundClosed,
    PartialRefundProposed,
)

PROPOSAL_LIFETIME = DEFAULT_DISPUTE_TERMS.refund_proposal  # an order's own: its dispute_terms


def proposal(escrow: Escrow, proposal_id: str) -> RefundProposal:
    found = next((p for p in escrow.refund_proposals if p.proposal_id == proposal_id), None)
    if found is None:
        raise UnknownProposal(
            f"partial refund {proposal_id} is not part of order {escrow.order_id}"
        )
    return found


def _replace(escrow: Escrow, p: RefundProposal) -> Escrow:
    proposals = tuple(p if q.proposal_id == p.proposal_id else q for q in escrow.refund_proposals)
    return escrow.model_copy(update={"refund_proposals": proposals})


def _refundable(escrow: Escrow, milestone_id: str, amount: int) -> None:
    m = escrow.milestone(milestone_id)
    if escrow.closed or m.status not in BEFORE_ACCEPTANCE:
        raise InvalidTransition(
            f"milestone is {m.status} (order {escrow.status}): no partial refund now"
        )
    if type(amount) is not int or amount <= 0:
        raise InvalidAmount("a partial refund is a positive integer of minor units")
    left = unpaid(escrow, milestone_id)
    if amount >= left:
        raise InvalidAmount(f"a partial refund must be below the milestone's unpaid {left}")
    if amount > escrow.available:
        raise InsufficientFunds(f"a refund of {amount} exceeds the available {escrow.available}")


def propose_partial_refund(
    escrow: Escrow,
    milestone_id: str,
    amount: int,
    reason: str,
    party: DisputeParty,
    actor: str,
    now: datetime,
) -> Decision:
    _refundable(escrow, milestone_id, amount)
    if any(p.milestone_id == milestone_id and p.status == "open" for p in escrow.refund_proposals):
        raise InvalidTransition("a partial refund of this milestone is already proposed")
    p = RefundProposal(
        proposal_id=new_id(),
        milestone_id=milestone_id,
        amount=amount,
        reason=reason,
        proposed_party=party,
        proposed_by=actor,
        proposed_at=now,
        expires_at=now + escrow.dispute_terms.refund_proposal,
    )
    escrow = escrow.model_copy(update={"refund_proposals": (*escrow.refund_proposals, p)})
    return escrow, [
        PartialRefundProposed(
            order_id=escrow.order_id,
            proposal_id=p.proposal_id,
            milestone_id=milestone_id,
            amount=amount,
            currency=escrow.currency,
            reason=reason,
            proposed_by=party,
            expires_at=p.expires_at,
        )
    ]


def _open(escrow: Escrow, proposal_id: str, now: datetime) -> RefundProposal:
    p = proposal(escrow, proposal_id)
    if p.status != "open" or now >= p.expires_at:
        state = p.status if p.status != "open" else "expired"
        raise InvalidTransition(f"the partial refund is {state}")
    return p


def consent_partial_refund(
    escrow: Escrow, proposal_id: str, party: DisputeParty, actor: str, now: datetime
) -> Decision:
    """The other party consents: the refund is reserved (Stripe refunds it), to the unit."""
    p = _open(escrow, proposal_id, now)
    if party == p.proposed_party:
        raise WrongParty("the other party consents to a proposal, not its proposer")
    _refundable(escrow, p.milestone_id, p.amount)
    before = {r.refund_id for r in escrow.refunds}
    escrow, refunded = reserve_refund(
        escrow, p.amount, f"partial refund {proposal_id}: {p.reason}", p.milestone_id
    )
    refund_ids = tuple(r.refund_id for r in escrow.refunds if r.refund_id not in before)
    agreed = p.model_copy(
        update={
            "status": "agreed",
            "answered_by": actor,
            "answered_at": now,
            "refund_ids": refund_ids,
        }
    )
    escrow = check_invariants(_replace(escrow, agreed))
    events: list[EventModel] = [
        PartialRefundAgreed(
            order_id=escrow.order_id,
            proposal_id=proposal_id,
            milestone_id=p.milestone_id,
            amount=p.amount,
            currency=escrow.currency,
            proposed_by=p.proposed_party,
            consented_by=party,
            advance_id=escrow.lien.advance_id if escrow.lien and escrow.lien.outstanding else None,
            lien_shortfall=lien_shortfall(escrow),
        ),
        *refunded,
    ]
    return escrow, events


def close_partial_refund(
    escrow: Escrow,
    proposal_id: str,
    party: DisputeParty,
    outcome: Literal["declined", "withdrawn"],
    actor: str,
    now: datetime,
) -> Decision:
    """Declined by the other party, or withdrawn by its proposer."""
    p = _open(escrow, proposal_id, now)
    if (outcome == "withdrawn") != (party == p.proposed_party):
        raise WrongParty("the proposer withdraws a proposal; the other party declines it")
    closed = p.model_copy(update={"status": outcome, "answered_by": actor, "answered_at": now})
    escrow = _replace(escrow, closed)
    return escrow, [
        PartialRefundClosed(
            order_id=escrow.order_id,
            proposal_id=proposal_id,
            milestone_id=p.milestone_id,
            outcome=outcome,
        )
    ]


def proposal_lapsed(escrow: Escrow, proposal_id: str, now: datetime) -> Decision:
    """The expiry timer: an open proposal past its time expires (else no-op)."""
    p = next((q for q in escrow.refund_proposals if q.proposal_id == proposal_id), None)
    if p is None or p.status != "open" or now < p.expires_at:
        return escrow, []
    escrow = _replace(escrow, p.model_copy(update={"status": "expired", "answered_at": now}))
    return escrow, [
        PartialRefundClosed(
            order_id=escrow.order_id,
            proposal_id=proposal_id,
            milestone_id=p.milestone_id,
            outcome="expired",
        )
    ]
