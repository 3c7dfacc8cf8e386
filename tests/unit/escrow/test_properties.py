"""Property: whatever commands arrive, in whatever order, the money adds up.

Random command sequences run against the domain; each either applies or is refused with a
typed error. After every step: held = funded - released - refunded >= 0, nothing reserved
beyond what is held, no milestone paid beyond its amount, and every money event's
``held_after`` equals the state's held amount.
"""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from services.escrow.domain.adjustments import consent_partial_refund, propose_partial_refund
from services.escrow.domain.deadlines import lapse
from services.escrow.domain.disputes import open_chargeback, open_dispute, resolve_dispute
from services.escrow.domain.errors import EscrowError
from services.escrow.domain.funding import record_funding, record_funding_failure
from services.escrow.domain.liens import release_lien, request_lien
from services.escrow.domain.milestones import accept_milestone, auto_accept, submit_evidence
from services.escrow.domain.model import Escrow
from services.escrow.domain.negotiation import accept_offer, escalate, make_offer
from services.escrow.domain.payouts import abort_payout, begin_release, complete_payout
from services.escrow.domain.refunds import cancel_order, complete_refund
from services.escrow.domain.rejections import (
    answer_rejection,
    confirm_return,
    reject_milestone,
    ship_return,
)
from services.escrow.domain.rules import Decision
from tests.unit.escrow.builders import EVIDENCE, T0, new_order

MILESTONES = 3


def apply(e: Escrow, cmd: tuple, step: int) -> Decision:
    name, i, n = cmd
    now = T0 + timedelta(hours=step * 7)
    mid = e.milestones[i % MILESTONES].milestone_id
    pending_p = [p.payout_id for p in e.payouts if p.status == "pending"]
    pending_r = [r.refund_id for r in e.refunds if r.status == "pending"]
    open_d = [d.dispute_id for d in e.disputes if d.is_open]
    negotiable = [
        d.dispute_id
        for d in e.disputes
        if d.milestone_id is not None and d.status in ("open", "negotiating")
    ]
    offers = [(d.dispute_id, o) for d in e.disputes for o in d.offers if o.status == "open"]
    proposals = [p.proposal_id for p in e.refund_proposals if p.status == "open"]
    party = ("buyer", "supplier")[n % 2]
    match name:
        case "fund":
            return record_funding(e, f"p{n % 4}", 1 + n * 997 % 60_000, "stripe", now)
        case "wire":
            return record_funding(e, f"w{step}", 1 + n * 613 % 50_000, "wire", now)
        case "fail":
            return record_funding_failure(e, f"p{n % 4}", "declined")
        case "evidence":
            kind = ("shipment", "delivery", "inspection")[n % 3]
            return submit_evidence(e, mid, kind, EVIDENCE[kind], "s", now)
        case "accept":
            return accept_milestone(e, mid)
        case "auto":
            return auto_accept(e, mid, now + timedelta(days=n % 5))
        case "release":
            return begin_release(e, mid)
        case "transfer_ok" if pending_p:
            return complete_payout(e, pending_p[n % len(pending_p)], "tr")
        case "transfer_failed" if pending_p:
            return abort_payout(e, pending_p[n % len(pending_p)])
        case "refund_ok" if pending_r:
            return complete_refund(e, pending_r[n % len(pending_r)], "re")
        case "dispute":
            return open_dispute(e, mid, "bad", [], now)
        case "resolve" if open_d:
            outcome = ("release", "refund", "split")[n % 3]
            return resolve_dispute(e, open_d[0], outcome, 1 + n % 9_000)  # type: ignore[arg-type]
        case "cancel":
            return cancel_order(e, "x")
        case "chargeback":
            return open_chargeback(e, f"dp{n % 2}", 1 + n * 31 % 40_000, "fraud")
        case "lien":
            return request_lien(e, f"adv{n % 2}", 1 + n * 71 % 80_000, "USD", "supplier-1")
        case "unlien":
            return release_lien(e, f"adv{n % 2}", "done")
        case "failed_inspection":
            report = {"inspector": "SGS", "report_id": f"R{n}", "passed": False}
            return submit_evidence(e, mid, "inspection", report, "s", now)
        case "offer" if negotiable:
            d = e.dispute(negotiable[n % len(negotiable)])
            release = n * 37 % (d.amount + 1)
            return make_offer(e, d.dispute_id, party, release, d.amount - release, None, "k", now)
        case "accept_offer" if offers:
            did, offer = offers[n % len(offers)]
            other = "supplier" if offer.party == "buyer" else "buyer"
            return accept_offer(e, did, offer.offer_id, other, now)  # type: ignore[arg-type]
        case "escalate" if negotiable:
            return escalate(e, negotiable[n % len(negotiable)], party, "x", now)  # type: ignore[arg-type]
        case "lapse":
            subjects = [(d.dispute_id, "dispute") for d in e.disputes]
            subjects += [(m.milestone_id, "milestone") for m in e.milestones]
            subjects += [(p.proposal_id, "refund_proposal") for p in e.refund_proposals]
            subject, what = subjects[n % len(subjects)]
            return lapse(e, what, subject, now + timedelta(days=n % 40), "system:deadline")
        case "reject":
            remedy = ("dispute", "return")[n % 2]
            return reject_milestone(e, mid, remedy, ["bad"], [], "k", now)
        case "answer_rejection":
            remedy = ("return", "reinspection", "replacement")[n % 3]
            return answer_rejection(e, mid, remedy, now, "k")  # type: ignore[arg-type]
        case "ship_return":
            return ship_return(e, mid, "DHL", f"T{n}", None, now)
        case "confirm_return":
            return confirm_return(e, mid)
        case "propose":
            amount = 1 + n * 53 % 20_000
            return propose_partial_refund(e, mid, amount, "late", party, "k", now)  # type: ignore[arg-type]
        case "consent" if proposals:
            pid = proposals[n % len(proposals)]
            return consent_partial_refund(e, pid, party, "k", now)  # type: ignore[arg-type]
    return e, []


