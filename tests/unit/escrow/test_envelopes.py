"""The envelopes of one escrow decision: ids, and the conversation they belong to."""

from __future__ import annotations

from uuid import UUID

from services.escrow.domain.milestones import accept_milestone
from services.escrow.domain.payouts import begin_release, complete_payout
from services.escrow.service_layer.decisions import envelopes
from tests.unit.escrow.builders import T0, funded, ms, new_order


def test_a_decision_outside_any_conversation_starts_one_that_all_its_events_share() -> None:
    """A timer's decision (no request, no event being handled) starts a conversation. Its
    events were each a conversation of their own, and the release's correlation id named an
    event id that was thrown away when the envelope was given the payout's id."""
    e = funded(new_order((30_000,), ("contract",)))
    e, _ = accept_milestone(e, ms(e, 0))
    e, _ = begin_release(e, ms(e, 0))
    payout = e.payouts[0]
    e, events = complete_payout(e, payout.payout_id, "tr_1")  # the release completes the order
    envs = envelopes(T0, e, events, None)
    assert [env.type for env in envs] == ["escrow.milestone_released", "escrow.completed"]
    released = envs[0]
    assert released.id == UUID(payout.payout_id)
    assert [env.correlation_id for env in envs] == [released.id, released.id]
    assert [env.causation_id for env in envs] == [None, None]


def test_a_release_is_published_as_v3_naming_its_payout_which_is_its_id() -> None:
    e = funded(new_order())
    e, _ = accept_milestone(e, ms(e, 0))
    e, _ = begin_release(e, ms(e, 0))
    payout = e.payouts[0]
    e, events = complete_payout(e, payout.payout_id, "tr_1")
    (released,) = envelopes(T0, e, events, None)
    assert (released.type, released.version) == ("escrow.milestone_released", 3)
    assert released.data["payout_id"] == payout.payout_id == str(released.id)
