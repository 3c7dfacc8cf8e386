"""Every legal transition of the escrow state machine, with the events it emits."""

from __future__ import annotations

import pytest

from services.escrow.domain.disputes import open_chargeback, open_dispute, resolve_dispute
from services.escrow.domain.errors import InvalidTransition
from services.escrow.domain.funding import record_funding, record_funding_failure, request_funding
from services.escrow.domain.milestones import accept_milestone, auto_accept
from services.escrow.domain.payouts import abort_payout, begin_release, complete_payout
from services.escrow.domain.refunds import cancel_order, complete_refund
from shared.events.escrow import (
    Cancelled,
    Completed,
    DisputeOpened,
    DisputeResolved,
    Funded,
    FundingFailed,
    InspectionStarted,
    MilestoneAccepted,
    MilestoneReleased,
    Refunded,
)
from tests.unit.escrow.builders import DAY, T0, evidenced, funded, ms, new_order


def types(events: list) -> list[str]:
    return [e.event_type for e in events]


def test_partial_then_full_funding_opens_the_deposit_milestone() -> None:
    e = new_order()
    e, ev = request_funding(e, "p1", 40_000, "pi_a")
    assert types(ev) == ["escrow.funding_requested"] and e.funded == 0
    e, ev = record_funding(e, "p1", 40_000, "stripe", T0, stripe_payment_intent_id="pi_a")
    assert e.status == "partially_funded" and e.held == 40_000
    assert isinstance(ev[0], Funded) and not ev[0].fully_funded and ev[0].held_after == 40_000
    assert e.milestones[0].status == "awaiting_evidence"  # not before full funding
    e, ev = record_funding(e, "w1", 60_000, "wire", T0)
    assert e.status == "funded" and isinstance(ev[0], Funded) and ev[0].fully_funded
    assert isinstance(ev[1], InspectionStarted) and ev[1].ends_at == T0 + 3 * DAY
    assert e.milestones[0].status == "in_inspection"


def test_duplicate_and_out_of_order_payment_reports_are_harmless() -> None:
    e = new_order()
    e, _ = request_funding(e, "p1", 100_000, "pi_a")
    e, ev = record_funding(e, "p1", 100_000, "stripe", T0)
    again, ev2 = record_funding(e, "p1", 100_000, "stripe", T0)
    assert ev2 == [] and again == e
    late_failure, ev3 = record_funding_failure(e, "p1", "card_declined")
    assert ev3 == [] and late_failure == e
    f = new_order()
    f, _ = request_funding(f, "p1", 100_000, "pi_a")
    f, ev = record_funding_failure(f, "p1", "card_declined")
    assert isinstance(ev[0], FundingFailed) and f.payments[0].status == "failed"
    f, ev = record_funding(f, "p1", 100_000, "stripe", T0)  # retried with another card
    assert f.funded == 100_000


def test_evidence_opens_the_window_and_it_auto_accepts_at_its_end() -> None:
    e = evidenced(funded(new_order()), 1)
    m = e.milestones[1]
    assert m.status == "in_inspection" and m.inspection_ends_at == T0 + 3 * DAY
    assert auto_accept(e, m.milestone_id, T0 + DAY) == (e, [])  # window still open
    e, ev = auto_accept(e, m.milestone_id, T0 + 3 * DAY)
    assert e.milestones[1].status == "accepted"
    assert isinstance(ev[0], MilestoneAccepted) and ev[0].accepted_by == "inspection_window"


def test_failed_inspection_does_not_complete_the_evidence() -> None:
    from services.escrow.domain.milestones import submit_evidence

    e = funded(new_order((1000,), ("inspection",)))
    report = {"inspector": "SGS", "report_id": "R", "passed": False}
    e, ev = submit_evidence(e, ms(e, 0), "inspection", report, "supplier", T0)
    assert e.milestones[0].status == "awaiting_evidence" and not ev[0].evidence_complete


def test_release_reserves_then_books_the_split_exactly() -> None:
    e = funded(new_order(fee_bps=250, fee_fixed=30))
    e, _ = accept_milestone(e, ms(e, 0))
    e, _ = begin_release(e, ms(e, 0))
    assert e.milestones[0].status == "releasing" and e.available == 70_000 and e.held == 100_000
    e, ev = complete_payout(e, e.payouts[0].payout_id, "tr_1")
    released = ev[0]
    assert isinstance(released, MilestoneReleased)
    assert (released.gross, released.platform_fee, released.supplier_net) == (30_000, 780, 29_220)
    assert released.held_after == 70_000 and e.milestones[0].status == "released"
    assert complete_payout(e, e.payouts[0].payout_id, "tr_1") == (e, [])


def test_a_refused_transfer_puts_the_milestone_back_to_accepted() -> None:
    e = funded(new_order())
    e, _ = accept_milestone(e, ms(e, 0))
    e, _ = begin_release(e, ms(e, 0))
    e, ev = abort_payout(e, e.payouts[0].payout_id)
    assert ev == [] and e.milestones[0].status == "accepted" and e.available == 100_000


