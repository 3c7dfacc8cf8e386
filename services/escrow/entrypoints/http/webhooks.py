"""POST /v1/webhooks/stripe: verified, read, deduplicated by Stripe event id, applied once.

Refused with a typed 400, nothing read or claimed: a body Stripe did not sign just now
(``invalid_signature``, checked by the gateway) or one that is no readable Stripe event
(``invalid_payload``): a signed body that is not an event object, lacks ``data.object``, or
carries an amount that is not an integer count of minor units (a string, a float, a bool, a
negative number) is refused before any of it is used: Stripe never sends such a body, so
whoever did holds our secret or broke it on the way.

What the event does is ``commands.apply_stripe_event``'s: the event id is claimed in the
same unit of work as the escrow change, so a redelivered event (Stripe retries, or a
duplicate) is acknowledged without a second effect, and a failed or deferred application
leaves no claim behind (Stripe will deliver it again). Refusals it acknowledges
(``order_mismatch``, ``unknown_payment_intent``, domain refusals) come back as ``error``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError

from services.escrow.entrypoints.http.deps import Container
from services.escrow.entrypoints.http.errors import answered
from services.escrow.entrypoints.http.schemas import WebhookReceipt
from services.escrow.service_layer import commands
from services.escrow.service_layer.gateway import WebhookRefused
from services.escrow.service_layer.stripe_events import OBJECTS, StripeEvent

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


class _Data(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    object: dict[str, Any]


class _Event(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    id: Annotated[StrictStr, Field(min_length=1)]
    type: StrictStr
    data: _Data


def parse_event(value: object) -> StripeEvent:
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


@router.post("/stripe", response_model=WebhookReceipt, response_model_exclude_none=True)
async def stripe_webhook(request: Request, c: Container) -> dict[str, Any]:
    payload = await request.body()
    with answered(conflict="retry the webhook"):
        event = parse_event(
            c.gateway.verify_webhook(payload, request.headers.get("stripe-signature"))
        )
        outcome = await commands.apply_stripe_event(c.unit_of_work, c.clock, c.gateway, event)
    receipt: dict[str, Any] = {"received": True}
    for name in ("handled", "duplicate", "error"):
        value = getattr(outcome, name)
        if value is not None:
            receipt[name] = value
    return receipt
