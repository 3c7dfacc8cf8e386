"""Orders: create (with escrow and milestone schedule), read, list, timeline, cancel."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from services.escrow.domain.ordering import MilestoneSpec
from services.escrow.entrypoints.http.deps import (
    Anyone,
    Container,
    Platform,
    PlatformOrFinance,
    answer_order,
    caller,
)
from services.escrow.entrypoints.http.errors import answered
from services.escrow.entrypoints.http.schemas import (
    CancelRequest,
    OrderCreate,
    OrderPublic,
    OrdersPage,
    TimelineEntry,
    TimelinePublic,
)
from services.escrow.service_layer import commands
from services.escrow.service_layer.unit_of_work import OrderFilter
from shared.http.openapi import PARTY_MISMATCH, link

router = APIRouter(prefix="/v1/orders", tags=["orders"])


def order_links(at: str = "") -> dict[str, Any]:
    """Links from a response holding an order (at JSON pointer ``at``) to what it offers."""
    order = {"order_id": f"$response.body#{at}/order_id"}
    milestone = {**order, "milestone_id": f"$response.body#{at}/milestones/0/milestone_id"}
    return {
        "links": {
            "GetOrder": link("GET /v1/orders/{order_id}", **order),
            "GetTimeline": link("GET /v1/orders/{order_id}/timeline", **order),
            "Fund": link("POST /v1/orders/{order_id}/fund", **order),
            "ConfirmWire": link("POST /v1/orders/{order_id}/wire-confirmations", **order),
            "Cancel": link("POST /v1/orders/{order_id}/cancel", **order),
            "SubmitEvidence": link(
                "POST /v1/orders/{order_id}/milestones/{milestone_id}/evidence", **milestone
            ),
            "Accept": link(
                "POST /v1/orders/{order_id}/milestones/{milestone_id}/accept", **milestone
            ),
            "Release": link(
                "POST /v1/orders/{order_id}/milestones/{milestone_id}/release", **milestone
            ),
            "Dispute": link(
                "POST /v1/orders/{order_id}/milestones/{milestone_id}/disputes", **milestone
            ),
        }
    }


@router.post("", status_code=201, responses={201: order_links()})
async def create(body: OrderCreate, who: Platform, c: Container) -> OrderPublic:
    terms = commands.OrderTerms(
        buyer_id=body.buyer_id,
        supplier_id=body.supplier_id,
        supplier_account_id=body.supplier_account_id,
        currency=body.currency,
        total=body.total,
        milestones=[
            MilestoneSpec(
                m.name, m.amount, m.kind, m.inspection_window_seconds, m.evidence_required
            )
            for m in body.milestones
        ],
    )
    with answered():
        escrow = await commands.create_order(
            c.unit_of_work(), c.clock, caller(who), terms, answer_order
        )
    return OrderPublic.of(escrow)


@router.get("", responses={200: order_links("/data/0"), **PARTY_MISMATCH})
async def list_orders(
    who: Anyone,
    c: Container,
    status: str | None = None,
    buyer_id: str | None = None,
    supplier_id: str | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> OrdersPage:
    # A bound supplier key lists its own orders; naming another supplier is a 403 rather than
    # an empty page, so the caller learns its mistake. An unbound one lists any supplier's.
    supplier = who.supplier_filter(supplier_id, unbound_must_name=False)
    flt = OrderFilter(status, buyer_id, supplier, created_from, created_to)
    with answered():
        page = await commands.list_orders(c.unit_of_work(), caller(who), flt, cursor, limit)
    data = [OrderPublic.of(o) for o in page.orders]
    return OrdersPage(
        data=data, next_cursor=page.next_cursor, has_more=page.next_cursor is not None
    )


@router.get("/{order_id}")
async def get(order_id: str, who: Anyone, c: Container) -> OrderPublic:
    with answered():
        escrow = await commands.get_order(c.unit_of_work(), caller(who), order_id)
    return OrderPublic.of(escrow)


@router.get("/{order_id}/timeline")
async def timeline(order_id: str, who: Anyone, c: Container) -> TimelinePublic:
    with answered():
        records = await commands.order_timeline(c.unit_of_work(), caller(who), order_id)
    items = [
        TimelineEntry(
            seq=r.seq,
            event_id=str(r.event_id),
            type=r.event_type,
            actor=r.actor,
            occurred_at=r.occurred_at.isoformat(),
            data=r.data,
        )
        for r in records
    ]
    return TimelinePublic(order_id=order_id, events=items)


@router.post("/{order_id}/cancel")
async def cancel(
    order_id: str, body: CancelRequest, who: PlatformOrFinance, c: Container
) -> OrderPublic:
    with answered():
        escrow = await commands.cancel_order(
            c.unit_of_work, c.clock, c.gateway, caller(who), order_id, body.reason, answer_order
        )
    return OrderPublic.of(escrow)
