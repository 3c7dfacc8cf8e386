"""Funding: PaymentIntents requested, payments that succeeded or failed, offline wires.

Stripe may deliver webhooks twice or out of order. Recording a payment is therefore
idempotent (a payment, and a PaymentIntent, succeeds once) and monotonic (a late
``payment_failed`` never undoes a success); a payment never brings more than was asked of it. Money arriving on a cancelled order, or beyond the contract total, is refunded straight away.
"""

from __future__ import annotations

from datetime import datetime

from services.escrow.domain.errors import (
    CurrencyMismatch,
    FxQuoteMismatch,
    InvalidAmount,
    InvalidTransition,
)
from services.escrow.domain.model import Escrow, Payment
from services.escrow.domain.refunds import reserve_refund
from services.escrow.domain.rules import (
    Decision,
    check_invariants,
    funding_status,
    open_inspections,
)
from shared.events import EventModel
from shared.events.escrow import Funded, FundingFailed, FundingMethod, FundingRequested
from shared.fx import FxConversion


def outstanding(escrow: Escrow) -> int:
    return max(escrow.total - escrow.funded, 0)


def check_funding_fx(escrow: Escrow, amount: int, fx: FxConversion | None) -> None:
    """A payment in the funding currency needs its conversion (from a quote) to credit
    exactly ``amount`` of the contract currency; one in the contract currency needs none."""
    if fx is None:
        return
    if escrow.funding_ccy == escrow.currency:
        raise CurrencyMismatch(f"order {escrow.order_id} is funded in {escrow.currency}")
    if (fx.from_currency, fx.to_currency, fx.to_amount) != (
        escrow.funding_ccy,
        escrow.currency,
        amount,
    ):
        raise FxQuoteMismatch(
            f"the quote credits {fx.to_amount} {fx.to_currency} for {fx.from_currency}; the "
            f"order needs {amount} {escrow.currency} for {escrow.funding_ccy}"
        )


def lock_payout(escrow: Escrow, lock: FxConversion | None) -> Escrow:
    """The "order" policy's payout conversion, locked once (the first funding's)."""
    if lock is None or escrow.payout_lock is not None or escrow.fx_policy != "order":
        return escrow
    if (lock.from_currency, lock.to_currency, lock.from_amount) != (
        escrow.currency,
        escrow.payout_ccy,
        escrow.total,
    ):
        raise FxQuoteMismatch("the payout lock converts the order's total into its payout currency")
    return escrow.model_copy(update={"payout_lock": lock})


def request_funding(
    escrow: Escrow,
    payment_id: str,
    amount: int,
    stripe_payment_intent_id: str,
    *,
    fx: FxConversion | None = None,
    payout_lock: FxConversion | None = None,
) -> Decision:
    check_new_funding(escrow, amount)
    check_funding_fx(escrow, amount, fx)
    payment = Payment(
        payment_id=payment_id,
        method="stripe",
        amount=amount,
        status="requested",
        stripe_payment_intent_id=stripe_payment_intent_id,
        fx=fx,
    )
    escrow = lock_payout(escrow, payout_lock)
    escrow = escrow.model_copy(update={"payments": (*escrow.payments, payment)})
    event = FundingRequested(
        order_id=escrow.order_id,
        payment_id=payment_id,
        amount=amount,
        currency=escrow.currency,
        stripe_payment_intent_id=stripe_payment_intent_id,
    )
    return escrow, [event]


def check_new_funding(escrow: Escrow, amount: int) -> None:
    """What the API refuses up front (a webhook reports money that already moved)."""
    if escrow.closed:
        raise InvalidTransition(f"order is {escrow.status}")
    if amount <= 0 or amount > outstanding(escrow):
        raise InvalidAmount(f"amount must be between 1 and the unfunded {outstanding(escrow)}")


def record_funding(
    escrow: Escrow,
    payment_id: str,
    amount: int,
    method: FundingMethod,
    now: datetime,
    *,
    stripe_payment_intent_id: str | None = None,
    stripe_charge_id: str | None = None,
    excess_refund_id: str | None = None,
    payout_lock: FxConversion | None = None,
) -> Decision:
    """``excess_refund_id``: the id to give the refund of what goes beyond the contract
    total (derived from the Stripe event reporting the payment, so its Stripe idempotency
    key is too)."""
    if amount <= 0:
        raise InvalidAmount("a payment must be positive")
    existing = next((p for p in escrow.payments if p.payment_id == payment_id), None)
    if existing is not None and existing.status == "succeeded":
        return escrow, []  # a duplicate webhook or confirmation: already counted
    if stripe_payment_intent_id is not None and any(
        p.stripe_payment_intent_id == stripe_payment_intent_id and p.status == "succeeded"
        for p in escrow.payments
    ):
        return escrow, []  # a PaymentIntent succeeds once, whatever payment it is reported as
    if existing is not None and amount > existing.amount:
        raise InvalidAmount(f"payment {payment_id} brought {amount} of the {existing.amount} asked")
    paid = Payment(
        payment_id=payment_id,
        method=method,
        amount=amount,
        status="succeeded",
        stripe_payment_intent_id=stripe_payment_intent_id,
        stripe_charge_id=stripe_charge_id,
        fx=existing.fx if existing is not None else None,
    )
    others = tuple(p for p in escrow.payments if p.payment_id != payment_id)
    was_cancelled = escrow.status == "cancelled"
    escrow = lock_payout(escrow, payout_lock)
    escrow = escrow.model_copy(
        update={"payments": (*others, paid), "funded": escrow.funded + amount}
    )
    escrow = funding_status(escrow)
    events: list[EventModel] = [
        Funded(
            order_id=escrow.order_id,
            payment_id=payment_id,
            amount=amount,
            currency=escrow.currency,
            method=method,
            stripe_payment_intent_id=stripe_payment_intent_id,
            stripe_charge_id=stripe_charge_id,
            funded_total=escrow.funded,
            held_after=escrow.held,
            fully_funded=escrow.fully_funded,
            fx=paid.fx,
            payout_lock=escrow.payout_lock,
        )
    ]
    if was_cancelled:
        escrow, refunds = reserve_refund(
            escrow, amount, "paid after cancellation", None, refund_id=excess_refund_id
        )
        return check_invariants(escrow), events + refunds
    escrow, started = open_inspections(escrow, now)
    events += started
    # Whatever goes beyond the contract total (a second PaymentIntent for the same amount, a
    # payment after completion) is not the supplier's and would be held forever: return it.
    excess = min(amount, escrow.funded - escrow.total)
    if excess > 0:
        escrow, refunds = reserve_refund(
            escrow, excess, "paid beyond the contract total", None, refund_id=excess_refund_id
        )
        events += refunds
    return check_invariants(escrow), events


def record_funding_failure(escrow: Escrow, payment_id: str, reason: str) -> Decision:
    payment = next((p for p in escrow.payments if p.payment_id == payment_id), None)
    if payment is None or payment.status != "requested":
        return escrow, []  # unknown, already failed, or already succeeded (late webhook)
    failed = payment.model_copy(update={"status": "failed"})
    payments = tuple(failed if p.payment_id == payment_id else p for p in escrow.payments)
    event = FundingFailed(
        order_id=escrow.order_id,
        payment_id=payment_id,
        stripe_payment_intent_id=payment.stripe_payment_intent_id,
        reason=reason,
    )
    return escrow.model_copy(update={"payments": payments}), [event]
