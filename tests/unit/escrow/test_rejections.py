"""A failed inspection's way out: rejection, the supplier's remedy, the return's refund,
and every step's deadline."""

from __future__ import annotations

from datetime import datetime

import pytest

from services.escrow.domain.deadlines import deadlines, lapse
from services.escrow.domain.disputes import open_dispute
from services.escrow.domain.errors import InvalidTransition
from services.escrow.domain.milestones import accept_milestone, submit_evidence
from services.escrow.domain.model import Escrow
from services.escrow.domain.refunds import cancel_order, complete_refund
from services.escrow.domain.rejections import (
    REINSPECTION,
    REPLACEMENT,
    RETURN_RECEIPT,
    RETURN_SHIPPING,
    SUPPLIER_ANSWER,
    answer_rejection,
    confirm_return,
    reject_milestone,
    ship_return,
)
from tests.unit.escrow.builders import DAY, EVIDENCE, T0, funded, new_order

FAILED = {"inspector": "SGS", "report_id": "R-2", "passed": False}
PASSED = {"inspector": "SGS", "report_id": "R-3", "passed": True}
ACTOR = "system:deadline"


def failed_inspection() -> tuple[Escrow, str]:
    """A 40,001 milestone on delivery + inspection whose inspection report failed."""
    e = new_order((30_000, 40_001), ("contract", "delivery"))
    mid = e.milestones[1].milestone_id
    m = e.milestones[1].model_copy(update={"evidence_required": ("delivery", "inspection")})
    e = funded(e.with_milestone(m))
    e, _ = submit_evidence(e, mid, "delivery", EVIDENCE["delivery"], "supplier", T0)
    e, _ = submit_evidence(e, mid, "inspection", FAILED, "inspector", T0)
    return e, mid


def test_before_this_the_buyer_could_only_accept() -> None:
    e, mid = failed_inspection()
    assert e.milestone(mid).status == "awaiting_evidence"
    with pytest.raises(InvalidTransition):
        open_dispute(e, mid, "bad goods", [], T0)
    with pytest.raises(InvalidTransition):
        cancel_order(e, "bad goods")  # shipped: no cancellation


def test_rejection_opens_a_dispute_that_freezes_the_milestone() -> None:
    e, mid = failed_inspection()
    e, ev = reject_milestone(e, mid, "dispute", ["wet crates"], ["R-2"], "apikey:p", T0 + DAY)
    assert [x.event_type for x in ev] == ["escrow.milestone_rejected", "escrow.dispute_opened"]
    assert e.milestone(mid).status == "disputed" and e.frozen == 40_001
    assert e.disputes[-1].respond_by is not None


def test_only_a_failed_inspection_is_rejected() -> None:
    e, mid = failed_inspection()
    e, _ = submit_evidence(e, mid, "inspection", PASSED, "inspector", T0)
    assert e.milestone(mid).status == "in_inspection"
    with pytest.raises(InvalidTransition):
        reject_milestone(e, mid, "return", ["changed my mind"], [], "apikey:p", T0)
    fresh, mid2 = failed_inspection()
    with pytest.raises(InvalidTransition):  # reasons are required
        reject_milestone(fresh, mid2, "return", [], [], "apikey:p", T0)


def _due(e: Escrow, mid: str) -> datetime:
    due = e.milestone(mid).due_by
    assert due is not None
    return due


def test_return_then_tracking_then_receipt_refunds_the_buyer_exactly() -> None:
    e, mid = failed_inspection()
    e, ev = reject_milestone(e, mid, "return", ["wet crates"], [], "apikey:p", T0)
    assert e.milestone(mid).status == "rejected" and _due(e, mid) == T0 + SUPPLIER_ANSWER
    assert any(d.what == "milestone" for d in deadlines(e))
    with pytest.raises(InvalidTransition):  # the goods are not on their way back yet
        confirm_return(e, mid)
    e, ev = answer_rejection(e, mid, "return", T0 + DAY, "apikey:s")
    assert e.milestone(mid).status == "returning"
    assert _due(e, mid) == T0 + DAY + RETURN_SHIPPING
    e, ev = ship_return(e, mid, "DHL", "JD0146", None, T0 + 2 * DAY)
    assert e.milestone(mid).status == "return_shipped"
    assert _due(e, mid) == T0 + 2 * DAY + RETURN_RECEIPT
    assert e.milestone(mid).rejections[-1].return_tracking == "JD0146"
    e, ev = confirm_return(e, mid)
    assert [x.event_type for x in ev] == ["escrow.return_received"]  # Stripe refund pending
    refund = next(r for r in e.refunds if r.status == "pending")
    assert refund.amount == 40_001 and refund.via_stripe and refund.milestone_id == mid
    assert e.milestone(mid).status == "refunding" and e.milestone(mid).due_by is None
    e, ev = complete_refund(e, refund.refund_id, "re_1")
    assert e.milestone(mid).status == "refunded" and e.refunded == 40_001
    assert not any(d.what == "milestone" for d in deadlines(e))


