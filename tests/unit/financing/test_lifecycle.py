"""State machine from quote to disbursement, with the lien saga's answers in any order."""

from __future__ import annotations

import pytest

from services.financing.domain.advance import AdvanceRuleViolated
from services.financing.domain.lifecycle import (
    LienAnswer,
    accept,
    cancel,
    expire,
    on_lien_placed,
    open_advance,
    record_disbursement,
)
from services.financing.domain.sizing import Exposure, Offer, size
from shared.events.financing import (
    AdvanceDisbursed,
    AdvanceOffered,
    AdvanceRefused,
    AdvanceStateChanged,
    LienReleaseRequested,
    LienRequested,
)
from tests.unit.financing.builders import DAY, T0, order_30_40_30, policy


def offered(requested: int | None = 3_500_000):  # type: ignore[no-untyped-def]
    outcome = size(order_30_40_30(), policy(), Exposure(), T0, requested=requested)
    assert isinstance(outcome, Offer)
    return open_advance("a1", order_30_40_30(), "s1", outcome, policy(), T0)


def test_an_offer_carries_its_price_and_expiry() -> None:
    advance, events = offered()
    assert advance.state == "offered" and advance.expires_at == T0 + DAY
    (event,) = events
    assert isinstance(event, AdvanceOffered)
    assert (event.principal, event.fee, event.term_days) == (3_500_000, 52_500, 30)


def test_a_refusal_is_recorded_with_its_reasons() -> None:
    outcome = size(order_30_40_30(), policy(), Exposure(), T0, requested=9_000_000)
    advance, events = open_advance("a2", order_30_40_30(), "s1", outcome, policy(), T0)
    assert advance.state == "rejected" and advance.reasons == ("advance_rate",)
    assert isinstance(events[0], AdvanceRefused) and events[0].reasons == ["advance_rate"]


def test_accepting_requests_a_lien_for_the_principal() -> None:
    advance, _ = offered()
    accepted, events = accept(advance, T0 + DAY / 2, "apikey:s1")
    assert accepted.state == "accepted" and accepted.exposure == 3_500_000
    changed, lien = events
    assert isinstance(changed, AdvanceStateChanged) and changed.actor == "apikey:s1"
    assert isinstance(lien, LienRequested) and lien.amount == 3_500_000
    with pytest.raises(AdvanceRuleViolated) as err:
        accept(accepted, T0, "apikey:s1")
    assert err.value.code == "offer_not_open"


def test_an_offer_accepted_too_late_is_refused() -> None:
    advance, _ = offered()
    with pytest.raises(AdvanceRuleViolated) as err:
        accept(advance, T0 + DAY, "apikey:s1")
    assert err.value.code == "offer_not_open"


def test_the_expiry_timer_only_lapses_open_offers() -> None:
    advance, _ = offered()
    assert expire(advance, T0)[0].state == "offered"  # not yet due
    assert expire(advance, T0 + DAY)[0].state == "expired"
    accepted, _ = accept(advance, T0, "apikey:s1")
    assert expire(accepted, T0 + 2 * DAY) == (accepted, [])


def test_lien_placed_disburses_once_and_late_answers_are_harmless() -> None:
    advance, _ = offered()
    accepted, _ = accept(advance, T0, "apikey:s1")
    assert on_lien_placed(accepted) is LienAnswer.DISBURSE
    disbursed, events = record_disbursement(accepted, "tr_1", T0)
    assert disbursed.state == "disbursed" and disbursed.balance == 3_500_000
    paid = events[-1]
    assert isinstance(paid, AdvanceDisbursed)
    assert (paid.principal, paid.fee, paid.net_disbursed) == (3_500_000, 52_500, 3_447_500)
    assert on_lien_placed(disbursed) is LienAnswer.IGNORE  # duplicate answer
    cancelled, _ = cancel(accepted, "lien_refused", lien_placed=False)
    assert on_lien_placed(cancelled) is LienAnswer.RELEASE  # placed after we gave up


def test_refused_lien_or_failed_transfer_cancels_and_releases_what_was_placed() -> None:
    advance, _ = offered()
    accepted, _ = accept(advance, T0, "apikey:s1")
    refused, events = cancel(accepted, "lien_refused", lien_placed=False)
    assert refused.state == "cancelled" and refused.exposure == 0
    assert not any(isinstance(e, LienReleaseRequested) for e in events)
    failed, events = cancel(accepted, "transfer_failed", lien_placed=True)
    assert failed.state == "cancelled"
    assert isinstance(events[-1], LienReleaseRequested) and events[-1].reason == "transfer_failed"
    assert cancel(failed, "again", lien_placed=True) == (failed, [])  # duplicate: no-op
