"""Quotes: a supplier asks for an advance on a funded order and gets an offer or a refusal
(a sized refusal is recorded as a rejected advance, and answered 422 with its reasons);
and an order's headroom: what can still be advanced on it, read without quoting."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter

from services.financing.entrypoints.http.advances import advance_links
from services.financing.entrypoints.http.deps import AdvanceAnswer, Container, Reader, Supplier
from services.financing.entrypoints.http.errors import answered
from services.financing.entrypoints.http.schemas import (
    AdvancePublic,
    BlockingReason,
    CapPublic,
    HeadroomPublic,
    QuoteCreate,
)
from services.financing.service_layer import commands
from shared.http.openapi import PARTY_MISMATCH

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


@router.get(
    "/orders/{order_id}/headroom",
    responses={404: {"description": "`order_not_found`: financing holds no such order for "
                     "this caller"}, **PARTY_MISMATCH},
)  # fmt: skip
async def order_headroom(
    order_id: str, who: Reader, c: Container, supplier_id: str | None = None
) -> HeadroomPublic:
    """What can still be advanced on the order now: the smallest of the advance rate on
    what is financeable and the headroom under each limit of the tenant's policy, with the
    cap that binds; ``available`` is 0 with ``reasons`` when no offer can be made (another
    supplier's order, closed, not fully funded, an advance already live, below the
    minimum). Nothing is quoted or recorded. A supplier key sees its own orders only
    (another supplier's is a 404, as one that does not exist); finance and platform keys any
    of the tenant's, sized for the order's own supplier unless ``supplier_id`` names one."""
    supplier = who.supplier_filter(supplier_id, unbound_must_name=False)
    with answered():
        order, room = await commands.headroom(
            c.unit_of_work(), who.tenant_id, order_id, supplier,
            others_hidden=who.bound_party is not None,
        )  # fmt: skip
    return HeadroomPublic(
        order_id=order.order_id, supplier_id=supplier or order.supplier_id,
        currency=order.currency, financeable=room.financeable, available=room.available,
        binding=room.binding, min_advance=room.min_advance,
        caps=[CapPublic(code=code, available=amount) for code, amount in room.caps],
        reasons=[BlockingReason(**r.to_json()) for r in room.reasons],
    )  # fmt: skip
