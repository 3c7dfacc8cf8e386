"""Posting rules are found by event model, after upcasting: every version of a type posts by
its one rule, a v1 milestone_released exactly as before v2 existed."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest

from services.ledger.domain.rules import POSTED_TYPES, RULES, draft_for, rule_for
from shared.events import REGISTRY, Envelope
from shared.events.escrow import MilestoneReleased, MilestoneReleasedV1
from tests.unit.test_release_versions import V1_DATA


def wrap(payload: Any) -> Envelope:
    return Envelope.wrap(payload, source="escrow", tenant_id="t1", subject="o1")


def test_every_rule_is_keyed_by_the_current_model_of_its_type() -> None:
    for model in RULES:
        assert REGISTRY.model(model.event_type) is model, model
    assert {m.event_type for m in RULES} == POSTED_TYPES
    assert "escrow.milestone_released" in POSTED_TYPES


def test_a_v1_and_a_v2_release_post_the_same_transaction() -> None:
    v1 = wrap(MilestoneReleasedV1(**V1_DATA))
    v2 = wrap(MilestoneReleased(**V1_DATA, payout_id=str(uuid4())))
    one, two = draft_for(v1), draft_for(v2)
    assert one is not None and two is not None
    assert (one.memo, one.lines, one.source_type) == (two.memo, two.lines, two.source_type)
    assert (one.source_event_id, two.source_event_id) == (v1.id, v2.id)
    assert [(ln.code, ln.amount, ln.subledger, ln.external_ref) for ln in one.lines] == [
        ("escrow_held", 10_000, "o1", None),
        ("platform_fee_revenue", -100, "", None),
        ("advance_receivable", -2_000, "a1", None),
        ("supplier_payable", -7_900, "", None),
        ("supplier_payable", 7_900, "", None),
        ("stripe_clearing", -7_900, "", "tr_1"),
    ]


def test_a_payload_that_was_not_upcast_is_refused_not_left_unposted() -> None:
    v1 = wrap(MilestoneReleasedV1(**V1_DATA))
    with pytest.raises(TypeError, match="upcasts"):
        rule_for(MilestoneReleasedV1(**V1_DATA))
    with pytest.raises(TypeError):
        draft_for(v1, MilestoneReleasedV1(**V1_DATA))
    given, parsed = draft_for(v1, v1.payload()), draft_for(v1)
    assert given is not None and parsed is not None and given.lines == parsed.lines


def test_an_event_the_ledger_does_not_post_is_not_parsed() -> None:
    newer = Envelope(
        type="escrow.inspection_started", version=99, source="escrow", tenant_id="t1",
        subject="o1", correlation_id=uuid4(), data={},
    )  # fmt: skip
    assert draft_for(newer) is None
