"""Servicing a disbursed advance: repayments from releases, fee amortisation, early payoff.

Repayment waterfall (written down once): each repayment pays the fee first, then the
principal (the lender's income before its capital, the usual order for interest and
principal); anything beyond the balance is ``unapplied`` and due back to the supplier.

Amortisation: the fee is earned per whole day since disbursement (pricing.earned_through).
The daily timer emits the catch-up since the last tick, so a late or missed tick loses
nothing. A full repayment by releases earns whatever fee was still deferred (the fee is
flat); an early payoff by the supplier rebates the unearned part instead.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from services.financing.domain.advance import (
    ACCEPTED,
    DISBURSED,
    OUTSTANDING,
    PARTIALLY_REPAID,
    REPAID,
    Advance,
    AdvanceRuleViolated,
    Step,
)
from services.financing.domain.lifecycle import SYSTEM, record_disbursement, release_lien
from services.financing.domain.pricing import earned_through
from shared.events.financing import AdvanceRepaidEarly, FeeAmortized, RepaymentApplied
from shared.events.registry import EventModel

DAY = timedelta(days=1)


def days_elapsed(advance: Advance, now: datetime) -> int:
    if advance.disbursed_at is None:
        return 0
    return max(0, (now - advance.disbursed_at) // DAY)


def next_amortization_at(advance: Advance, now: datetime) -> datetime | None:
    """When the daily amortisation timer should fire next, or None when it is done."""
    if advance.disbursed_at is None or advance.fee_amortized >= advance.fee:
        return None
    if advance.state not in OUTSTANDING:
        return None
    return advance.disbursed_at + (days_elapsed(advance, now) + 1) * DAY


def amortize_to(advance: Advance, target: int, now: datetime) -> Step:
    amount = min(target, advance.fee) - advance.fee_amortized
    if amount <= 0:
        return advance, []
    event = FeeAmortized(
        advance_id=advance.advance_id, currency=advance.currency, amount=amount, as_of=now
    )
    return replace(advance, fee_amortized=advance.fee_amortized + amount), [event]


def amortize(advance: Advance, now: datetime) -> Step:
    """The daily tick: earn the fee for every whole day elapsed and not yet amortised."""
    if advance.state not in OUTSTANDING:
        return advance, []
    return amortize_to(
        advance, earned_through(advance.fee, advance.term_days, days_elapsed(advance, now)), now
    )


def apply_repayment(advance: Advance, amount: int, now: datetime) -> Step:
    """A release repaid ``amount`` of this advance (escrow's lien repayment).

    The event carries the whole ``amount``, which is what the ledger credits to the advance
    receivable; ``to_fee + to_principal`` is what was owed, the rest is ``unapplied`` (due
    back to the supplier). A lien exists from acceptance on, so a release may repay it
    before the payout when escrow's ``lien_placed`` was parked and replays late: that
    repayment counts, and the disbursement then starts from what is still owed.
    """
    if amount <= 0:
        return advance, []
    applied = min(amount, advance.owed) if advance.state in OUTSTANDING | {ACCEPTED} else 0
    to_fee = min(applied, advance.fee_due)
    to_principal = applied - to_fee
    advance = replace(
        advance,
        repaid_fee=advance.repaid_fee + to_fee,
        repaid_principal=advance.repaid_principal + to_principal,
        unapplied=advance.unapplied + amount - applied,
    )
    events: list[EventModel] = [
        RepaymentApplied(
            advance_id=advance.advance_id,
            order_id=advance.order_id,
            currency=advance.currency,
            amount=amount,
            to_fee=to_fee,
            to_principal=to_principal,
            balance_after=advance.balance,
            metadata=dict(advance.metadata),
            external_reference=advance.external_reference,
        )
    ]
    if applied == 0 or advance.state not in OUTSTANDING:
        return advance, events
    return settled(advance, events, now)


def disburse(advance: Advance, transfer_id: str | None, now: datetime) -> Step:
    """The Stripe transfer went out; releases that repaid the lien before it count now."""
    advance, events = record_disbursement(advance, transfer_id, now)
    if advance.owed == advance.principal:
        return advance, events
    return settled(advance, events, now)


def settled(advance: Advance, events: list[EventModel], now: datetime) -> Step:
    """After a repayment: repaid in full (the rest of the fee earned), or partially repaid.
    A frozen, recourse or defaulted advance keeps its state until it is repaid in full."""
    if advance.balance == 0:
        advance, earned = amortize_to(advance, advance.fee, now)
        advance, moved = replace(advance, frozen_from=None).moved(
            REPAID, SYSTEM, "repaid_from_releases"
        )
        return advance, [*events, *earned, *moved]
    if advance.state in (DISBURSED):
        advance, moved = advance.moved(PARTIALLY_REPAID, SYSTEM)
        return advance, [*events, *moved]
    return advance, events


def payoff_quote(advance: Advance, now: datetime) -> tuple[int, int]:
    """(amount to pay, fee rebated) to settle the advance now."""
    earned = max(
        advance.fee_amortized,
        earned_through(advance.fee, advance.term_days, days_elapsed(advance, now)),
    )
    rebate = min(advance.fee - earned, advance.balance)
    return advance.balance - rebate, rebate


def repay_early(advance: Advance, now: datetime, actor: str, payment_id: str | None) -> Step:
    """The supplier settles the whole balance now; the unearned fee is rebated pro rata."""
    if advance.state not in OUTSTANDING:
        raise AdvanceRuleViolated(
            "nothing_to_repay", f"advance {advance.advance_id} is {advance.state}"
        )
    amount, rebate = payoff_quote(advance, now)
    advance, earned = amortize_to(advance, advance.fee - rebate, now)
    repaid = AdvanceRepaidEarly(
        advance_id=advance.advance_id,
        currency=advance.currency,
        amount=amount,
        fee_rebate=rebate,
        stripe_payment_id=payment_id,
    )
    advance = replace(advance, repaid_early=amount, fee_rebated=rebate)
    advance, moved = replace(advance, frozen_from=None).moved(REPAID, actor, "repaid_early")
    return advance, [*earned, repaid, *moved, release_lien(advance, "repaid_early")]