def test_a_silent_supplier_means_return_and_a_silent_receiver_means_refund() -> None:
    e, mid = failed_inspection()
    e, _ = reject_milestone(e, mid, "return", ["wet crates"], [], "apikey:p", T0)
    same, nothing = lapse(e, "milestone", mid, _due(e, mid) - DAY, ACTOR)
    assert nothing == [] and same == e
    e, ev = lapse(e, "milestone", mid, _due(e, mid), ACTOR)
    assert ev[0].event_type == "escrow.rejection_answered" and ev[0].answered_by == "deadline"
    assert e.milestone(mid).status == "returning"
    e, _ = ship_return(e, mid, "DHL", "JD0146", None, T0 + DAY)
    e, ev = lapse(e, "milestone", mid, _due(e, mid), ACTOR)
    assert ev[0].event_type == "escrow.return_received" and ev[0].confirmed_by == "deadline"
    assert e.milestone(mid).status == "refunding"


def test_goods_never_sent_back_go_to_finance_as_an_escalated_dispute() -> None:
    e, mid = failed_inspection()
    e, _ = reject_milestone(e, mid, "return", ["wet crates"], [], "apikey:p", T0)
    e, _ = answer_rejection(e, mid, "return", T0, "apikey:s")
    e, ev = lapse(e, "milestone", mid, _due(e, mid), ACTOR)
    assert ev[0].event_type == "escrow.dispute_opened"
    d = e.disputes[-1]
    assert (d.status, d.amount, e.milestone(mid).status) == ("escalated", 40_001, "disputed")
    assert not any(x.what == "dispute" for x in deadlines(e))  # finance's now, no timer


def test_reinspection_that_passes_opens_the_window_and_one_that_fails_can_be_rejected() -> None:
    e, mid = failed_inspection()
    e, _ = reject_milestone(e, mid, "return", ["wet"], [], "apikey:p", T0)
    e, _ = answer_rejection(e, mid, "reinspection", T0, "apikey:s")
    assert e.milestone(mid).status == "reinspection" and _due(e, mid) == T0 + REINSPECTION
    failed_again, _ = submit_evidence(e, mid, "inspection", FAILED, "inspector", T0 + DAY)
    assert failed_again.milestone(mid).status == "awaiting_evidence"
    again, _ = reject_milestone(failed_again, mid, "return", ["still wet"], [], "k", T0 + DAY)
    assert len(again.milestone(mid).rejections) == 2
    e, _ev = submit_evidence(e, mid, "inspection", PASSED, "inspector", T0 + DAY)
    assert e.milestone(mid).status == "in_inspection"
    assert e.milestone(mid).rejection is None and e.milestone(mid).due_by is None


def test_replacement_voids_the_old_evidence_and_needs_it_all_again() -> None:
    e, mid = failed_inspection()
    e, _ = reject_milestone(e, mid, "return", ["wet"], [], "apikey:p", T0)
    e, _ = answer_rejection(e, mid, "replacement", T0, "apikey:s")
    m = e.milestone(mid)
    assert m.status == "replacing" and _due(e, mid) == T0 + REPLACEMENT
    assert all(x.void for x in m.evidence) and not m.evidence_complete
    e, _ = submit_evidence(e, mid, "inspection", PASSED, "inspector", T0 + DAY)
    assert e.milestone(mid).status == "replacing"  # the delivery of the replacement is missing
    e, _ = submit_evidence(e, mid, "delivery", EVIDENCE["delivery"], "supplier", T0 + DAY)
    assert e.milestone(mid).status == "in_inspection"


def test_a_lapsed_reinspection_or_replacement_falls_back_to_the_return() -> None:
    for remedy in ("reinspection", "replacement"):
        e, mid = failed_inspection()
        e, _ = reject_milestone(e, mid, "return", ["wet"], [], "apikey:p", T0)
        e, _ = answer_rejection(e, mid, remedy, T0, "apikey:s")  # type: ignore[arg-type]
        e, ev = lapse(e, "milestone", mid, _due(e, mid), ACTOR)
        assert e.milestone(mid).status == "returning" and ev[0].remedy == "return"


def test_the_buyer_may_keep_the_goods_after_all() -> None:
    e, mid = failed_inspection()
    e, _ = reject_milestone(e, mid, "return", ["wet"], [], "apikey:p", T0)
    e, _ = answer_rejection(e, mid, "return", T0, "apikey:s")
    e, _ev = accept_milestone(e, mid)
    assert e.milestone(mid).status == "accepted" and e.milestone(mid).rejection is None
    assert not any(d.what == "milestone" for d in deadlines(e))
    shipped, mid2 = failed_inspection()
    shipped, _ = reject_milestone(shipped, mid2, "return", ["wet"], [], "apikey:p", T0)
    shipped, _ = answer_rejection(shipped, mid2, "return", T0, "apikey:s")
    shipped, _ = ship_return(shipped, mid2, "DHL", "JD1", None, T0)
    with pytest.raises(InvalidTransition):  # the goods are on their way back
        accept_milestone(shipped, mid2)


def test_a_dispute_opened_escalated_announces_its_escalation() -> None:
    """Goods never sent back: the dispute goes straight to finance. Its subscribers learn
    that from ``escrow.dispute_escalated`` (``dispute_opened`` carries no status), as for
    every other escalation, once."""
    e, mid = failed_inspection()
    e, _ = reject_milestone(e, mid, "return", ["wet crates"], [], "apikey:p", T0)
    e, _ = answer_rejection(e, mid, "return", T0, "apikey:s")
    e, ev = lapse(e, "milestone", mid, _due(e, mid), ACTOR)
    escalated = [x for x in ev if x.event_type == "escrow.dispute_escalated"]
    assert len(escalated) == 1 and escalated[0].escalated_by == "deadline"
    assert escalated[0].dispute_id == e.disputes[-1].dispute_id
