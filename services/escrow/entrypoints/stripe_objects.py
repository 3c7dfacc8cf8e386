"""The parts of Stripe's webhook events escrow reads, validated once, at the boundary.

A signed body that is not an event object, lacks ``data.object``, or carries an amount that
is not an integer count of minor units (a string, a float, a bool, a negative number) is
refused as ``invalid_payload`` before any of it is used: Stripe never sends such a body, so
whoever did holds our secret or broke it on the way. Fields escrow does not read are
ignored, so Stripe adding fields never breaks the endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from services.escrow.service_layer.gateway import WebhookRefused

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
    last_payment_error: dict[str, Any] | None = None

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


PaymentObject = PaymentIntentObject | ChargeObject | DisputeObject

OBJECTS: dict[str, type[PaymentObject]] = {
    "payment_intent.succeeded": PaymentIntentObject,
    "payment_intent.payment_failed": PaymentIntentObject,
    "charge.refunded": ChargeObject,
    "charge.dispute.created": DisputeObject,
}


class _Data(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    object: dict[str, Any]


class _Event(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    id: Annotated[StrictStr, Field(min_length=1)]
    type: StrictStr
    data: _Data


@dataclass(frozen=True)
class StripeEvent:
    id: str
    type: str
    object: PaymentObject | None  # None: a type escrow does not handle


def parse_event(value: Any) -> StripeEvent:
    """The event escrow reads from a verified body; WebhookRefused(invalid_payload) if none."""
    try:
        event = _Event.model_validate(value)
        model = OBJECTS.get(event.type)
        obj = model.model_validate(event.data.object) if model is not None else None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
        )
        raise WebhookRefused("invalid_payload", f"not a Stripe event: {problems}") from exc
    return StripeEvent(event.id, event.type, obj)