NAMES = st.sampled_from(
    [
        "fund",
        "wire",
        "fail",
        "evidence",
        "accept",
        "auto",
        "release",
        "transfer_ok",
        "transfer_failed",
        "refund_ok",
        "dispute",
        "resolve",
        "cancel",
        "chargeback",
        "lien",
        "unlien",
        "failed_inspection",
        "offer",
        "accept_offer",
        "escalate",
        "lapse",
        "reject",
        "answer_rejection",
        "ship_return",
        "confirm_return",
        "propose",
        "consent",
    ]
)
COMMANDS = st.lists(
    st.tuples(NAMES, st.integers(0, MILESTONES - 1), st.integers(0, 10_000)), max_size=60
)


@settings(max_examples=600, deadline=None)
@given(COMMANDS)
def test_random_command_sequences_keep_the_money_invariants(commands: list[tuple]) -> None:
    e = new_order((30_000, 40_000, 30_000), ("contract", "shipment", "delivery"))
    for step, cmd in enumerate(commands):
        try:
            after, events = apply(e, cmd, step)
        except EscrowError:
            continue  # refused: the state stays as it was
        money = [ev for ev in events if hasattr(ev, "held_after")]
        assert all(ev.held_after >= 0 for ev in money)
        if money:
            assert money[-1].held_after == after.held
        e = after
        assert e.held == e.funded - e.released - e.refunded >= 0
        assert 0 <= e.reserved <= e.held
        assert e.released == sum(p.gross for p in e.payouts if p.status == "done")
        assert e.refunded == sum(r.amount for r in e.refunds if r.status == "done")
        for m in e.milestones:
            assert m.released_amount + m.refunded_amount <= m.amount
            if m.status in ("released", "refunded"):  # settled: every unit went somewhere
                assert m.released_amount + m.refunded_amount == m.amount, m
        for d in e.disputes:
            if d.status == "resolved" and d.release_amount is not None:
                assert d.release_amount + (d.refund_amount or 0) == d.amount
        for p in e.payouts:
            assert p.platform_fee + p.lien_repayment + p.supplier_net == p.gross
        if e.lien is not None:
            assert 0 <= e.lien.repaid <= e.lien.amount


PEOPLE = st.sampled_from(
    [
        "failed_inspection",
        "dispute",
        "offer",
        "offer",
        "accept_offer",
        "accept_offer",
        "escalate",
        "resolve",
        "lapse",
        "reject",
        "reject",
        "answer_rejection",
        "answer_rejection",
        "answer_rejection",
        "ship_return",
        "ship_return",
        "ship_return",
        "confirm_return",
        "confirm_return",
        "propose",
        "consent",
        "accept",
        "evidence",
        "transfer_ok",
        "transfer_failed",
        "refund_ok",
        "lien",
    ]
)


def check(e: Escrow) -> None:
    assert e.held == e.funded - e.released - e.refunded >= 0
    assert 0 <= e.reserved <= e.held and e.available >= 0
    for m in e.milestones:
        assert m.released_amount + m.refunded_amount <= m.amount
        if m.status in ("released", "refunded"):
            assert m.released_amount + m.refunded_amount == m.amount, m
    for d in e.disputes:
        if d.status == "resolved" and d.release_amount is not None:
            assert d.release_amount + (d.refund_amount or 0) == d.amount
        assert sum(o.status == "open" for o in d.offers) <= 1


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.tuples(PEOPLE, st.integers(0, MILESTONES - 1), st.integers(0, 10_000)), max_size=40)
)
def test_people_running_disputes_returns_and_partial_refunds_keep_the_money_exact(
    commands: list[tuple],
) -> None:
    """From a funded order whose milestones are in inspection or failed it, the commands
    people give (offers, acceptances, rejections, returns, partial refunds, deadlines)."""
    e = new_order((30_001, 40_000, 29_999), ("contract", "shipment", "delivery"))
    e, _ = record_funding(e, "p0", e.total, "stripe", T0)
    for i in (1, 2):
        m = e.milestones[i]
        e, _ = submit_evidence(e, m.milestone_id, m.kind, EVIDENCE[m.kind], "s", T0)  # type: ignore[arg-type]
    for step, cmd in enumerate(commands):
        try:
            after, events = apply(e, cmd, step)
        except EscrowError:
            continue
        money = [ev for ev in events if hasattr(ev, "held_after")]
        if money:
            assert money[-1].held_after == after.held
        e = after
        check(e)
