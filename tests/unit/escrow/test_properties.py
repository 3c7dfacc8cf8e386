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

from services.escrow.domain.disputes import open_chargeback, open_dispute, resolve_dispute
from services.escrow.domain.errors import EscrowError
from services.escrow.domain.funding import record_funding, record_funding_failure
from services.escrow.domain.liens import release_lien, request_lien
from services.escrow.domain.milestones import accept_milestone, auto_accept, submit_evidence
from services.escrow.domain.model import Escrow
from services.escrow.domain.payouts import abort_payout, begin_release, complete_payout
from services.escrow.domain.refunds import cancel_order, complete_refund
from services.escrow.domain.rules import Decision
from tests.unit.escrow.builders import EVIDENCE, T0, new_order

MILESTONES = 3


def apply(e: Escrow, cmd: tuple, step: int) -> Decision:
    name, i, n = cmd
    now = T0 + timedelta(hours=step * 7)
    mid = e.milestones[i % MILESTONES].milestone_id
    pending_p = [p.payout_id for p in e.payouts if p.status == "pending"]
    pending_r = [r.refund_id for r in e.refunds if r.status == "pending"]
    open_d = [d.dispute_id for d in e.disputes if d.status == "open"]
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
    ]
)
COMMANDS = st.lists(
    st.tuples(NAMES, st.integers(0, MILESTONES - 1), st.integers(0, 10_000)), max_size=40
)


@settings(max_examples=300, deadline=None)
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
        for p in e.payouts:
            assert p.platform_fee + p.lien_repayment + p.supplier_net == p.gross
        if e.lien is not None:
            assert 0 <= e.lien.repaid <= e.lien.amount
