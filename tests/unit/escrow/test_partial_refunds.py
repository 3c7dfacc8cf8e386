"""A partial refund agreed outside a dispute: proposal, consent, the refund to the cent,
what it leaves to release and to the lien."""

from __future__ import annotations

import pytest

from services.escrow.domain.adjustments import (
    PROPOSAL_LIFETIME,
    close_partial_refund,
    consent_partial_refund,
    propose_partial_refund,
)
from services.escrow.domain.deadlines import deadlines, lapse
from services.escrow.domain.disputes import open_dispute
from services.escrow.domain.errors import (
    InsufficientFunds,
    InvalidAmount,
    InvalidTransition,
    UnknownProposal,
    WrongParty,
)
from services.escrow.domain.liens import lien_capacity, lien_shortfall, request_lien
from services.escrow.domain.milestones import accept_milestone, submit_evidence
from services.escrow.domain.model import Escrow
from services.escrow.domain.payouts import begin_release, complete_payout
from services.escrow.domain.refunds import complete_refund
from services.escrow.domain.rejections import answer_rejection, reject_milestone
from shared.events.escrow import PartialRefundAgreed, Refunded
from tests.unit.escrow.builders import DAY, EVIDENCE, T0, evidenced, funded, ms, new_order


def proposed(amount: int = 1_251) -> tuple[Escrow, str, str]:
    e = funded(new_order((30_000, 40_001, 29_999), ("contract", "shipment", "delivery")))
    mid = ms(e, 1)
    e, ev = propose_partial_refund(e, mid, amount, "late", "buyer", "apikey:p", T0)
    return e, mid, ev[0].proposal_id


def test_consent_refunds_exactly_and_the_rest_is_released_later() -> None:
    e, mid, pid = proposed()
    assert e.milestone(mid).status == "awaiting_evidence"
    e, ev = consent_partial_refund(e, pid, "supplier", "apikey:s", T0 + DAY)
    assert isinstance(ev[0], PartialRefundAgreed) and ev[0].consented_by == "supplier"
    p = e.refund_proposals[0]
    assert p.status == "agreed" and p.answered_by == "apikey:s" and len(p.refund_ids) == 1
    refund = e.refunds[-1]
    assert (refund.amount, refund.status, refund.via_stripe) == (1_251, "pending", True)
    assert e.milestone(mid).status == "awaiting_evidence"  # nothing else decided
    e, ev = complete_refund(e, refund.refund_id, "re_1")
    assert isinstance(ev[0], Refunded) and ev[0].amount == 1_251
    assert e.milestone(mid).refunded_amount == 1_251 and e.held == 100_000 - 1_251
    assert e.milestone(mid).status == "awaiting_evidence"
    e, _ = accept_milestone(e, mid)
    e, _ = begin_release(e, mid)
    payout = next(p for p in e.payouts if p.status == "pending")
    assert payout.gross == 40_001 - 1_251  # only the rest goes to the supplier
    e, _ = complete_payout(e, payout.payout_id, "tr_1")
    m = e.milestone(mid)
    assert (m.status, m.released_amount + m.refunded_amount) == ("released", 40_001)


def test_a_dispute_after_a_partial_refund_freezes_only_the_rest() -> None:
    e, mid, pid = proposed()
    e, _ = consent_partial_refund(e, pid, "supplier", "apikey:s", T0)
    e, _ = complete_refund(e, e.refunds[-1].refund_id, "re_1")
    m = e.milestone(mid)
    e = e.with_milestone(
        m.model_copy(update={"status": "in_inspection", "inspection_ends_at": T0 + DAY})
    )
    e, _ = open_dispute(e, mid, "damaged", [], T0)
    assert e.disputes[-1].amount == 40_001 - 1_251 and e.frozen == 40_001 - 1_251


def test_consent_is_the_other_partys_and_once() -> None:
    e, _mid, pid = proposed()
    with pytest.raises(WrongParty):
        consent_partial_refund(e, pid, "buyer", "apikey:p", T0)
    with pytest.raises(WrongParty):  # the proposer withdraws, it does not decline
        close_partial_refund(e, pid, "buyer", "declined", "apikey:p", T0)
    with pytest.raises(UnknownProposal):
        consent_partial_refund(e, "nope", "supplier", "apikey:s", T0)
    agreed, _ = consent_partial_refund(e, pid, "supplier", "apikey:s", T0)
    with pytest.raises(InvalidTransition):
        consent_partial_refund(agreed, pid, "supplier", "apikey:s", T0)
    declined, ev = close_partial_refund(e, pid, "supplier", "declined", "apikey:s", T0)
    assert ev[0].outcome == "declined" and declined.refunds == e.refunds
    _withdrawn, ev = close_partial_refund(e, pid, "buyer", "withdrawn", "apikey:p", T0)
    assert ev[0].outcome == "withdrawn"


