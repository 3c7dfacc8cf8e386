"""Rules shared by the escrow commands: ids, the fee split, invariants, derived statuses.

Rounding, written down once: the platform fee is ``gross * bps / 10_000`` rounded half-up
to the minor unit (shared.money.apply_rate) plus the fixed fee, capped at the gross. A lien
is repaid from what remains after the fee, up to its outstanding amount; the supplier gets
the rest. So gross = platform_fee + lien_repayment + supplier_net, always, to the unit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from uuid6 import uuid7

from services.escrow.domain.errors import InvariantViolation
from services.escrow.domain.model import FINAL_MILESTONE, Escrow, Lien
from shared.events import EventModel
from shared.events.escrow import Completed, InspectionStarted
from shared.money import apply_rate

Decision = tuple[Escrow, list[EventModel]]
# Milestones nothing has decided about yet (a partial refund leaves them there).
BEFORE_ACCEPTANCE = frozenset({"awaiting_evidence", "in_inspection"})


def new_id() -> str:
    return str(uuid7())


@dataclass(frozen=True)
class ReleaseSplit:
    gross: int
    platform_fee: int
    lien_repayment: int
    supplier_net: int
    advance_id: str | None


def split_release(gross: int, fee_bps: int, fee_fixed: int, lien: Lien | None) -> ReleaseSplit:
    fee = min(gross, apply_rate(gross, fee_bps, bps=True) + fee_fixed)
    outstanding = lien.outstanding if lien is not None else 0
    repayment = min(outstanding, gross - fee)
    advance_id = lien.advance_id if lien is not None and repayment > 0 else None
    return ReleaseSplit(gross, fee, repayment, gross - fee - repayment, advance_id)


def check_invariants(escrow: Escrow) -> Escrow:
    """Refuse any state where the escrow would hold less than nothing, or promise or freeze
    more than it holds."""
    if escrow.held < 0:
        raise InvariantViolation(
            f"held = funded {escrow.funded} - released {escrow.released} - refunded "
            f"{escrow.refunded} = {escrow.held} < 0"
        )
    if escrow.reserved > escrow.held:
        raise InvariantViolation(f"reserved {escrow.reserved} exceeds held {escrow.held}")
    if escrow.available < 0:
        raise InvariantViolation(
            f"reserved {escrow.reserved} and frozen {escrow.frozen} exceed held {escrow.held}"
        )
    for m in escrow.milestones:
        if unpaid(escrow, m.milestone_id) < 0:
            raise InvariantViolation(f"milestone {m.milestone_id} paid out more than its amount")
    return escrow


def unpaid(escrow: Escrow, milestone_id: str) -> int:
    """What of a milestone is neither paid out nor promised to a payout or refund in flight."""
    m = escrow.milestone(milestone_id)
    in_flight = sum(
        p.gross for p in escrow.payouts if p.milestone_id == milestone_id and p.status == "pending"
    ) + sum(
        r.amount for r in escrow.refunds if r.milestone_id == milestone_id and r.status == "pending"
    )
    return m.amount - m.released_amount - m.refunded_amount - m.unfunded_amount - in_flight


def funding_status(escrow: Escrow) -> Escrow:
    if escrow.closed:
        return escrow
    if escrow.funded >= escrow.total:
        status = "funded"
    elif escrow.funded > 0:
        status = "partially_funded"
    else:
        status = "awaiting_funding"
    return escrow.model_copy(update={"status": status})


def open_inspections(escrow: Escrow, now: datetime) -> Decision:
    """Start the inspection window of every milestone whose evidence is in, once fully funded."""
    if not escrow.fully_funded or escrow.closed:
        return escrow, []
    events: list[EventModel] = []
    for m in escrow.milestones:
        if m.status == "awaiting_evidence" and m.evidence_complete:
            ends_at = now + timedelta(seconds=m.inspection_window_seconds)
            escrow = escrow.with_milestone(
                m.model_copy(update={"status": "in_inspection", "inspection_ends_at": ends_at})
            )
            events.append(
                InspectionStarted(
                    order_id=escrow.order_id, milestone_id=m.milestone_id, ends_at=ends_at
                )
            )
    return escrow, events


def complete_if_done(escrow: Escrow) -> Decision:
    """An order whose every milestone is settled, with nothing in flight, is completed."""
    settled = all(m.status in FINAL_MILESTONE for m in escrow.milestones)
    if escrow.closed or not settled or escrow.reserved:
        return escrow, []
    done = escrow.model_copy(update={"status": "completed"})
    event = Completed(
        order_id=done.order_id,
        currency=done.currency,
        released_total=done.released,
        refunded_total=done.refunded,
        held_after=done.held,
    )
    return done, [event]


def settle_milestone(escrow: Escrow, milestone_id: str) -> Escrow:
    """A milestone's status once a payout or refund of it completed (or was reserved).

    A milestone still before acceptance (a partial refund agreed while it awaits evidence or
    is in inspection) keeps its status: the rest of it is still to be decided; so does one
    under an open dispute or rejection (the refund completed after it began), and an
    accepted one with some of it still unpaid and nothing in flight (its release is to be
    retried)."""
    m = escrow.milestone(milestone_id)
    if m.status in BEFORE_ACCEPTANCE or m.rejection is not None:
        return escrow
    if any(d.milestone_id == milestone_id and d.is_open for d in escrow.disputes):
        return escrow  # a refund agreed before the dispute completed: the dispute goes on
    if any(p.milestone_id == milestone_id and p.status == "pending" for p in escrow.payouts):
        status = "releasing"
    elif any(r.milestone_id == milestone_id and r.status == "pending" for r in escrow.refunds):
        status = "refunding"
    elif m.status == "accepted" and unpaid(escrow, milestone_id) > 0:
        # Its release was refused at Stripe (``abort_payout``) and awaits a retry: a refund
        # of another part of it (a split's, a partial refund's) completing meanwhile does
        # not settle it.
        return escrow
    elif m.released_amount > 0:
        status = "released"
    elif m.refunded_amount > 0:
        status = "refunded"
    else:
        return escrow
    return escrow.with_milestone(m.model_copy(update={"status": status}))
