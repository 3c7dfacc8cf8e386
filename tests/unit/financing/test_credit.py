"""Credit events: freeze on dispute, recourse after refund, default, write-off, recovery."""

from __future__ import annotations

import pytest

from services.financing.domain.advance import AdvanceRuleViolated
from services.financing.domain.credit import (
    claim_recourse,
    freeze,
    mark_default,
    record_recovery,
    unfreeze,
    write_off,
)
from services.financing.domain.servicing import apply_repayment
from shared.events.financing import (
    AdvanceWrittenOff,
    FeeAmortized,
    LienReleaseRequested,
    RecourseClaimed,
    RecoveryRecorded,
)
from tests.unit.financing.builders import DAY, T0, disbursed_advance


def test_a_dispute_freezes_and_its_resolution_restores_the_state() -> None:
    a, _ = apply_repayment(disbursed_advance(), 1_000_000, T0 + DAY)
    frozen, events = freeze(a, "d1")
    assert frozen.state == "frozen" and events[0].reason == "dispute:d1"  # type: ignore[attr-defined]
    assert freeze(frozen, "d2") == (frozen, [])
    frozen, _ = apply_repayment(frozen, 1_000, T0 + 2 * DAY)  # releases still repay
    assert frozen.state == "frozen"
    back, _ = unfreeze(frozen, "d1")
    assert back.state == "partially_repaid"


def test_a_refund_shortfall_becomes_a_recourse_claim_once() -> None:
    a = disbursed_advance()
    a, events = claim_recourse(a, capacity=2_000_000)
    assert a.state == "recourse" and a.recourse == 3_600_000
    assert isinstance(events[-1], RecourseClaimed) and events[-1].amount == 3_600_000
    assert claim_recourse(a, capacity=2_000_000) == (a, [])  # replayed refund: no second claim
    a, events = claim_recourse(a, capacity=0)
    assert isinstance(events[-1], RecourseClaimed) and events[-1].amount == 2_000_000
    assert claim_recourse(disbursed_advance(), capacity=6_000_000)[1] == []


def test_default_earns_the_fee_then_write_off_takes_the_balance_and_releases_the_lien() -> None:
    a, _ = apply_repayment(disbursed_advance(), 1_000_000, T0 + DAY)
    a, events = mark_default(a, T0 + 5 * DAY, "apikey:finance", "supplier insolvent")
    assert a.state == "defaulted" and a.fee_amortized == a.fee
    assert isinstance(events[0], FeeAmortized) and events[0].amount == a.fee
    a, events = write_off(a, "apikey:finance", "uncollectable")
    lost = events[0]
    assert isinstance(lost, AdvanceWrittenOff) and lost.amount == 4_600_000
    assert isinstance(events[-1], LienReleaseRequested)
    assert a.state == "written_off" and a.balance == 0


def test_recoveries_after_write_off_up_to_the_loss() -> None:
    a, _ = mark_default(disbursed_advance(), T0, "apikey:finance", "x")
    a, _ = write_off(a, "apikey:finance", "x")
    a, events = record_recovery(a, 600_000, "apikey:finance", None)
    assert isinstance(events[0], RecoveryRecorded) and a.state == "written_off"
    with pytest.raises(AdvanceRuleViolated) as err:
        record_recovery(a, 5_000_001, "apikey:finance", None)
    assert err.value.code == "recovery_exceeds_loss"
    a, _ = record_recovery(a, 5_000_000, "apikey:finance", None)
    assert a.state == "recovered"


def test_finance_commands_check_the_state() -> None:
    a = disbursed_advance()
    for command, code in (
        (lambda: write_off(a, "f", "r"), "not_defaulted"),
        (lambda: record_recovery(a, 1, "f", None), "not_written_off"),
    ):
        with pytest.raises(AdvanceRuleViolated) as err:
            command()
        assert err.value.code == code


def test_a_partial_release_repayment_keeps_a_defaulted_advance_defaulted() -> None:
    # the default is finance staff's call; a release that repays part of it does not cure it,
    # and finance can still write off the rest
    a, _ = mark_default(disbursed_advance(), T0 + DAY, "apikey:finance", "supplier insolvent")
    a, _ = apply_repayment(a, 1_000_000, T0 + 2 * DAY)
    assert a.state == "defaulted" and a.balance == 4_600_000
    a, _ = write_off(a, "apikey:finance", "uncollectable")
    assert a.state == "written_off" and a.written_off == 4_600_000
