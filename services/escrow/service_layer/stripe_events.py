"""Stripe's webhook events as escrow reads them, and the decision each one asks for.

The shapes are validated once, at the boundary (``entrypoints/http/webhooks.py`` builds a
``StripeEvent`` from a verified body, refusing anything else as ``invalid_payload``);
fields escrow does not read are ignored, so Stripe adding fields never breaks the endpoint.
``commands.apply_stripe_event`` claims the event id and applies ``decision_for`` once.

Stripe retries an event until it is acknowledged (for up to 3 days) and promises no order,
so every mapping is idempotent and tolerant of order: a PaymentIntent succeeds once, a late
failure is ignored, our own refunds are recognised by the ``refund_id`` in their metadata,
and a charge event (refund, chargeback) for a payment that has not succeeded yet is
deferred (``PaymentNotSucceeded``: not acknowledged, so Stripe delivers it again later).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated
from uuid import NAMESPACE_URL, uuid5

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from services.escrow.domain.disputes import close_chargeback, open_chargeback
from services.escrow.domain.errors import CurrencyMismatch, InvalidAmount
from services.escrow.domain.funding import record_funding, record_funding_failure
from services.escrow.domain.model import Escrow, Payment
from services.escrow.domain.refunds import complete_refund, record_external_refund
from services.escrow.domain.rules import Decision
from services.escrow.service_layer.errors import ChargebackNotOpened, PaymentNotSucceeded
from shared.events import EventModel
from shared.fx import FxConversion, InvalidConversion, funding_share

MinorUnits = Annotated[StrictInt, Field(ge=0)]
PositiveMinorUnits = Annotated[StrictInt, Field(gt=0)]
Metadata = dict[StrictStr, StrictStr]  # Stripe metadata: string keys and values


class StripeObject(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    id: Annotated[StrictStr, Field(min_length=1)]
    currency: StrictStr | None = None
    metadata: Metadata = {}


class PaymentIntentObject(StripeObject):
    amount: MinorUnits
    amount_received: MinorUnits | None = None
    latest_charge: StrictStr | None = None
    last_payment_error: dict[str, object] | None = None

    @property
    def payment_intent(self) -> str:
        return self.id

    @property
    def received(self) -> int:
        return self.amount if self.amount_received is None else self.amount_received


class RefundObject(StripeObject):
    amount: PositiveMinorUnits
    status: StrictStr | None = None

    @property
    def returned(self) -> bool:
        """False for a refund Stripe gave up on: it returned nothing to the buyer. (A charge
        lists all its refunds, whatever their status; a pending one is counted, as escrow
        counts its own once Stripe accepted them.)"""
        return self.status not in ("failed", "canceled")


class RefundList(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    data: list[RefundObject] = []


class ChargeObject(StripeObject):
    payment_intent: StrictStr | None = None
    refunds: RefundList | None = None


class DisputeObject(StripeObject):
    amount: PositiveMinorUnits
    payment_intent: StrictStr | None = None
    reason: StrictStr | None = None
    status: StrictStr | None = None  # on charge.dispute.closed: won, lost, warning_closed


PaymentObject = PaymentIntentObject | ChargeObject | DisputeObject

OBJECTS: dict[str, type[PaymentObject]] = {
    "payment_intent.succeeded": PaymentIntentObject,
    "payment_intent.payment_failed": PaymentIntentObject,
    "charge.refunded": ChargeObject,
    "charge.dispute.created": DisputeObject,
    "charge.dispute.closed": DisputeObject,
}


@dataclass(frozen=True)
class StripeEvent:
    id: str
    type: str
    object: PaymentObject | None  # None: a type escrow does not handle


HANDLED = tuple(OBJECTS)


def excess_refund_id(event_id: str) -> str:
    """The refund of what a payment brought beyond the contract total, named after the
    Stripe event that reported the payment: a re-decision (a version conflict) or a retried
    delivery reserves the same refund, whose Stripe idempotency key is derived from it."""
    return str(uuid5(NAMESPACE_URL, f"stripe-event:{event_id}/excess"))


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


def _charge_currency(e: Escrow, payment: Payment, obj: StripeObject) -> None:
    """A refund or chargeback of a charge is in the charge's currency: the funding
    currency for a payment at a locked conversion (docs/fx.md), else the order's."""
    if payment.fx is None:
        _same_currency(e, obj)
        return
    currency = (obj.currency or payment.fx.from_currency).upper()
    if currency != payment.fx.from_currency:
        raise CurrencyMismatch(
            f"{obj.id} is in {currency}, its payment in {payment.fx.from_currency}"
        )


