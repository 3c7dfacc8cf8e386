"""Disputes as people run them: evidence, the supplier's response, offers, escalation."""

from __future__ import annotations

import pytest

from services.escrow.domain.deadlines import Deadline, deadlines, lapse
from services.escrow.domain.disputes import (
    NEGOTIATION_WINDOW,
    close_chargeback,
    open_chargeback,
    open_dispute,
    resolve_dispute,
)
from services.escrow.domain.errors import (
    InsufficientFunds,
    InvalidAmount,
    InvalidEvidence,
    InvalidTransition,
    UnknownOffer,
    WrongParty,
)
from services.escrow.domain.model import Escrow
from services.escrow.domain.negotiation import (
    accept_offer,
    add_evidence,
    escalate,
    make_offer,
    respond,
)
from services.escrow.domain.payouts import abort_payout, begin_release, complete_payout
from services.escrow.domain.records import DocumentRef
from services.escrow.domain.refunds import complete_refund
from shared.events.escrow import DisputeEscalated, DisputeOfferAccepted, DisputeResolved
from tests.unit.escrow.builders import DAY, T0, evidenced, funded, ms, new_order

SHA = "a" * 64


def disputed() -> tuple[Escrow, str]:
    """A 40,001-cent shipment milestone under dispute (an odd amount, to check the cents)."""
    e = funded(new_order((30_000, 40_001, 29_999)))
    e = evidenced(e, 1)
    e, _ = open_dispute(e, ms(e, 1), "damaged", ["photo"], T0 + DAY)
    return e, e.disputes[-1].dispute_id


def test_opening_records_who_when_and_the_parties_deadline() -> None:
    e, did = disputed()
    d = e.dispute(did)
    assert (d.status, d.opened_by, d.opened_at) == ("open", "buyer", T0 + DAY)
    assert d.respond_by == T0 + DAY + NEGOTIATION_WINDOW and d.amount == 40_001
    assert Deadline("dispute", did, d.respond_by) in deadlines(e)


def test_both_parties_add_evidence_and_the_supplier_responds_once() -> None:
    e, did = disputed()
    e, ev = add_evidence(e, did, "buyer", "crates arrived wet", None, "apikey:p", T0 + DAY)
    doc = DocumentRef(document_type="survey_report", sha256=SHA, uri="s3://b/survey.pdf")
    e, ev = add_evidence(e, did, "supplier", None, doc, "apikey:s", T0 + DAY)
    assert ev[0].event_type == "escrow.dispute_evidence_added" and ev[0].sha256 == SHA
    assert [s.party for s in e.dispute(did).submissions] == ["buyer", "supplier"]
    e, ev = respond(e, did, "supplier", "packed to spec; carrier's fault", "apikey:s", T0 + DAY)
    assert e.dispute(did).response is not None and ev[0].event_type == "escrow.dispute_responded"
    with pytest.raises(InvalidTransition):
        respond(e, did, "supplier", "again", "apikey:s", T0 + DAY)
    other, other_id = disputed()
    with pytest.raises(WrongParty):
        respond(other, other_id, "buyer", "buyers do not respond", "apikey:p", T0)


@pytest.mark.parametrize(
    ("text", "doc"),
    [
        (None, None),
        ("both", DocumentRef(document_type="x", sha256=SHA, uri="u")),
        (None, DocumentRef(document_type="x", sha256="A" * 64, uri="u")),  # not lowercase hex
        (None, DocumentRef(document_type="x", sha256="a" * 63, uri="u")),
    ],
)
def test_evidence_is_text_or_a_well_formed_document(
    text: str | None, doc: DocumentRef | None
) -> None:
    e, did = disputed()
    with pytest.raises(InvalidEvidence):  # was invalid_amount: nothing here is an amount
        add_evidence(e, did, "buyer", text, doc, "apikey:p", T0)


