"""A failed inspection's way out: the buyer rejects, the supplier picks the remedy.

Before this, a milestone whose inspection failed stayed ``awaiting_evidence``, a dispute
was refused and cancelling was blocked by the shipment evidence: the buyer's only move was
to accept, which released the money. Now:

```
awaiting_evidence|in_inspection (latest inspection failed)
  ──buyer rejects, remedy "dispute"──▶ disputed (negotiation as any dispute)
  ──buyer rejects, remedy "return"──▶ rejected            (supplier answers in 5 days)
rejected ──supplier: return──▶ returning                   (buyer ships back in 14 days)
rejected ──supplier: reinspection──▶ reinspection          (a new report in 10 days)
rejected ──supplier: replacement──▶ replacing              (replacement evidence in 30 days)
rejected ──deadline──▶ returning
returning ──buyer: return shipped (carrier, tracking)──▶ return_shipped (receipt in 14 days)
returning ──deadline──▶ disputed, escalated to finance (the buyer did not send the goods)
return_shipped ──supplier confirms receipt | deadline──▶ refunding ▶ refunded (Stripe refund)
reinspection ──inspection report──▶ in_inspection (passed) | awaiting_evidence (failed)
replacing ──the milestone's evidence again──▶ in_inspection | awaiting_evidence (failed)
reinspection|replacing ──deadline──▶ returning
```
The buyer may still accept from ``rejected``, ``returning``, ``reinspection`` and
``replacing`` (keeping the goods), which releases as usual. Each step's deadline is the
milestone's ``due_by``, fired by the durable deadline timer.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from services.escrow.domain.disputes import freeze_milestone
from services.escrow.domain.errors import InsufficientFunds, InvalidTransition
from services.escrow.domain.model import Escrow, Milestone
from services.escrow.domain.records import DocumentRef, Rejection
from services.escrow.domain.refunds import reserve_refund
from services.escrow.domain.rules import Decision, check_invariants, new_id, unpaid
from services.escrow.domain.terms import DEFAULT_DISPUTE_TERMS
from shared.events import EventModel
from shared.events.escrow import (
    MilestoneRejected,
    RejectionAnswered,
    RejectionRemedy,
    ReturnReceived,
    ReturnShipped,
)

# The defaults; an order's own are ``escrow.dispute_terms`` (the tenant's, domain/terms.py).
SUPPLIER_ANSWER = DEFAULT_DISPUTE_TERMS.supplier_answer
RETURN_SHIPPING = DEFAULT_DISPUTE_TERMS.return_shipping
RETURN_RECEIPT = DEFAULT_DISPUTE_TERMS.return_receipt
REINSPECTION = DEFAULT_DISPUTE_TERMS.reinspection
REPLACEMENT = DEFAULT_DISPUTE_TERMS.replacement


def _next_step(escrow: Escrow, remedy: RejectionRemedy) -> tuple[str, timedelta]:
    terms = escrow.dispute_terms
    return {
        "return": ("returning", terms.return_shipping),
        "reinspection": ("reinspection", terms.reinspection),
        "replacement": ("replacing", terms.replacement),
    }[remedy]


REJECTABLE = ("awaiting_evidence", "in_inspection")
# Where the buyer may still change its mind and accept the goods.
REJECTION_ACCEPTABLE = ("rejected", "returning", "reinspection", "replacing")


def _with_rejection(m: Milestone, rejection: Rejection, **changes: object) -> Milestone:
    rejections = (*m.rejections[:-1], rejection) if m.rejection else (*m.rejections, rejection)
    return m.model_copy(update={"rejections": rejections, **changes})


def reject_milestone(
    escrow: Escrow,
    milestone_id: str,
    remedy: str,
    reasons: Sequence[str],
    evidence: Sequence[str],
    actor: str,
    now: datetime,
) -> Decision:
    """The buyer rejects a milestone whose latest inspection report failed: a dispute
    (``remedy="dispute"``) or the return of the goods for a refund (``"return"``)."""
    m = escrow.milestone(milestone_id)
    if escrow.closed or m.status not in REJECTABLE:
        raise InvalidTransition(f"milestone is {m.status} (order {escrow.status}): cannot reject")
    if not m.inspection_failed:
        raise InvalidTransition("only a milestone whose latest inspection failed is rejected")
    if not escrow.fully_funded:
        raise InvalidTransition("the escrow is not fully funded yet")
    if not reasons:
        raise InvalidTransition("a rejection gives its reasons")
    dispute = remedy == "dispute"
    rejection = Rejection(
        rejection_id=new_id(),
        reasons=tuple(reasons),
        evidence=tuple(evidence),
        rejected_by=actor,
        rejected_at=now,
        status="closed" if dispute else "open",
    )
    terms = escrow.dispute_terms
    answer_by = now + (terms.negotiation if dispute else terms.supplier_answer)
    m = m.model_copy(update={"rejections": (*m.rejections, rejection)})
    if not dispute:
        m = m.model_copy(update={"status": "rejected", "due_by": answer_by})
    escrow = escrow.with_milestone(m)
    events: list[EventModel] = [
        MilestoneRejected(
            order_id=escrow.order_id,
            milestone_id=milestone_id,
            rejection_id=rejection.rejection_id,
            reasons=list(reasons),
            evidence=list(evidence),
            answer_by=answer_by,
        )
    ]
    if dispute:
        reason = "inspection failed: " + "; ".join(reasons)
        escrow, opened = freeze_milestone(escrow, milestone_id, reason, evidence, now)
        events += opened
    return check_invariants(escrow), events


def answer_rejection(
    escrow: Escrow,
    milestone_id: str,
    remedy: RejectionRemedy,
    now: datetime,
    actor: str,
    by: str = "supplier",
) -> Decision:
    """The supplier's remedy (or the deadline's: ``return``)."""
    m = escrow.milestone(milestone_id)
    rejection = m.rejection
    if escrow.closed or m.status != "rejected" or rejection is None:
        raise InvalidTransition(f"milestone is {m.status}: no rejection awaits an answer")
    status, within = _next_step(escrow, remedy)
    due_by = now + within
    evidence = m.evidence
    if remedy == "replacement":  # the goods in hand no longer count
        evidence = tuple(e.model_copy(update={"void": True}) for e in m.evidence)
    answered = rejection.model_copy(update={"remedy": remedy, "answered_by": actor})
    m = _with_rejection(m, answered, status=status, due_by=due_by, evidence=evidence)
    escrow = escrow.with_milestone(m)
    return escrow, [
        RejectionAnswered(
            order_id=escrow.order_id,
            milestone_id=milestone_id,
            rejection_id=rejection.rejection_id,
            remedy=remedy,
            answered_by="deadline" if by == "deadline" else "supplier",
            due_by=due_by,
        )
    ]


def ship_return(
    escrow: Escrow,
    milestone_id: str,
    carrier: str,
    tracking: str,
    document: DocumentRef | None,
    now: datetime,
) -> Decision:
    """The buyer sent the goods back (carrier and tracking: the evidence of the return)."""
    m = escrow.milestone(milestone_id)
    rejection = m.rejection
    if escrow.closed or m.status != "returning" or rejection is None:
        raise InvalidTransition(f"milestone is {m.status}: no return is expected")
    receive_by = now + escrow.dispute_terms.return_receipt
    shipped = rejection.model_copy(
        update={"return_carrier": carrier, "return_tracking": tracking, "return_document": document}
    )
    escrow = escrow.with_milestone(
        _with_rejection(m, shipped, status="return_shipped", due_by=receive_by)
    )
    return escrow, [
        ReturnShipped(
            order_id=escrow.order_id,
            milestone_id=milestone_id,
            rejection_id=rejection.rejection_id,
            carrier=carrier,
            tracking=tracking,
            receive_by=receive_by,
        )
    ]


def confirm_return(escrow: Escrow, milestone_id: str, by: str = "supplier") -> Decision:
    """The goods are back (the supplier says so, or its time to say otherwise passed):
    what of the milestone is unpaid is refunded to the buyer through Stripe."""
    m = escrow.milestone(milestone_id)
    rejection = m.rejection
    if escrow.closed or m.status != "return_shipped" or rejection is None:
        raise InvalidTransition(f"milestone is {m.status}: no returned goods to confirm")
    amount = unpaid(escrow, milestone_id)
    if amount > escrow.available:
        raise InsufficientFunds(f"a refund of {amount} exceeds the available {escrow.available}")
    closed = rejection.model_copy(update={"status": "closed"})
    escrow = escrow.with_milestone(_with_rejection(m, closed, due_by=None))
    received = ReturnReceived(
        order_id=escrow.order_id,
        milestone_id=milestone_id,
        rejection_id=rejection.rejection_id,
        confirmed_by="deadline" if by == "deadline" else "supplier",
        refund_amount=amount,
        currency=escrow.currency,
    )
    reason = f"returned: rejection {rejection.rejection_id}"
    escrow, refunded = reserve_refund(escrow, amount, reason, milestone_id)
    return escrow, [received, *refunded]


def after_evidence(escrow: Escrow, milestone_id: str) -> Escrow:
    """New evidence during a re-inspection or replacement: a failed report hands the goods
    back to the buyer's judgement (``awaiting_evidence``, where it may reject again); complete
    evidence ends the rejection (the inspection window opens as usual)."""
    m = escrow.milestone(milestone_id)
    rejection = m.rejection
    if m.status not in ("reinspection", "replacing") or rejection is None:
        return escrow
    latest = m.evidence[-1] if m.evidence else None
    failed = latest is not None and latest.kind == "inspection" and not latest.satisfies
    passed = latest is not None and latest.kind == "inspection" and latest.satisfies
    done = failed or (passed if m.status == "reinspection" else m.evidence_complete)
    if not done:
        return escrow
    closed = rejection.model_copy(update={"status": "closed"})
    return escrow.with_milestone(
        _with_rejection(m, closed, status="awaiting_evidence", due_by=None)
    )


def close_rejection(m: Milestone) -> Milestone:
    """The buyer accepted after all: the rejection ends where it stood."""
    rejection = m.rejection
    if rejection is None:
        return m
    return _with_rejection(m, rejection.model_copy(update={"status": "closed"}), due_by=None)


def rejection_lapsed(escrow: Escrow, milestone_id: str, now: datetime, actor: str) -> Decision:
    """The deadline timer of the milestone's current step (a no-op if it moved on)."""
    m = escrow.milestone(milestone_id)
    rejection = m.rejection
    if escrow.closed or m.due_by is None or now < m.due_by or rejection is None:
        return escrow, []
    if m.status == "rejected":
        return answer_rejection(escrow, milestone_id, "return", now, actor, by="deadline")
    if m.status in ("reinspection", "replacing"):
        m = _with_rejection(m, rejection, status="rejected")
        escrow = escrow.with_milestone(m)
        return answer_rejection(escrow, milestone_id, "return", now, actor, by="deadline")
    if m.status == "return_shipped":
        return confirm_return(escrow, milestone_id, by="deadline")
    if m.status == "returning":  # the buyer kept the goods: finance decides
        closed = rejection.model_copy(update={"status": "closed"})
        escrow = escrow.with_milestone(_with_rejection(m, closed, due_by=None))
        reason = "the rejected goods were not returned in time"
        return freeze_milestone(escrow, milestone_id, reason, (), now, status="escalated")
    return escrow, []