def test_dispute_in_window_freezes_then_a_split_pays_both_sides() -> None:
    e = evidenced(funded(new_order()), 1)
    e, ev = open_dispute(e, ms(e, 1), "damaged", ["photo.jpg"], T0 + DAY)
    assert isinstance(ev[0], DisputeOpened) and e.frozen == 40_000 and e.available == 60_000
    assert e.milestones[1].status == "disputed"
    e, ev = resolve_dispute(e, e.disputes[0].dispute_id, "split", release_amount=15_001)
    assert isinstance(ev[0], DisputeResolved) and (ev[0].release_amount, ev[0].refund_amount) == (
        15_001,
        24_999,
    )
    assert e.frozen == 0 and e.reserved == 40_000
    e, _ = complete_payout(e, e.payouts[0].payout_id, "tr_1")
    e, ev = complete_refund(e, e.refunds[0].refund_id, "re_1")
    assert isinstance(ev[0], Refunded) and ev[0].held_after == 60_000
    m = e.milestones[1]
    assert (m.status, m.released_amount, m.refunded_amount) == ("released", 15_001, 24_999)


def test_dispute_resolved_as_refund_or_release() -> None:
    for outcome, status in (("refund", "refunded"), ("release", "released")):
        e = evidenced(funded(new_order()), 1)
        e, _ = open_dispute(e, ms(e, 1), "late", [], T0)
        e, _ = resolve_dispute(e, e.disputes[0].dispute_id, outcome)  # type: ignore[arg-type]
        for p in e.payouts:
            e, _ = complete_payout(e, p.payout_id, "tr")
        for r in e.refunds:
            e, _ = complete_refund(e, r.refund_id, "re")
        assert e.milestones[1].status == status and e.held == 60_000


def test_cancel_before_shipment_refunds_everything_held() -> None:
    e = funded(new_order())
    e, ev = cancel_order(e, "buyer changed plans")
    assert (
        e.status == "cancelled" and isinstance(ev[0], Cancelled) and ev[0].refund_amount == 100_000
    )
    assert {m.status for m in e.milestones} == {"cancelled"}
    e, ev = complete_refund(e, e.refunds[0].refund_id, "re_1")
    assert e.held == 0 and isinstance(ev[0], Refunded) and ev[0].held_after == 0


def test_cancelling_a_wire_funded_order_books_the_refund_at_once() -> None:
    e = funded(new_order(), method="wire")
    e, ev = cancel_order(e, "x")
    assert types(ev) == ["escrow.cancelled", "escrow.refunded"] and e.held == 0


def test_money_arriving_after_cancellation_goes_back() -> None:
    e, _ = cancel_order(new_order(), "never mind")
    e, ev = record_funding(e, "p1", 5_000, "stripe", T0)
    assert types(ev) == ["escrow.funded"] and e.reserved == 5_000 and e.refunds[0].amount == 5_000


def test_the_last_release_completes_the_order() -> None:
    e = funded(new_order((600, 400), ("contract", "delivery")))
    e = evidenced(e, 1)
    for i in (0, 1):
        e, _ = accept_milestone(e, ms(e, i))
        e, _ = begin_release(e, ms(e, i))
    e, ev = complete_payout(e, e.payouts[0].payout_id, "tr_0")
    assert e.status == "funded"
    e, ev = complete_payout(e, e.payouts[1].payout_id, "tr_1")
    assert isinstance(ev[-1], Completed) and e.status == "completed" and e.held == 0


def test_a_chargeback_freezes_then_is_booked_without_a_stripe_refund() -> None:
    e = funded(new_order())
    e, ev = open_chargeback(e, "dp_1", 100_000, "fraudulent")
    assert e.chargeback_open and e.available == 0 and ev[0].milestone_id is None
    assert open_chargeback(e, "dp_1", 100_000, "fraudulent") == (e, [])
    e, ev = resolve_dispute(e, e.disputes[0].dispute_id, "refund")
    assert types(ev)[:2] == ["escrow.dispute_resolved", "escrow.refunded"] and e.held == 0
    # Nothing is left to pay any milestone: each closes unpaid and the order completes.
    assert types(ev)[2:] == ["escrow.milestone_settled_unpaid"] * 3 + ["escrow.completed"]


def test_retrying_a_split_release_pays_only_the_release_part() -> None:
    # A split reserves a payout and a refund; Stripe refuses the transfer and finance retries
    # it while the buyer's refund is still in flight. The retry must release the 10 000 of the
    # split, not the whole 40 000: the refund of 30 000 is already promised to the buyer.
    e = evidenced(funded(new_order()), 1)
    e, _ = open_dispute(e, ms(e, 1), "short shipped", [], T0 + DAY)
    e, _ = resolve_dispute(e, e.disputes[0].dispute_id, "split", release_amount=10_000)
    e, _ = abort_payout(e, e.payouts[0].payout_id)
    e, _ = begin_release(e, ms(e, 1))
    assert e.payouts[-1].gross == 10_000
    e, _ = complete_payout(e, e.payouts[-1].payout_id, "tr_2")
    e, _ = complete_refund(e, e.refunds[0].refund_id, "re_1")
    m = e.milestones[1]
    assert (m.status, m.released_amount, m.refunded_amount) == ("released", 10_000, 30_000)
    assert e.held == 60_000


