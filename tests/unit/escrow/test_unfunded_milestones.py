"""A lost card chargeback can leave milestones with no money behind them: the bank took it
back, so nothing will ever pay them. They are settled (closed unpaid, or reduced to what is
left), with ``escrow.milestone_settled_unpaid``, and the order completes."""

from __future__ import annotations

import pytest

from services.escrow.domain.disputes import close_chargeback, open_chargeback
from services.escrow.domain.errors import InvalidTransition
from services.escrow.domain.milestones import accept_milestone
from services.escrow.domain.payouts import begin_release
from tests.unit.escrow.builders import DAY, T0, funded, ms, new_order


def test_a_milestone_a_lost_chargeback_emptied_closes_unpaid_and_the_order_completes() -> None:
    e = funded(new_order())
    e, _ = open_chargeback(e, "dp_1", e.total, "fraudulent", "pay-1", T0 + DAY)
    e, _ = accept_milestone(e, ms(e, 1))  # accepted while frozen: its release must wait
    with pytest.raises(InvalidTransition):
        begin_release(e, ms(e, 1))
    e, events = close_chargeback(e, "dp_1", "lost")
    assert e.held == 0 and e.refunded == e.total
    assert [m.status for m in e.milestones] == ["closed_unpaid"] * 3
    assert [m.unfunded_amount for m in e.milestones] == [30_000, 40_000, 30_000]
    settled = [ev for ev in events if ev.event_type == "escrow.milestone_settled_unpaid"]
    assert [(s.milestone_id, s.unfunded_amount) for s in settled] == [  # type: ignore[attr-defined]
        (ms(e, 2), 30_000),
        (ms(e, 1), 40_000),
        (ms(e, 0), 30_000),
    ]
    assert e.status == "completed" and events[-1].event_type == "escrow.completed"


def test_a_partly_covered_milestone_keeps_what_is_left_and_releases_only_that() -> None:
    """50,000 of 100,000 taken back: the last milestone (30,000) closes unpaid, the middle
    one keeps 20,000 of its 40,000; the first is untouched."""
    e = funded(new_order())
    e, _ = open_chargeback(e, "dp_1", 50_000, "fraudulent", "pay-1", T0 + DAY)
    e, _ = close_chargeback(e, "dp_1", "lost")
    assert [m.unfunded_amount for m in e.milestones] == [0, 20_000, 30_000]
    assert e.milestones[2].status == "closed_unpaid" and e.status == "funded"
    e, _ = accept_milestone(e, ms(e, 1))
    e, _ = begin_release(e, ms(e, 1))
    assert e.payouts[-1].gross == 20_000 and e.available == 30_000


def test_empty_dispute_evidence_is_invalid_evidence_not_an_amount() -> None:
    """Evidence with neither text nor a document (or blank text, or a bad hash) is refused
    as ``invalid_evidence``: nothing in it is an amount."""
    from services.escrow.domain.disputes import open_dispute
    from services.escrow.domain.errors import InvalidEvidence
    from services.escrow.domain.negotiation import add_evidence
    from services.escrow.domain.records import DocumentRef
    from tests.unit.escrow.builders import evidenced

    e = evidenced(funded(new_order()), 1)
    e, _ = open_dispute(e, ms(e, 1), "wet", [], T0 + DAY)
    did = e.disputes[-1].dispute_id
    bad = DocumentRef(document_type="photo", sha256="x" * 64, uri="https://f.example/x")
    for text, doc in ((None, None), ("   ", None), (None, bad)):
        with pytest.raises(InvalidEvidence) as refused:
            add_evidence(e, did, "buyer", text, doc, "apikey:p", T0 + DAY)
        assert refused.value.code == "invalid_evidence"
