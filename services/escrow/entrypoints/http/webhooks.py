"""POST /v1/webhooks/stripe: verified, deduplicated by Stripe event id, applied once.

The event id is claimed in the same transaction as the escrow change, so a redelivered
event (Stripe retries, or a duplicate) is acknowledged without a second effect, and a
failed application leaves no claim behind (Stripe will retry it).
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import APIRouter, Request
from sqlalchemy.dialects.postgresql import insert as pg_insert

from services.escrow.adapters import repository
from services.escrow.adapters.tables import stripe_events
from services.escrow.domain.errors import EscrowError
from services.escrow.entrypoints import stripe_events as mapping
from services.escrow.entrypoints.http.deps import Ctx
from services.escrow.entrypoints.http.schemas import WebhookReceipt
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
        event = ctx.gateway.verify_webhook(payload, request.headers.get("stripe-signature"))
    except ValueError as exc:
        raise ApiError(400, "invalid_signature", str(exc)) from exc
    if event.get("type") not in mapping.HANDLED:
        return {"received": True, "handled": False}
    for attempt in range(CONFLICT_ATTEMPTS):
        try:
            return await _apply(ctx, event)
        except repository.ConcurrentModification:
            if attempt == CONFLICT_ATTEMPTS - 1:
                raise ApiError(409, "concurrent_modification", "retry the webhook") from None
    raise AssertionError("unreachable")


async def _apply(ctx: Ctx, event: dict[str, Any]) -> dict[str, Any]:
    async with UnitOfWork(ctx.engine) as uow:
        claimed = (
            await uow.conn.execute(
                pg_insert(stripe_events)
                .values(event_id=event["id"], event_type=event["type"])
                .on_conflict_do_nothing()
                .returning(stripe_events.c.event_id)
            )
        ).first()
        if claimed is None:
            return {"received": True, "duplicate": True}
        escrow = await _find_order(uow.conn, event)
        if escrow is None:
            log.warning("escrow.webhook_unknown_order", stripe_event=event["id"])
            await uow.commit()
            return {"received": True, "handled": False}
        try:
            after, events = mapping.decision_for(event, ctx.clock.now())(escrow)
        except EscrowError as exc:  # money already moved at Stripe: flag it, do not bounce it
            log.error(
                "escrow.webhook_refused", stripe_event=event["id"], code=exc.code, error=exc.message
            )
            await uow.commit()
            return {"received": True, "handled": False, "error": exc.code}
        await commit_decision(uow.conn, ctx, escrow, after, events, ACTOR)
        await uow.commit()
    return {"received": True, "handled": True}


async def _find_order(conn: Any, event: dict[str, Any]) -> Any:
    order_id = mapping.order_of(event)
    if order_id is None:
        pi_id = mapping.payment_intent_of(event)
        candidates = await repository.orders_of_payment_intent(conn, pi_id) if pi_id else []
        order_id = candidates[0] if len(candidates) == 1 else None
    return await repository.get(conn, order_id) if order_id else None
