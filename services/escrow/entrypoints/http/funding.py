"""Funding: a Stripe PaymentIntent for the buyer, or an offline wire confirmed by finance."""

from __future__ import annotations

from fastapi import APIRouter

from services.escrow.entrypoints.http.deps import (
    Container,
    Finance,
    Platform,
    answer_order,
    caller,
)
from services.escrow.entrypoints.http.errors import answered
from services.escrow.entrypoints.http.schemas import (
    FundingStarted,
    FundRequest,
    OrderPublic,
    WireConfirmation,
)
from services.escrow.service_layer import commands
from shared.http.idempotency import answer

router = APIRouter(prefix="/v1/orders/{order_id}", tags=["funding"])


def funding_started(started: commands.FundingStarted) -> FundingStarted:
    return FundingStarted(
        order_id=started.order_id,
        payment_id=started.payment_id,
        amount=started.amount,
        currency=started.currency,
        stripe_payment_intent_id=started.stripe_payment_intent_id,
        client_secret=started.client_secret,
        credits=started.credits,
        fx=started.fx,
        payout_lock=started.payout_lock,
    )


@router.post(
    "/fund",
    status_code=201,
    responses={502: {"description": "payment_provider_error: Stripe refused or is unreachable"}},
)
async def fund(order_id: str, body: FundRequest, who: Platform, c: Container) -> FundingStarted:
    def answering(started: commands.FundingStarted) -> None:
        answer(funding_started(started))

    with answered():
        started = await commands.start_funding(
            c.unit_of_work, c.clock, c.gateway, caller(who), order_id, body.amount, answering,
            quote_id=body.quote_id, payout_quote_id=body.payout_quote_id,
        )  # fmt: skip
    return funding_started(started)


@router.post("/wire-confirmations", status_code=201)
async def confirm_wire(
    order_id: str, body: WireConfirmation, who: Finance, c: Container
) -> OrderPublic:
    with answered():
        escrow = await commands.confirm_wire(
            c.unit_of_work, c.clock, c.gateway, caller(who), order_id,
            body.reference, body.amount, answer_order, currency=body.currency,
        )  # fmt: skip
    return OrderPublic.of(escrow)
