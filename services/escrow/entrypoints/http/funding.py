"""Funding: a Stripe PaymentIntent for the buyer, or an offline wire confirmed by finance."""

from __future__ import annotations

from fastapi import APIRouter

from services.escrow.adapters import repository
from services.escrow.domain.errors import EscrowError
from services.escrow.domain.funding import (
    check_new_funding,
    outstanding,
    record_funding,
    request_funding,
)
from services.escrow.domain.model import Escrow
from services.escrow.domain.rules import Decision, new_id
from services.escrow.entrypoints.http.deps import (
    Ctx,
    Finance,
    Platform,
    load,
    raise_api_error,
    run,
)
from services.escrow.entrypoints.http.schemas import (
    FundingStarted,
    FundRequest,
    OrderPublic,
    WireConfirmation,
)
from services.escrow.service_layer.gateway import GatewayRefused, GatewayUnavailable
from shared.http.errors import ApiError

router = APIRouter(prefix="/v1/orders/{order_id}", tags=["funding"])


@router.post(
    "/fund",
    status_code=201,
    responses={502: {"description": "payment_provider_error: Stripe refused or is unreachable"}},
)
async def fund(order_id: str, body: FundRequest, who: Platform, ctx: Ctx) -> FundingStarted:
    async with ctx.engine.connect() as conn:
        escrow = await load(conn, who, order_id)
    amount = body.amount if body.amount is not None else outstanding(escrow)
    try:
        check_new_funding(escrow, amount)
    except EscrowError as exc:
        raise_api_error(exc, order_id)
    payment_id = new_id()
    metadata = {"order_id": order_id, "tenant_id": who.tenant_id, "payment_id": payment_id}
    try:
        intent = await ctx.gateway.create_payment_intent(
            amount=amount,
            currency=escrow.currency,
            order_id=order_id,
            metadata=metadata,
            idempotency_key=f"escrow-fund-{payment_id}",
        )
    except (GatewayRefused, GatewayUnavailable) as exc:
        raise ApiError(502, "payment_provider_error", str(exc)) from exc
    async with ctx.engine.begin() as conn:
        await repository.index_payment_intent(conn, intent.id, escrow)
    await run(ctx, who, order_id, lambda e: request_funding(e, payment_id, amount, intent.id))
    return FundingStarted(
        order_id=order_id,
        payment_id=payment_id,
        amount=amount,
        currency=escrow.currency,
        stripe_payment_intent_id=intent.id,
        client_secret=intent.client_secret,
    )


@router.post("/wire-confirmations", status_code=201)
async def confirm_wire(
    order_id: str, body: WireConfirmation, who: Finance, ctx: Ctx
) -> OrderPublic:
    payment_id = f"wire:{body.reference}"

    def decide(e: Escrow) -> Decision:
        check_new_funding(e, body.amount)
        return record_funding(e, payment_id, body.amount, "wire", ctx.clock.now())

    return OrderPublic.of(await run(ctx, who, order_id, decide))
