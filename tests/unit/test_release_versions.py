"""escrow.milestone_released v1 (no payout id), v2 (names its payout) and v3 (its payout's
conversion, issue 14) on one topic."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest
from pydantic import ValidationError

from shared.events import REGISTRY, Envelope
from shared.events.escrow import MilestoneReleased, MilestoneReleasedV1

V1_DATA: dict[str, Any] = {
    "order_id": "o1", "milestone_id": "m1", "currency": "USD", "gross": 10_000,
    "platform_fee": 100, "lien_repayment": 2_000, "supplier_net": 7_900, "advance_id": "a1",
    "stripe_transfer_id": "tr_1", "held_after": 0,
}  # fmt: skip
PAYOUT = "01968a4e-3b1a-7c3e-9f00-5d2b7c1e0a11"


def v1_envelope() -> Envelope:
    return Envelope.wrap(
        MilestoneReleasedV1(**V1_DATA), source="escrow", tenant_id="t1", subject="o1"
    )


def test_v3_is_current_and_v1_is_superseded_not_forgotten() -> None:
    assert REGISTRY.model("escrow.milestone_released") is MilestoneReleased
    assert MilestoneReleased.event_version == 3
    assert MilestoneReleasedV1 in REGISTRY.superseded()
    assert (MilestoneReleasedV1.event_type, MilestoneReleasedV1.event_version) == (
        "escrow.milestone_released",
        1,
    )


def test_a_v1_release_upcasts_to_v2_without_a_payout_id_and_keeps_every_field() -> None:
    env = v1_envelope()
    assert env.version == 1 and env.data == V1_DATA
    released = env.payload()
    assert type(released) is MilestoneReleased
    assert released.payout_id is None
    assert released.payout_fx is None
    assert released.model_dump(exclude={"payout_id", "payout_fx"}) == V1_DATA


def test_a_v1_release_through_kafka_headers_is_read_as_v2() -> None:
    env = v1_envelope()
    back = Envelope.from_kafka(*env.to_kafka()[1:])
    assert back.version == 1
    assert back.payload() == MilestoneReleased(**V1_DATA, payout_id=None)


def test_a_v1_release_that_was_never_valid_v1_is_refused_not_upcast() -> None:
    for bad in ({**V1_DATA, "gross": 100.0}, {**V1_DATA, "payout_id": PAYOUT}):
        with pytest.raises(ValidationError):
            REGISTRY.load("escrow.milestone_released", 1, bad)


def test_a_v2_release_names_its_payout_and_is_its_payouts_event() -> None:
    released = MilestoneReleased(**V1_DATA, payout_id=PAYOUT)
    assert released.envelope_id() == UUID(PAYOUT)
    env = Envelope.wrap(
        released, source="escrow", tenant_id="t1", subject="o1", event_id=released.envelope_id()
    )
    assert (env.version, env.id, env.data["payout_id"]) == (3, UUID(PAYOUT), PAYOUT)
    assert Envelope.from_kafka(*env.to_kafka()[1:]).payload() == released
    with pytest.raises(ValidationError):  # v2 always says whether it names its payout
        MilestoneReleased(**V1_DATA)


def test_a_version_newer_than_the_code_is_not_read_as_an_older_one() -> None:
    env = v1_envelope().model_copy(update={"version": 4})
    with pytest.raises(LookupError, match="newer"):
        env.payload()