def test_an_offer_countered_then_accepted_resolves_the_split_exactly() -> None:
    e, did = disputed()
    e, ev = make_offer(e, did, "supplier", 30_001, 10_000, "most of it", "apikey:s", T0 + DAY)
    first = ev[0].offer_id
    assert e.dispute(did).status == "negotiating"
    with pytest.raises(InvalidTransition):  # its own offer is not answered by its maker
        make_offer(e, did, "supplier", 40_001, 0, None, "apikey:s", T0 + DAY)
    with pytest.raises(WrongParty):  # accepted by the other party only
        accept_offer(e, did, first, "supplier", T0 + DAY)
    e, ev = make_offer(e, did, "buyer", 20_000, 20_001, "half", "apikey:p", T0 + DAY)
    counter = ev[0].offer_id
    assert ev[0].counter_to == first
    assert [o.status for o in e.dispute(did).offers] == ["countered", "open"]
    with pytest.raises(InvalidTransition):  # a countered offer is no longer on the table
        accept_offer(e, did, first, "buyer", T0 + DAY)
    e, ev = accept_offer(e, did, counter, "supplier", T0 + 2 * DAY)
    assert isinstance(ev[0], DisputeOfferAccepted)
    resolved = next(x for x in ev if isinstance(x, DisputeResolved))
    assert (resolved.outcome, resolved.release_amount, resolved.refund_amount) == (
        "split",
        20_000,
        20_001,
    )
    d = e.dispute(did)
    assert (d.status, d.resolved_by, d.release_amount, d.refund_amount) == (
        "resolved",
        "agreement",
        20_000,
        20_001,
    )
    # The same release and refund mechanics as finance's split, settled to the cent.
    payout = next(p for p in e.payouts if p.status == "pending")
    refund = next(r for r in e.refunds if r.status == "pending")
    assert (payout.gross, refund.amount) == (20_000, 20_001)
    e, _ = complete_payout(e, payout.payout_id, "tr_1")
    e, _ = complete_refund(e, refund.refund_id, "re_1")
    m = e.milestone(ms(e, 1))
    assert (m.status, m.released_amount, m.refunded_amount) == ("released", 20_000, 20_001)
    assert e.frozen == 0 and Deadline("dispute", did, d.respond_by) not in deadlines(e)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("release", "refund", "outcome"), [(40_001, 0, "release"), (0, 40_001, "refund")]
)
def test_an_all_or_nothing_offer_resolves_as_release_or_refund(
    release: int, refund: int, outcome: str
) -> None:
    e, did = disputed()
    e, ev = make_offer(e, did, "buyer", release, refund, None, "apikey:p", T0)
    e, ev = accept_offer(e, did, ev[0].offer_id, "supplier", T0)
    assert next(x for x in ev if isinstance(x, DisputeResolved)).outcome == outcome


@pytest.mark.parametrize(
    ("release", "refund"), [(20_000, 20_000), (40_002, -1), (40_001, 1), (-1, 40_002)]
)
def test_an_offer_must_sum_exactly_to_the_disputed_amount(release: int, refund: int) -> None:
    e, did = disputed()
    with pytest.raises(InvalidAmount):
        make_offer(e, did, "buyer", release, refund, None, "apikey:p", T0)


def test_an_unknown_offer_is_not_found() -> None:
    e, did = disputed()
    with pytest.raises(UnknownOffer):
        accept_offer(e, did, "nope", "buyer", T0)


def test_the_deadline_escalates_to_finance_who_resolves_as_today() -> None:
    e, did = disputed()
    e, ev = make_offer(e, did, "supplier", 30_001, 10_000, None, "apikey:s", T0 + DAY)
    due = e.dispute(did).respond_by
    assert due is not None
    early, nothing = lapse(e, "dispute", did, due - DAY, "system:deadline")
    assert nothing == [] and early == e  # not due yet: the timer's early or stale firing
    e, ev = lapse(e, "dispute", did, due, "system:deadline")
    assert isinstance(ev[0], DisputeEscalated) and ev[0].escalated_by == "deadline"
    d = e.dispute(did)
    assert d.status == "escalated" and d.offers[-1].status == "lapsed"
    assert e.frozen == 40_001  # still frozen until finance decides
    assert not any(x.what == "dispute" for x in deadlines(e))
    again, ev = lapse(e, "dispute", did, due + DAY, "system:deadline")
    assert ev == [] and again == e
    with pytest.raises(InvalidTransition):  # the parties' turn is over
        make_offer(e, did, "buyer", 1, 40_000, None, "apikey:p", T0)
    e, ev = add_evidence(e, did, "buyer", "for finance", None, "apikey:p", due)  # still allowed
    e, ev = resolve_dispute(e, did, "refund", None, due, by="finance")
    assert e.dispute(did).resolved_by == "finance"


def test_a_party_may_escalate_and_a_resolved_dispute_takes_nothing_more() -> None:
    e, did = disputed()
    e, ev = escalate(e, did, "buyer", "supplier unresponsive", T0)
    assert ev[0].escalated_by == "buyer"
    with pytest.raises(InvalidTransition):
        escalate(e, did, "buyer", "again", T0)
    e, _ = resolve_dispute(e, did, "release")
    for act in (
        lambda: add_evidence(e, did, "buyer", "late", None, "k", T0),
        lambda: make_offer(e, did, "buyer", 1, 40_000, None, "k", T0),
        lambda: resolve_dispute(e, did, "refund"),
    ):
        with pytest.raises(InvalidTransition):
            act()


def test_a_chargeback_is_not_negotiated() -> None:
    e = funded(new_order())
    e, _ = open_chargeback(e, "dp_1", 10_000, "fraudulent", "pay-1", T0)
    did = e.disputes[-1].dispute_id
    with pytest.raises(InvalidTransition):
        make_offer(e, did, "buyer", 5_000, 5_000, None, "k", T0)
    with pytest.raises(InvalidTransition):
        escalate(e, did, "buyer", "x", T0)
    assert not any(x.what == "dispute" for x in deadlines(e))


