"""Disputes: the buyer freezes a milestone inside its window; finance resolves it.

A resolution releases to the supplier, refunds the buyer, or splits the disputed amount
exactly (release_amount + refund_amount = the amount, to the minor unit). A card
chargeback (Stripe ``charge.dispute.created``) freezes the whole escrow instead; Stripe
already took that money back, so resolving it as a refund books the refund without a
Stripe call.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from services.escrow.domain.errors import (
    FxQuoteRequired,
    InsufficientFunds,
    InvalidAmount,
    InvalidTransition,
    UnknownDispute,
)
from services.escrow.domain.model import FINAL_MILESTONE, Dispute, Escrow
from services.escrow.domain.payouts import begin_release, release_what_is_due
from services.escrow.domain.refunds import reserve_refund
from services.escrow.domain.rules import (
    Decision,
    check_invariants,
    complete_if_done,
    new_id,
    unpaid,
)
from services.escrow.domain.terms import DEFAULT_DISPUTE_TERMS
from shared.events import EventModel
from shared.events.escrow import (
    CHARGEBACK_REASON,
    DisputeEscalated,
    DisputeOpened,
    DisputeOutcome,
    DisputeResolved,
    MilestoneAccepted,
    MilestoneSettledUnpaid,
)
from shared.fx import FxConversion

# The parties' time to settle a dispute between themselves (evidence, response, offers)
# before it goes to the platform's finance staff.
NEGOTIATION_WINDOW = DEFAULT_DISPUTE_TERMS.negotiation  # an order's own: its dispute_terms


def open_dispute(
    escrow: Escrow, milestone_id: str, reason: str, evidence: Sequence[str], now: datetime
) -> Decision:
    m = escrow.milestone(milestone_id)
    if escrow.closed or m.status != "in_inspection":
        raise InvalidTransition(f"milestone is {m.status} (order {escrow.status}): cannot dispute")
    if m.inspection_ends_at is None or now >= m.inspection_ends_at:
        raise InvalidTransition("the inspection window has ended")
    return freeze_milestone(escrow, milestone_id, reason, evidence, now)


def freeze_milestone(
    escrow: Escrow,
    milestone_id: str,
    reason: str,
    evidence: Sequence[str],
    now: datetime,
    status: str = "open",
) -> Decision:
    """The buyer's dispute of a milestone: what of it is unpaid is frozen, the parties have
    ``NEGOTIATION_WINDOW`` to agree (``status="escalated"``: finance decides at once)."""
    m = escrow.milestone(milestone_id)
    amount = unpaid(escrow, milestone_id)  # less than its amount after a partial refund
    if amount > escrow.available:  # a chargeback (or a dashboard refund) took it already
        raise InsufficientFunds(
            f"only {escrow.available} of the milestone's {amount} is held and free to freeze"
        )
    dispute = Dispute(
        dispute_id=new_id(),
        milestone_id=milestone_id,
        amount=amount,
        reason=reason,
        evidence=tuple(evidence),
        opened_by="buyer",
        opened_at=now,
        respond_by=now + escrow.dispute_terms.negotiation if status == "open" else None,
        status="escalated" if status == "escalated" else "open",
        escalated_at=now if status == "escalated" else None,
        escalation_reason=reason if status == "escalated" else None,
    )
    escrow = escrow.model_copy(update={"disputes": (*escrow.disputes, dispute)})
    escrow = escrow.with_milestone(m.model_copy(update={"status": "disputed", "due_by": None}))
    events: list[EventModel] = [_opened(escrow, dispute)]
    if dispute.status == "escalated":  # announced as every escalation is
        events.append(
            DisputeEscalated(
                order_id=escrow.order_id,
                dispute_id=dispute.dispute_id,
                reason=reason,
                escalated_by="deadline",
            )
        )
    return check_invariants(escrow), events


def open_chargeback(
    escrow: Escrow,
    stripe_dispute_id: str,
    amount: int,
    reason: str,
    payment_id: str | None = None,
    now: datetime | None = None,
    claimed_fx: FxConversion | None = None,
) -> Decision:
    """``amount``: the contract amount the bank claimed; ``claimed_fx``: for a payment in
    the funding currency, the claim as Stripe withdrew it (``funding_share``)."""
    if any(d.stripe_dispute_id == stripe_dispute_id for d in escrow.disputes):
        return escrow, []
    paid = next((p.amount for p in escrow.payments if p.payment_id == payment_id), None)
    if amount <= 0 or (paid is not None and amount > paid):
        raise InvalidAmount(f"a chargeback of {amount} on a payment of {paid}")
    frozen = min(amount, escrow.available)
    dispute = Dispute(
        dispute_id=new_id(),
        milestone_id=None,
        amount=frozen,
        reason=f"chargeback: {reason}",
        stripe_dispute_id=stripe_dispute_id,
        payment_id=payment_id,
        opened_at=now,
        claimed=amount,
        claimed_fx=claimed_fx,
    )
    escrow = escrow.model_copy(update={"disputes": (*escrow.disputes, dispute)})
    return check_invariants(escrow), [_opened(escrow, dispute)]


# How Stripe's closing status of a chargeback resolves it. Won (or an inquiry closed
# without a chargeback): the money stays with the platform, the freeze ends. Lost: the bank
# kept what Stripe debited when the chargeback opened, so the refund is booked without a
# Stripe call.
CLOSED_OUTCOMES: dict[str, DisputeOutcome] = {
    "won": "release",
    "warning_closed": "release",
    "lost": "refund",
}


def close_chargeback(
    escrow: Escrow, stripe_dispute_id: str, stripe_status: str, now: datetime | None = None
) -> Decision:
    """Stripe closed a chargeback (``charge.dispute.closed``): resolve it as Stripe did and
    record Stripe's status on it. Closing it again is no change; a chargeback finance
    already resolved the same way only records the status; one finance resolved the other
    way is refused (the money did not go where escrow booked it: finance must look)."""
    outcome = CLOSED_OUTCOMES.get(stripe_status)
    if outcome is None:
        raise InvalidTransition(f"chargeback {stripe_dispute_id} closed as {stripe_status!r}")
    dispute = next(d for d in escrow.disputes if d.stripe_dispute_id == stripe_dispute_id)
    if dispute.stripe_status is not None:
        return escrow, []  # closed once already
    events: list[EventModel] = []
    if dispute.status == "open":
        escrow, events = resolve_dispute(escrow, dispute.dispute_id, outcome, now=now)
    elif dispute.outcome != outcome:
        raise InvalidTransition(
            f"chargeback {stripe_dispute_id} was resolved as {dispute.outcome}, "
            f"Stripe closed it as {stripe_status}"
        )
    closed = next(d for d in escrow.disputes if d.dispute_id == dispute.dispute_id)
    closed = closed.model_copy(update={"stripe_status": stripe_status})
    disputes = tuple(closed if d.dispute_id == closed.dispute_id else d for d in escrow.disputes)
    return escrow.model_copy(update={"disputes": disputes}), events


def _opened(escrow: Escrow, d: Dispute) -> DisputeOpened:
    return DisputeOpened(
        order_id=escrow.order_id,
        dispute_id=d.dispute_id,
        milestone_id=d.milestone_id,
        amount=d.amount,
        currency=escrow.currency,
        reason=d.reason,
        evidence=list(d.evidence),
    )


def resolve_dispute(
    escrow: Escrow,
    dispute_id: str,
    outcome: DisputeOutcome,
    release_amount: int | None = None,
    now: datetime | None = None,
    by: Literal["agreement", "finance"] = "finance",
) -> Decision:
    dispute = next((d for d in escrow.disputes if d.dispute_id == dispute_id), None)
    if dispute is None:
        raise UnknownDispute(f"dispute {dispute_id} is not part of order {escrow.order_id}")
    if not dispute.is_open:
        raise InvalidTransition("the dispute is already resolved")
    release, refund = _amounts(dispute.amount, outcome, release_amount)
    offers = tuple(
        o.model_copy(update={"status": "lapsed"}) if o.status == "open" else o
        for o in dispute.offers
    )
    resolved = dispute.model_copy(
        update={
            "status": "resolved",
            "outcome": outcome,
            "release_amount": release,
            "refund_amount": refund,
            "resolved_by": by,
            "resolved_at": now,
            "offers": offers,
        }
    )
    disputes = tuple(resolved if d.dispute_id == dispute_id else d for d in escrow.disputes)
    escrow = escrow.model_copy(update={"disputes": disputes})
    events: list[EventModel] = [
        DisputeResolved(
            order_id=escrow.order_id,
            dispute_id=dispute_id,
            milestone_id=dispute.milestone_id,
            outcome=outcome,
            release_amount=release,
            refund_amount=refund,
            currency=escrow.currency,
        )
    ]
    mid = dispute.milestone_id
    if mid is None:  # chargeback: Stripe already returned the refunded part to the cardholder
        if refund:
            escrow, booked = reserve_refund(
                escrow,
                refund,
                CHARGEBACK_REASON,
                None,
                via_stripe=False,
                payment_id=dispute.payment_id,
                chargeback=resolved,
            )
            events += booked
        if outcome == "refund":
            escrow, taken = _kept_by_the_bank(escrow, resolved, now)
            events += taken
            escrow, unfunded = settle_unfunded(escrow)
            events += unfunded
        escrow, completed = complete_if_done(check_invariants(release_what_is_due(escrow)))
        return escrow, events + completed
    if release:
        m = escrow.milestone(mid)
        escrow = escrow.with_milestone(m.model_copy(update={"status": "accepted"}))
        events.append(
            MilestoneAccepted(
                order_id=escrow.order_id, milestone_id=mid, accepted_by="dispute_resolution"
            )
        )
        # The "milestone" FX policy without a rate: accepted, released with its quote later.
        with contextlib.suppress(FxQuoteRequired):
            escrow, _ = begin_release(escrow, mid, gross=release)
    if refund:
        escrow, booked = reserve_refund(escrow, refund, f"dispute {dispute_id}", mid)
        events += booked
    # A refund booked at once (wire money, returned offline) may settle the last milestone.
    escrow, completed = complete_if_done(check_invariants(escrow))
    return escrow, events + completed


def _kept_by_the_bank(escrow: Escrow, chargeback: Dispute, now: datetime | None) -> Decision:
    """A lost chargeback took its whole claim from the platform's Stripe balance, also what
    of it open milestone disputes had frozen (the chargeback could only freeze what was
    free). That money is gone: book it as refunded from those disputes, oldest first, so
    it can never be released to the supplier as well. A dispute left with nothing is
    resolved as a refund (``resolved_by: chargeback``); one left with less keeps going on
    what remains (its open offers, made for the old amount, lapse)."""
    short = (chargeback.claimed or chargeback.amount) - chargeback.amount
    events: list[EventModel] = []
    for open_one in [d for d in escrow.disputes if d.milestone_id is not None and d.is_open]:
        if short <= 0:
            break
        d = escrow.dispute(open_one.dispute_id)
        mid = d.milestone_id
        assert mid is not None
        cut = min(short, d.amount)
        short -= cut
        offers = tuple(
            o.model_copy(update={"status": "lapsed"}) if o.status == "open" else o for o in d.offers
        )
        left = d.amount - cut
        if left == 0:
            update: dict[str, object] = {
                "status": "resolved",
                "outcome": "refund",
                "release_amount": 0,
                "refund_amount": cut,
                "resolved_by": "chargeback",
                "resolved_at": now,
            }
        else:
            update = {"amount": left, "status": "open" if d.status == "negotiating" else d.status}
        escrow = escrow.with_dispute(d.model_copy(update={**update, "offers": offers}))
        escrow, booked = reserve_refund(
            escrow,
            cut,
            CHARGEBACK_REASON,
            mid,
            via_stripe=False,
            payment_id=chargeback.payment_id,
            chargeback=chargeback,
        )
        if left:  # the rest of the milestone is still under dispute
            m = escrow.milestone(mid)
            escrow = escrow.with_milestone(m.model_copy(update={"status": "disputed"}))
        else:
            events.append(
                DisputeResolved(
                    order_id=escrow.order_id,
                    dispute_id=d.dispute_id,
                    milestone_id=mid,
                    outcome="refund",
                    release_amount=0,
                    refund_amount=cut,
                    currency=escrow.currency,
                )
            )
        events += booked
    return check_invariants(escrow), events


def settle_unfunded(escrow: Escrow) -> Decision:
    """After a lost chargeback: the milestones still to be paid may now need more than the
    escrow has left for them (the bank took it back). Nothing would ever pay that part: a
    release is refused for lack of funds and the order never completes. Settle it, latest
    milestone first (the order's money pays its schedule in order): what cannot be covered
    is the milestone's ``unfunded_amount``; one left with nothing to pay closes
    (``closed_unpaid``, or ``released``/``refunded`` by what it did pay), with
    ``escrow.milestone_settled_unpaid``. Milestones under an open dispute keep their frozen
    money and are not touched."""
    disputed = {d.milestone_id for d in escrow.disputes if d.is_open and d.milestone_id}
    waiting = [
        m
        for m in escrow.milestones
        if m.status not in FINAL_MILESTONE and m.milestone_id not in disputed
    ]
    short = sum(unpaid(escrow, m.milestone_id) for m in waiting) - escrow.available
    events: list[EventModel] = []
    for m in reversed(waiting):
        if short <= 0:
            break
        cut = min(short, unpaid(escrow, m.milestone_id))
        if cut <= 0:
            continue
        short -= cut
        m = m.model_copy(update={"unfunded_amount": m.unfunded_amount + cut})
        escrow = escrow.with_milestone(m)
        if unpaid(escrow, m.milestone_id) == 0 and not _in_flight(escrow, m.milestone_id):
            status = (
                "released" if m.released_amount else "refunded" if m.refunded_amount
                else "closed_unpaid"
            )  # fmt: skip
            rejections = m.rejections
            if m.rejection is not None:  # its rejection ends where it stood
                closed = m.rejection.model_copy(update={"status": "closed"})
                rejections = (*m.rejections[:-1], closed)
            update = {"status": status, "due_by": None, "rejections": rejections}
            m = m.model_copy(update=update)
            escrow = escrow.with_milestone(m)
        events.append(
            MilestoneSettledUnpaid(
                order_id=escrow.order_id,
                milestone_id=m.milestone_id,
                unfunded_amount=cut,
                currency=escrow.currency,
                status=m.status,
                reason="chargeback_lost",
            )
        )
    return check_invariants(escrow), events


def _in_flight(escrow: Escrow, milestone_id: str) -> bool:
    return any(
        p.milestone_id == milestone_id and p.status == "pending" for p in escrow.payouts
    ) or any(r.milestone_id == milestone_id and r.status == "pending" for r in escrow.refunds)


def _amounts(amount: int, outcome: DisputeOutcome, release_amount: int | None) -> tuple[int, int]:
    if outcome != "split" and release_amount is not None:
        raise InvalidAmount(f"release_amount is only for a split, not for a {outcome}")
    if outcome == "release":
        return amount, 0
    if outcome == "refund":
        return 0, amount
    if release_amount is None or type(release_amount) is not int:
        raise InvalidAmount("a split needs release_amount in minor units")
    if not 0 < release_amount < amount:
        raise InvalidAmount(f"a split's release_amount must be between 1 and {amount - 1}")
    return release_amount, amount - release_amount
