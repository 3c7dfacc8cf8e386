"""Milestones: typed evidence, the inspection window, acceptance by the buyer or by time."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.escrow.domain.errors import InvalidTransition
from services.escrow.domain.model import Escrow, Evidence
from services.escrow.domain.rejections import REJECTION_ACCEPTABLE, after_evidence, close_rejection
from services.escrow.domain.rules import Decision, new_id, open_inspections
from shared.events import EventModel
from shared.events.escrow import AcceptedBy, EvidenceKind, EvidenceSubmitted, MilestoneAccepted

EVIDENCE_OPEN = ("awaiting_evidence", "in_inspection")
# A re-inspection's report, a replacement's evidence.
EVIDENCE_AFTER_REJECTION = ("reinspection", "replacing")


def submit_evidence(
    escrow: Escrow,
    milestone_id: str,
    kind: EvidenceKind,
    details: dict[str, Any],
    actor: str,
    now: datetime,
) -> Decision:
    m = escrow.milestone(milestone_id)
    if escrow.closed or m.status not in (*EVIDENCE_OPEN, *EVIDENCE_AFTER_REJECTION):
        raise InvalidTransition(f"milestone is {m.status} (order {escrow.status}): no evidence now")
    satisfies = not (kind == "inspection" and details.get("passed") is False)
    evidence = Evidence(
        evidence_id=new_id(),
        kind=kind,
        details=details,
        satisfies=satisfies,
        submitted_by=actor,
        submitted_at=now,
    )
    m = m.model_copy(update={"evidence": (*m.evidence, evidence)})
    escrow = after_evidence(escrow.with_milestone(m), milestone_id)
    events: list[EventModel] = [
        EvidenceSubmitted(
            order_id=escrow.order_id,
            milestone_id=milestone_id,
            evidence_id=evidence.evidence_id,
            kind=kind,
            details=details,
            evidence_complete=m.evidence_complete,
        )
    ]
    escrow, started = open_inspections(escrow, now)
    return escrow, events + started


def _accept(escrow: Escrow, milestone_id: str, by: AcceptedBy) -> Decision:
    m = close_rejection(escrow.milestone(milestone_id))
    escrow = escrow.with_milestone(m.model_copy(update={"status": "accepted"}))
    event = MilestoneAccepted(order_id=escrow.order_id, milestone_id=milestone_id, accepted_by=by)
    return escrow, [event]


def accept_milestone(escrow: Escrow, milestone_id: str) -> Decision:
    """The buyer accepts: inside the window, or earlier (waiving the remaining evidence), or
    after rejecting the goods, keeping them after all (before they were shipped back)."""
    m = escrow.milestone(milestone_id)
    if escrow.closed or m.status not in (*EVIDENCE_OPEN, *REJECTION_ACCEPTABLE):
        raise InvalidTransition(f"milestone is {m.status} (order {escrow.status}): cannot accept")
    if not escrow.fully_funded:
        raise InvalidTransition("the escrow is not fully funded yet")
    return _accept(escrow, milestone_id, "buyer")


def auto_accept(escrow: Escrow, milestone_id: str, now: datetime) -> Decision:
    """The inspection window ended: accept unless disputed or already decided (then no-op)."""
    m = escrow.milestone(milestone_id)
    due = m.inspection_ends_at is not None and now >= m.inspection_ends_at
    if escrow.closed or m.status != "in_inspection" or not due:
        return escrow, []
    return _accept(escrow, milestone_id, "inspection_window")