def _claim(payment: Payment, amount: int) -> FxConversion:
    """What a chargeback of ``amount`` (funding currency) claims of the contract, valued
    over what is left of the payment; a claim beyond that (a bank may claim a charge
    whole after a partial refund) over the whole payment."""
    fx = payment.fx
    assert fx is not None
    try:
        return funding_share(
            fx, amount, refunded_before=payment.refunded, returned_before=payment.returned
        )
    except InvalidConversion:
        try:
            return funding_share(fx, amount, refunded_before=0, returned_before=0)
        except InvalidConversion as exc:
            raise InvalidAmount(
                f"a chargeback of {amount} {fx.from_currency} on a payment of {fx.from_amount}"
            ) from exc


def decision_for(event: StripeEvent, now: datetime) -> Callable[[Escrow], Decision]:
    obj = event.object

    def succeeded(e: Escrow) -> Decision:
        assert isinstance(obj, PaymentIntentObject)
        # The PaymentIntent names the payment; metadata only when escrow never saw it.
        payment = _payment(e, obj.id)
        credited = obj.received
        if payment is not None and payment.fx is not None:
            # Charged in the funding currency at a locked conversion (docs/fx.md): it
            # credits the contract amount it was asked for, and only when paid whole.
            fx = payment.fx
            currency = (obj.currency or "").upper()
            if currency != fx.from_currency:
                raise CurrencyMismatch(
                    f"{obj.id} is in {currency}, its quote in {fx.from_currency}"
                )
            if obj.received != fx.from_amount:
                raise InvalidAmount(
                    f"{obj.id} received {obj.received} of the {fx.from_amount} {currency} quoted"
                )
            credited = payment.amount
        else:
            _same_currency(e, obj)
        if obj.received > obj.amount:
            raise InvalidAmount(f"{obj.id} received {obj.received} of {obj.amount}")
        payment_id = payment.payment_id if payment else obj.metadata.get("payment_id")
        return record_funding(
            e,
            payment_id or f"pi:{obj.id}",
            credited,
            "stripe",
            now,
            stripe_payment_intent_id=obj.id,
            stripe_charge_id=obj.latest_charge,
            excess_refund_id=excess_refund_id(event.id),
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
                _charge_currency(e, payment, refund)
                e, booked = record_external_refund(e, payment.payment_id, refund.id, refund.amount)
            events += booked
        return e, events

    def disputed(e: Escrow) -> Decision:
        assert isinstance(obj, DisputeObject)
        payment = _succeeded_payment(e, obj.payment_intent)
        _charge_currency(e, payment, obj)
        if payment.fx is None:
            return open_chargeback(e, obj.id, obj.amount, str(obj.reason), payment.payment_id, now)
        claim = _claim(payment, obj.amount)
        return open_chargeback(
            e, obj.id, claim.to_amount, str(obj.reason), payment.payment_id, now, claimed_fx=claim
        )

    def dispute_closed(e: Escrow) -> Decision:
        assert isinstance(obj, DisputeObject)
        _succeeded_payment(e, obj.payment_intent)
        if not any(d.stripe_dispute_id == obj.id for d in e.disputes):
            raise ChargebackNotOpened(f"{obj.id} closed before escrow saw it opened")
        return close_chargeback(e, obj.id, str(obj.status), now)

    return {
        "payment_intent.succeeded": succeeded,
        "payment_intent.payment_failed": failed,
        "charge.refunded": refunded,
        "charge.dispute.created": disputed,
        "charge.dispute.closed": dispute_closed,
    }[event.type]
