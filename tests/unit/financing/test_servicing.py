"""Repayment waterfall (fee first, then principal), amortisation, early repayment rebate."""

from __future__ import annotations

from dataclasses import replace

from services.financing.domain.lifecycle import cancel
from services.financing.domain.servicing import (
    amortize,
    apply_repayment,
    disburse,
    next_amortization_at,
    payoff_quote,
    repay_early,
)
from shared.events.financing import (
    AdvanceDisbursed,
    AdvanceRepaidEarly,
    FeeAmortized,
    LienReleaseRequested,
    RepaymentApplied,
)
from tests.unit.financing.builders import DAY, T0, disbursed_advance

# The advance of the worked example: 56,000.00, fee 1,680.00 over 70 days from T0
# (the inspection release is expected on day 70), net 54,320.00 to the supplier.


def test_worked_example_terms() -> None:
    a = disbursed_advance()
    assert (a.principal, a.fee, a.net, a.term_days) == (5_600_000, 196_000, 5_404_000, 70)


def test_a_partial_repayment_pays_the_fee_first_then_principal() -> None:
    a = disbursed_advance()
    a, events = apply_repayment(a, 4_000_000, T0 + 30 * DAY)
    (applied, _changed) = events
    assert isinstance(applied, RepaymentApplied)
    assert (applied.to_fee, applied.to_principal) == (196_000, 3_804_000)
    assert applied.balance_after == 1_600_000 == a.balance
    assert a.state == "partially_repaid" and a.fee_due == 0
    a, events = apply_repayment(a, 100, T0 + 31 * DAY)
    assert [type(e) for e in events] == [RepaymentApplied]  # already partially repaid


def test_a_small_repayment_goes_to_the_fee_only() -> None:
    a, _ = apply_repayment(disbursed_advance(), 50_000, T0 + DAY)
    assert (a.repaid_fee, a.repaid_principal, a.fee_due) == (50_000, 0, 146_000)


def test_full_repayment_earns_the_remaining_fee_and_overpayment_is_kept_apart() -> None:
    a = disbursed_advance()
    a, _ = amortize(a, T0 + 10 * DAY)
    assert a.fee_amortized == 28_000  # 10 of 70 days of 1,960.00
    a, events = apply_repayment(a, 5_600_100, T0 + 40 * DAY)
    assert a.state == "repaid" and a.balance == 0 and a.unapplied == 100
    earned = [e for e in events if isinstance(e, FeeAmortized)]
    assert [e.amount for e in earned] == [168_000] and a.fee_amortized == a.fee
    assert apply_repayment(a, 500, T0 + 41 * DAY)[0].unapplied == 600


def test_amortisation_catches_up_missed_days_and_stops_at_the_fee() -> None:
    a = disbursed_advance()
    assert amortize(a, T0 + DAY / 2) == (a, [])
    assert next_amortization_at(a, T0 + DAY / 2) == T0 + DAY
    a, events = amortize(a, T0 + 3 * DAY)
    assert [e.amount for e in events if isinstance(e, FeeAmortized)] == [8_400]
    assert amortize(a, T0 + 3 * DAY + DAY / 3) == (a, [])  # the same day twice: nothing
    a, events = amortize(a, T0 + 200 * DAY)
    assert a.fee_amortized == 196_000
    assert next_amortization_at(a, T0 + 200 * DAY) is None


def test_early_repayment_rebates_the_unearned_fee_pro_rata() -> None:
    # After 20 of 70 days: earned 20/70 of 1,960.00 = 560.00; 1,400.00 rebated.
    a = disbursed_advance()
    assert payoff_quote(a, T0 + 20 * DAY) == (5_600_000 - 140_000, 140_000)
    a, events = repay_early(a, T0 + 20 * DAY, "apikey:s1", "pi_1")
    earned = [e for e in events if isinstance(e, FeeAmortized)]
    repaid = next(e for e in events if isinstance(e, AdvanceRepaidEarly))
    assert [e.amount for e in earned] == [56_000]
    assert (repaid.amount, repaid.fee_rebate) == (5_460_000, 140_000)
    assert isinstance(events[-1], LienReleaseRequested)
    assert a.state == "repaid" and a.balance == 0
    # the deferred fee is fully settled: earned + rebated = fee
    assert a.fee_amortized + a.fee_rebated == a.fee


def test_early_repayment_after_a_partial_release_repayment() -> None:
    a = disbursed_advance()
    a, _ = apply_repayment(a, 4_000_000, T0 + 30 * DAY)
    # 30 of 70 days earned = 840.00; unearned 1,120.00 rebated from the 16,000.00 balance
    amount, rebate = payoff_quote(a, T0 + 30 * DAY)
    assert (amount, rebate) == (1_600_000 - 112_000, 112_000)
    a, _ = repay_early(a, T0 + 30 * DAY, "apikey:s1", None)
    assert a.balance == 0 and a.fee_amortized + a.fee_rebated == a.fee


def test_a_release_before_disbursement_counts_once_the_advance_pays_out() -> None:
    # lien_placed was parked (e.g. Stripe unreachable) while escrow already repaid the lien
    # from a release; the lien_placed replayed later disburses the advance.
    a = disbursed_advance()
    accepted = replace(a, state="accepted", disbursed_at=None, stripe_transfer_id=None)
    accepted, events = apply_repayment(accepted, 4_000_000, T0 + DAY)
    (applied,) = events
    assert isinstance(applied, RepaymentApplied) and applied.amount == 4_000_000
    assert (applied.to_fee, applied.to_principal) == (196_000, 3_804_000)
    assert accepted.state == "accepted" and accepted.unapplied == 0
    paid, _ = disburse(accepted, "tr_1", T0 + 2 * DAY)
    assert (paid.state, paid.balance) == ("partially_repaid", 1_600_000)


def test_a_release_that_repays_all_before_disbursement_leaves_the_advance_repaid() -> None:
    a = disbursed_advance()
    accepted = replace(a, state="accepted", disbursed_at=None, stripe_transfer_id=None)
    accepted, _ = apply_repayment(accepted, 5_600_000, T0 + DAY)
    paid, events = disburse(accepted, "tr_1", T0 + 2 * DAY)
    assert (paid.state, paid.balance, paid.fee_amortized) == ("repaid", 0, paid.fee)
    assert any(isinstance(e, AdvanceDisbursed) for e in events)


def test_a_cancelled_advance_owes_back_what_a_release_repaid_before_payout() -> None:
    a = disbursed_advance()
    accepted = replace(a, state="accepted", disbursed_at=None, stripe_transfer_id=None)
    accepted, _ = apply_repayment(accepted, 1_000_000, T0 + DAY)
    cancelled, _ = cancel(accepted, "transfer_failed:x", lien_placed=True)
    assert (cancelled.state, cancelled.balance, cancelled.unapplied) == ("cancelled", 0, 1_000_000)


def test_a_repayment_beyond_the_balance_is_reported_whole_so_the_ledger_agrees() -> None:
    # The ledger credits the advance receivable with everything escrow repaid; the event
    # must carry all of it, with the split showing what was applied.
    a, _ = repay_early(disbursed_advance(), T0 + 20 * DAY, "apikey:s1", None)
    a, events = apply_repayment(a, 300_000, T0 + 21 * DAY)
    (applied,) = events
    assert isinstance(applied, RepaymentApplied)
    assert (applied.amount, applied.to_fee, applied.to_principal) == (300_000, 0, 0)
    assert a.unapplied == 300_000 and a.state == "repaid"