def test_a_lost_chargeback_over_a_frozen_milestone_does_not_pay_that_money_out_again() -> None:
    """The buyer's dispute froze 40,001; the card chargeback then claimed the whole payment,
    but could freeze only what was left free (59,999). Lost, the bank kept all 100,000 of
    it: the milestone's money is gone too, and must not then be released to the supplier
    (escrow would pay out 40,001 the platform no longer holds: 140,001 out of 100,000)."""
    e, did = disputed()
    e, _ = open_chargeback(e, "dp_1", e.total, "fraudulent", "pay-1", T0 + DAY)
    e, _ = close_chargeback(e, "dp_1", "lost")
    assert e.refunded == e.total and e.held == 0
    with pytest.raises((InvalidTransition, InvalidAmount, InsufficientFunds)):
        resolve_dispute(e, did, "release")
    assert e.dispute(did).status == "resolved" and e.milestones[1].status == "refunded"
    assert e.milestones[1].refunded_amount == 40_001


def test_a_lost_chargeback_takes_only_what_it_claimed_from_a_frozen_milestone() -> None:
    """80,000 claimed, 59,999 free to freeze: the other 20,001 came out of the milestone
    dispute's 40,001, which goes on over the 20,000 left (its open offer, made for the old
    amount, lapses); the supplier can be released no more than those 20,000."""
    e, did = disputed()
    e, _ = make_offer(e, did, "supplier", 40_001, 0, None, "apikey:s", T0 + DAY)
    e, _ = open_chargeback(e, "dp_1", 80_000, "fraudulent", "pay-1", T0 + DAY)
    e, events = close_chargeback(e, "dp_1", "lost")
    d = e.dispute(did)
    assert (d.status, d.amount, [o.status for o in d.offers]) == ("open", 20_000, ["lapsed"])
    assert e.refunded == 80_000 and e.milestones[1].status == "disputed"
    assert e.milestones[1].refunded_amount == 20_001 and e.available == 0
    assert sum(ev.amount for ev in events if ev.event_type == "escrow.refunded") == 80_000
    with pytest.raises(InvalidAmount):
        make_offer(e, did, "supplier", 40_001, 0, None, "apikey:s", T0 + DAY)
    e, _ = resolve_dispute(e, did, "release")
    assert e.payouts[-1].gross == 20_000


def test_a_won_chargeback_leaves_the_frozen_milestone_as_it_was() -> None:
    e, did = disputed()
    e, _ = open_chargeback(e, "dp_1", e.total, "fraudulent", "pay-1", T0 + DAY)
    e, _ = close_chargeback(e, "dp_1", "won")
    assert e.refunded == 0 and e.dispute(did).amount == 40_001 and e.dispute(did).is_open


def test_a_refused_release_of_a_split_stays_to_be_retried_after_its_refund_completes() -> None:
    """Stripe refused the transfer of a split's release part (the milestone goes back to
    ``accepted`` for ``POST .../release``); the refund part completing afterwards must not
    mark the milestone ``refunded``: the release part would be held for ever (no release is
    allowed from ``refunded``) and the order could complete with it still held."""
    e, did = disputed()
    e, _ = resolve_dispute(e, did, "split", 30_000, T0 + DAY)
    payout, refund = e.payouts[-1], e.refunds[-1]
    e, _ = abort_payout(e, payout.payout_id)
    assert e.milestones[1].status == "accepted"
    e, _ = complete_refund(e, refund.refund_id, "re_1")
    assert e.milestones[1].status == "accepted" and e.milestones[1].refunded_amount == 10_001
    e, _ = begin_release(e, ms(e, 1))
    assert e.payouts[-1].gross == 30_000 and e.milestones[1].status == "releasing"


def test_no_stripe_refund_is_made_from_a_payment_the_bank_is_charging_back() -> None:
    """Stripe refuses to refund a charged-back charge (and, lost, the bank returned it to
    the cardholder already): a refund reserved on it would stay pending for ever, its money
    held. While the chargeback is open, a refund that only that payment could cover is
    refused, nothing reserved; once it is closed the refund goes through."""
    e, did = disputed()
    e, _ = open_chargeback(e, "dp_1", 20_000, "fraudulent", "pay-1", T0 + DAY)
    with pytest.raises(InsufficientFunds):
        resolve_dispute(e, did, "refund")
    e, _ = close_chargeback(e, "dp_1", "won")
    e, _ = resolve_dispute(e, did, "refund")
    assert e.refunds[-1].amount == 40_001 and e.refunds[-1].via_stripe


def test_past_the_parties_deadline_no_offer_is_made_or_accepted() -> None:
    """The deadline hands the dispute to finance: an offer made or accepted after it,
    before the timer worker got to escalate it, would settle what finance may be deciding
    (a partial refund's consent past its expiry is refused the same way)."""
    e, did = disputed()
    e, ev = make_offer(e, did, "supplier", 30_000, 10_001, None, "apikey:s", T0 + DAY)
    due = e.dispute(did).respond_by
    assert due is not None
    with pytest.raises(InvalidTransition):
        accept_offer(e, did, ev[0].offer_id, "buyer", due)
    with pytest.raises(InvalidTransition):
        make_offer(e, did, "buyer", 40_001, 0, None, "apikey:p", due)
    e, _ = accept_offer(e, did, ev[0].offer_id, "buyer", due - DAY)  # inside it: as before
    assert e.dispute(did).status == "resolved"
