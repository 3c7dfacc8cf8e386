"""POST /v1/webhooks/stripe: verified, read, deduplicated by Stripe event id, applied once.

Refused with a typed 400, nothing read or claimed: a body Stripe did not sign just now
(``invalid_signature``) or one that is no readable Stripe event (``invalid_payload``).
The event id is claimed in the same transaction as the escrow change, so a redelivered
event (Stripe retries, or a duplicate) is acknowledged without a second effect, and a
failed or deferred application leaves no claim behind (Stripe will deliver it again).

The order is the one escrow indexed the PaymentIntent under when it created it; metadata
naming another order or tenant is refused (``order_mismatch``), a PaymentIntent escrow did
not create is ignored (``unknown_payment_intent``). Both are acknowledged, as are domain
refusals: the money already moved at Stripe, so they are logged for finance, not bounced.
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import APIRouter, Request
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from services.escrow.adapters import repository
from services.escrow.adapters.tables import stripe_events
from services.escrow.domain.errors import EscrowError
from services.escrow.domain.model import Escrow
from services.escrow.entrypoints import stripe_events as mapping
from services.escrow.entrypoints.http.deps import Ctx
from services.escrow.entrypoints.http.schemas import WebhookReceipt
from services.escrow.entrypoints.stripe_objects import StripeEvent, parse_event
from services.escrow.service_layer.gateway import WebhookRefused
from services.escrow.service_layer.unit import CONFLICT_ATTEMPTS, commit_decision
from shared.db import UnitOfWork
from shared.http.errors import ApiError

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
log = structlog.get_logger(__name__)
ACTOR = "stripe:webhook"


@router.post("/stripe", response_model=WebhookReceipt, response_model_exclude_none=True)
async def stripe_webhook(request: Request, ctx: Ctx) -> dict[str, Any]:
    payload = await request.body()
    try:
        event = parse_event(
            ctx.gateway.verify_webhook(payload, request.headers.get("stripe-signature"))
        )
    except WebhookRefused as exc:
        raise ApiError(400, exc.code, str(exc)) from exc
    if event.type not in mapping.HANDLED:
        return {"received": True, "handled": False}
    for attempt in range(CONFLICT_ATTEMPTS):
        try:
            return await _apply(ctx, event)
        except repository.ConcurrentModification:
            if attempt == CONFLICT_ATTEMPTS - 1:
                raise ApiError(409, "concurrent_modification", "retry the webhook") from None
        except mapping.PaymentNotSucceeded as exc:
            raise ApiError(409, exc.code, f"{exc}; deliver it again later") from exc
    raise AssertionError("unreachable")


async def _apply(ctx: Ctx, event: StripeEvent) -> dict[str, Any]:
    async with UnitOfWork(ctx.engine) as uow:
        claimed = (
            await uow.conn.execute(
                pg_insert(stripe_events)
                .values(event_id=event.id, event_type=event.type)
                .on_conflict_do_nothing()
                .returning(stripe_events.c.event_id)
            )
        ).first()
        if claimed is None:
            return {"received": True, "duplicate": True}
        escrow, refusal = await _find_order(uow.conn, event)
        try:
            if escrow is None:
                raise _NotApplied(refusal)
            after, events = mapping.decision_for(event, ctx.clock.now())(escrow)
            await commit_decision(uow.conn, ctx, escrow, after, events, ACTOR)
        except (_NotApplied, EscrowError) as exc:  # acknowledged: flag it, do not bounce it
            code = exc.code
            # Another integration's PaymentIntent on the same Stripe account is no news;
            # anything else is money that moved at Stripe and not here: finance must look.
            report = log.info if code == "unknown_payment_intent" else log.error
            report("escrow.webhook_refused", stripe_event=event.id, code=code, error=str(exc))
            await uow.commit()  # the claim: the same event again is a duplicate
            return {"received": True, "handled": False, "error": code}
        await uow.commit()
    return {"received": True, "handled": True}


class _NotApplied(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


async def _find_order(conn: AsyncConnection, event: StripeEvent) -> tuple[Escrow | None, str]:
    """The escrow whose PaymentIntent this is, unless the event's metadata says otherwise."""
    pi_id = mapping.payment_intent_of(event)
    orders = await repository.orders_of_payment_intent(conn, pi_id) if pi_id else []
    if len(orders) != 1:
        return None, "unknown_payment_intent"
    escrow = await repository.get(conn, orders[0])
    if escrow is None:
        return None, "unknown_payment_intent"
    meta = event.object.metadata if event.object is not None else {}
    named = meta.get("order_id", escrow.order_id), meta.get("tenant_id", escrow.tenant_id)
    if named != (escrow.order_id, escrow.tenant_id):
        return None, "order_mismatch"
    return escrow, ""
