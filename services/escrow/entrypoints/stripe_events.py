"""Stripe webhook events -> escrow decisions. Pure mapping; I/O lives in http/webhooks.py.

Stripe retries an event until it is acknowledged (for up to 3 days) and promises no order,
so every mapping is idempotent and tolerant of order: a PaymentIntent succeeds once, a late
failure is ignored, our own refunds are recognised by the ``refund_id`` in their metadata,
and a charge event (refund, chargeback) for a payment that has not succeeded yet is
deferred (``PaymentNotSucceeded``: not acknowledged, so Stripe delivers it again later).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from services.escrow.domain.disputes import open_chargeback
from services.escrow.domain.errors import CurrencyMismatch, InvalidAmount
from services.escrow.domain.funding import record_funding, record_funding_failure
from services.escrow.domain.model import Escrow, Payment
from services.escrow.domain.refunds import complete_refund, record_external_refund
from services.escrow.domain.rules import Decision
from services.escrow.entrypoints.stripe_objects import (
    OBJECTS,
    ChargeObject,
    DisputeObject,
    PaymentIntentObject,
    StripeEvent,
    StripeObject,
)
from shared.events import EventModel

HANDLED = tuple(OBJECTS)


class PaymentNotSucceeded(Exception):
    """A charge event arrived before its PaymentIntent's success: let Stripe retry it."""

    code = "payment_not_succeeded"


def payment_intent_of(event: StripeEvent) -> str | None:
    return event.object.payment_intent if event.object is not None else None


def _payment(e: Escrow, pi_id: str | None) -> Payment | None:
    return next((p for p in e.payments if pi_id and p.stripe_payment_intent_id == pi_id), None)


def _succeeded_payment(e: Escrow, pi_id: str | None) -> Payment:
    payment = _payment(e, pi_id)
    if payment is None or payment.status != "succeeded":
        raise PaymentNotSucceeded(f"the payment of {pi_id} has not succeeded (yet)")
    return payment


def _same_currency(e: Escrow, obj: StripeObject) -> None:
    currency = (obj.currency or e.currency).upper()
    if currency != e.currency:
        raise CurrencyMismatch(f"{obj.id} is in {currency}, the order in {e.currency}")


def decision_for(event: StripeEvent, now: datetime) -> Callable[[Escrow], Decision]:
    obj = event.object

    def succeeded(e: Escrow) -> Decision:
        assert isinstance(obj, PaymentIntentObject)
        _same_currency(e, obj)
        if obj.received > obj.amount:
            raise InvalidAmount(f"{obj.id} received {obj.received} of {obj.amount}")
        # The PaymentIntent names the payment; metadata only when escrow never saw it.
        payment = _payment(e, obj.id)
        payment_id = payment.payment_id if payment else obj.metadata.get("payment_id")
        return record_funding(
            e,
            payment_id or f"pi:{obj.id}",
            obj.received,
            "stripe",
            now,
            stripe_payment_intent_id=obj.id,
            stripe_charge_id=obj.latest_charge,
        )

    def failed(e: Escrow) -> Decision:
        assert isinstance(obj, PaymentIntentObject)
        payment = _payment(e, obj.id)
        error = obj.last_payment_error or {}
        reason = str(error.get("code") or error.get("message") or "payment_failed")
        return record_funding_failure(e, payment.payment_id if payment else "", reason)

    def refunded(e: Escrow) -> Decision:
        assert isinstance(obj, ChargeObject)
        payment = _succeeded_payment(e, obj.payment_intent)
        events: list[EventModel] = []
        for refund in obj.refunds.data if obj.refunds else []:
            if not refund.returned:
                continue  # failed or cancelled at Stripe: no money went back
            ours = refund.metadata.get("refund_id")
            if ours:
                e, booked = complete_refund(e, ours, refund.id)
            else:
                _same_currency(e, refund)
                e, booked = record_external_refund(e, payment.payment_id, refund.id, refund.amount)
            events += booked
        return e, events

    def disputed(e: Escrow) -> Decision:
        assert isinstance(obj, DisputeObject)
        _same_currency(e, obj)
        payment = _succeeded_payment(e, obj.payment_intent)
        return open_chargeback(e, obj.id, obj.amount, str(obj.reason), payment.payment_id)

    return {
        "payment_intent.succeeded": succeeded,
        "payment_intent.payment_failed": failed,
        "charge.refunded": refunded,
        "charge.dispute.created": disputed,
    }[event.type]