@pytest.mark.parametrize("amount", [0, -1, 40_001, 40_002])
def test_a_partial_refund_is_positive_and_below_the_unpaid_amount(amount: int) -> None:
    e = funded(new_order((30_000, 40_001, 29_999)))
    with pytest.raises(InvalidAmount):
        propose_partial_refund(e, ms(e, 1), amount, "x", "buyer", "k", T0)


def test_one_open_proposal_per_milestone_and_none_on_a_settled_one() -> None:
    e, mid, _pid = proposed()
    with pytest.raises(InvalidTransition):
        propose_partial_refund(e, mid, 10, "again", "supplier", "k", T0)
    e2 = funded(new_order())
    e2, _ = accept_milestone(e2, ms(e2, 0))
    with pytest.raises(InvalidTransition):
        propose_partial_refund(e2, ms(e2, 0), 10, "x", "buyer", "k", T0)


def test_unfunded_money_cannot_be_refunded() -> None:
    e = new_order((30_000, 40_001, 29_999))  # nothing funded
    with pytest.raises(InsufficientFunds):
        propose_partial_refund(e, ms(e, 1), 100, "x", "buyer", "k", T0)


def test_a_proposal_expires_by_its_timer() -> None:
    e, _mid, pid = proposed()
    due = e.refund_proposals[0].expires_at
    assert due == T0 + PROPOSAL_LIFETIME and any(d.what == "refund_proposal" for d in deadlines(e))
    same, nothing = lapse(e, "refund_proposal", pid, due - DAY, "system:deadline")
    assert nothing == [] and same == e
    e, ev = lapse(e, "refund_proposal", pid, due, "system:deadline")
    assert ev[0].outcome == "expired" and e.refund_proposals[0].status == "expired"
    assert not any(d.what == "refund_proposal" for d in deadlines(e))
    with pytest.raises(InvalidTransition):
        consent_partial_refund(e, pid, "supplier", "k", due)


def test_the_lien_keeps_priority_and_a_refund_shows_its_shortfall() -> None:
    e = funded(new_order((30_000, 40_001, 29_999), fee_bps=0))
    e, _ = request_lien(e, "adv-1", 99_000, "USD", "supplier-1")
    assert e.lien is not None and lien_capacity(e) == 100_000 and lien_shortfall(e) == 0
    e, ev = propose_partial_refund(e, ms(e, 1), 2_000, "late", "buyer", "k", T0)
    e, ev = consent_partial_refund(e, ev[0].proposal_id, "supplier", "k", T0)
    assert lien_capacity(e) == 98_000 and lien_shortfall(e) == 1_000
    assert (ev[0].advance_id, ev[0].lien_shortfall) == ("adv-1", 1_000)
    e, _ = accept_milestone(e, ms(e, 1))
    e, _ = begin_release(e, ms(e, 1))
    payout = next(p for p in e.payouts if p.status == "pending")
    assert (payout.gross, payout.lien_repayment, payout.supplier_net) == (38_001, 38_001, 0)


def test_a_partial_refund_completing_after_a_dispute_or_rejection_leaves_them_open() -> None:
    """Stripe was slow: the agreed refund is still pending when the buyer disputes the
    milestone (or rejects its failed inspection). Its completion must not mark the
    milestone ``refunded`` (final): the dispute's (or the return's) money would be held for
    ever, and the order could complete with it."""
    e, mid, pid = proposed()
    e, _ = consent_partial_refund(e, pid, "supplier", "apikey:s", T0)
    refund = e.refunds[-1]
    e = evidenced(e, 1, T0)
    disputed, _ = open_dispute(e, mid, "damaged", [], T0 + DAY)
    disputed, _ = complete_refund(disputed, refund.refund_id, "re_1")
    assert disputed.milestone(mid).status == "disputed"
    assert disputed.disputes[-1].amount == 40_001 - 1_251

    failed = {**EVIDENCE["inspection"], "passed": False}
    e, _ = submit_evidence(e, mid, "inspection", failed, "apikey:s", T0)
    e, _ = reject_milestone(e, mid, "return", ["wet"], [], "apikey:p", T0 + DAY)
    e, _ = complete_refund(e, refund.refund_id, "re_1")
    assert e.milestone(mid).status == "rejected"
    e, _ = answer_rejection(e, mid, "return", T0 + DAY, "apikey:s")
    assert e.milestone(mid).status == "returning"