def test_money_beyond_the_contract_total_goes_back_to_the_buyer() -> None:
    # Two PaymentIntents both succeeded for the unfunded amount: the buyer paid twice.
    e = new_order((600, 400), ("contract", "delivery"))
    e, _ = record_funding(e, "p1", 700, "stripe", T0, stripe_payment_intent_id="pi_1")
    e, ev = record_funding(e, "p2", 700, "stripe", T0, stripe_payment_intent_id="pi_2")
    assert e.status == "funded" and e.reserved == 400
    assert (e.refunds[0].payment_id, e.refunds[0].amount) == ("p2", 400)
    e, _ = complete_refund(e, e.refunds[0].refund_id, "re_1")
    assert e.held == 1_000
    # A payment arriving after completion would otherwise stay held forever.
    e = evidenced(e, 1)
    for i in (0, 1):
        e, _ = accept_milestone(e, ms(e, i))
        e, _ = begin_release(e, ms(e, i))
        e, _ = complete_payout(e, e.payouts[-1].payout_id, f"tr_{i}")
    assert e.status == "completed"
    e, ev = record_funding(e, "p3", 250, "stripe", T0, stripe_payment_intent_id="pi_3")
    assert types(ev) == ["escrow.funded"] and e.reserved == 250
    e, _ = complete_refund(e, e.refunds[-1].refund_id, "re_2")
    assert (e.status, e.held) == ("completed", 0)


def test_a_lost_chargeback_is_booked_against_the_disputed_card_payment() -> None:
    # Funded half by card, then half by wire. The card holder's bank took the card money back:
    # the refund is that card payment's, not the wire's (which finance may still have to return).
    e = new_order()
    e, _ = record_funding(e, "card", 50_000, "stripe", T0, stripe_payment_intent_id="pi_1")
    e, _ = record_funding(e, "wire", 50_000, "wire", T0)
    e, _ = open_chargeback(e, "dp_1", 50_000, "fraudulent", payment_id="card")
    e, ev = resolve_dispute(e, e.disputes[0].dispute_id, "refund")
    assert isinstance(ev[1], Refunded) and (ev[1].payment_id, ev[1].amount) == ("card", 50_000)
    assert {p.payment_id: p.refunded for p in e.payments} == {"card": 50_000, "wire": 0}


def test_a_dispute_refunded_at_once_on_the_last_milestone_completes_the_order() -> None:
    # Wire-funded: the refund is booked at once (finance returns it offline), so no Stripe
    # completion follows that would complete the order; the resolution itself must.
    e = evidenced(funded(new_order((1_000,), ("shipment",)), method="wire"), 0)
    e, _ = open_dispute(e, ms(e, 0), "never arrived", [], T0)
    e, ev = resolve_dispute(e, e.disputes[0].dispute_id, "refund")
    assert types(ev) == ["escrow.dispute_resolved", "escrow.refunded", "escrow.completed"]
    assert (e.status, e.held, e.milestones[0].status) == ("completed", 0, "refunded")


def test_a_release_a_chargeback_held_back_goes_ahead_once_the_chargeback_is_won() -> None:
    # The window lapsed while a card chargeback froze the escrow: the milestone was accepted
    # but could not be paid. Once finance resolves the chargeback for the merchant, nothing
    # else would ever pay it (no timer is left, the buyer has accepted already): the
    # resolution must release what became due meanwhile.
    e = evidenced(funded(new_order()), 1)
    e, _ = open_chargeback(e, "dp_1", 20_000, "fraudulent", payment_id="pay-1")
    mid = ms(e, 1)
    e, _ = auto_accept(e, mid, T0 + 3 * DAY)
    with pytest.raises(InvalidTransition, match="chargeback"):
        begin_release(e, mid)
    e, _ = resolve_dispute(e, e.disputes[0].dispute_id, "release")
    assert not e.chargeback_open
    assert [(p.milestone_id, p.gross, p.status) for p in e.payouts] == [(mid, 40_000, "pending")]
    assert e.milestones[1].status != "accepted"
    # Nothing else was due: the deposit and delivery milestones are untouched.
    assert [m.status for m in (e.milestones[0], e.milestones[2])] == [
        s.status for s in (funded(new_order()).milestones[0], funded(new_order()).milestones[2])
    ]


def test_a_lost_chargeback_still_releases_what_the_rest_covers() -> None:
    e = evidenced(funded(new_order()), 1)
    e, _ = open_chargeback(e, "dp_1", 20_000, "fraudulent", payment_id="pay-1")
    mid = ms(e, 1)
    e, _ = auto_accept(e, mid, T0 + 3 * DAY)
    e, _ = resolve_dispute(e, e.disputes[0].dispute_id, "refund")
    assert e.held == 80_000
    assert [(p.milestone_id, p.gross) for p in e.payouts] == [(mid, 40_000)]
