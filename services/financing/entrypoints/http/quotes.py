"""Quotes: a supplier asks for an advance on a funded order and gets an offer or a refusal
(a sized refusal is recorded as a rejected advance, and answered 422 with its reasons)."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter

from services.financing.entrypoints.http.advances import advance_links
from services.financing.entrypoints.http.deps import AdvanceAnswer, Container, Supplier
from services.financing.entrypoints.http.errors import answered
from services.financing.entrypoints.http.schemas import AdvancePublic, QuoteCreate
from services.financing.service_layer import commands

router = APIRouter(prefix="/v1", tags=["financing"])


@router.post(
    "/quotes",
    status_code=201,
    responses={
        201: advance_links(),
        400: {"description": "`invalid_metadata`"},
        409: {"description": "`duplicate_external_reference`, `order_not_yet_known`"},
        422: {
            "description": "`advance_refused` (with its reasons); `fx_rate_not_locked`: the "
            "order pays the supplier in another currency and escrow locked no payout rate"
        },
    },
)
async def request_quote(body: QuoteCreate, who: Supplier, c: Container) -> AdvancePublic:
    supplier = who.acting_supplier(body.supplier_id)
    answering = AdvanceAnswer(c.clock)
    data = commands.PlatformData(body.metadata, body.external_reference)
    with answered():
        advance = await commands.quote(
            c.unit_of_work(), c.clock, who.tenant_id, supplier, body.order_id, body.amount,
            who.actor, others_hidden=who.bound_party is not None, before_commit=answering,
            platform_data=data,
            arrival_horizon=timedelta(seconds=c.runtime.settings.financing_order_arrival_seconds),
        )  # fmt: skip
    return answering.of(advance)
