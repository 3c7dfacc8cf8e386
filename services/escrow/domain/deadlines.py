"""The deadlines people work against, as the durable timers that enforce them.

Each is (``what``, subject id, due time): a dispute's negotiation (``dispute``), a rejected
milestone's current step (``milestone``), a partial refund proposal's expiry
(``refund_proposal``). The service layer schedules a timer for every deadline a decision
adds (its key names the due time, so a moved deadline is a new timer and the old one, if it
fires, finds nothing due) and cancels those a decision removes. ``lapse`` is what the
timer's firing decides: always checked against the state and the clock, so a timer that
fires late, twice, or after the step moved on is a no-op.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from services.escrow.domain.adjustments import proposal_lapsed
from services.escrow.domain.model import Escrow
from services.escrow.domain.negotiation import negotiation_lapsed
from services.escrow.domain.rejections import rejection_lapsed
from services.escrow.domain.rules import Decision

DeadlineKind = Literal["dispute", "milestone", "refund_proposal"]


@dataclass(frozen=True, order=True)
class Deadline:
    what: DeadlineKind
    subject: str
    due_at: datetime

    @property
    def key(self) -> str:
        return f"{self.what}/{self.subject}/{self.due_at.isoformat()}"


def deadlines(escrow: Escrow | None) -> set[Deadline]:
    if escrow is None:
        return set()
    found = {
        Deadline("dispute", d.dispute_id, d.respond_by)
        for d in escrow.disputes
        if d.respond_by is not None and d.status in ("open", "negotiating")
    }
    found |= {
        Deadline("milestone", m.milestone_id, m.due_by)
        for m in escrow.milestones
        if m.due_by is not None
    }
    found |= {
        Deadline("refund_proposal", p.proposal_id, p.expires_at)
        for p in escrow.refund_proposals
        if p.status == "open"
    }
    return found


def lapse(escrow: Escrow, what: str, subject: str, now: datetime, actor: str) -> Decision:
    if escrow.closed:
        return escrow, []
    if what == "dispute":
        return negotiation_lapsed(escrow, subject, now)
    if what == "milestone":
        if all(m.milestone_id != subject for m in escrow.milestones):
            return escrow, []
        return rejection_lapsed(escrow, subject, now, actor)
    if what == "refund_proposal":
        return proposal_lapsed(escrow, subject, now)
    return escrow, []
