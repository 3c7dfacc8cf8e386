"""Orders: create (with escrow and milestone schedule), read, list, timeline, cancel."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from services.escrow.adapters import repository
from services.escrow.domain.errors import EscrowError
from services.escrow.domain.ordering import MilestoneSpec, OrderSpec, create_order
from services.escrow.domain.refunds import cancel_order
from services.escrow.entrypoints.http.deps import (
    Anyone,
    Ctx,
    Platform,
    PlatformOrFinance,
    load,
    raise_api_error,
    run,
)
from services.escrow.entrypoints.http.schemas import (
    CancelRequest,
    OrderCreate,
    OrderPublic,
    OrdersPage,
    TimelineEntry,
    TimelinePublic,
)
from services.escrow.service_layer.unit import commit_decision
from shared.db import UnitOfWork
from shared.http.errors import ApiError
from shared.http.idempotency import answer
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
async def create(body: OrderCreate, who: Platform, ctx: Ctx) -> OrderPublic:
    async with UnitOfWork(ctx.engine) as uow:
        bps, fixed = await repository.fee_policy(uow.conn, who.tenant_id)
        spec = OrderSpec(
            tenant_id=who.tenant_id,
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
            platform_fee_bps=bps,
            platform_fee_fixed=fixed.get(body.currency, 0),
        )
        try:
            escrow, events = create_order(spec, ctx.clock.now())
        except EscrowError as exc:
            raise_api_error(exc, spec.order_id)
        saved = await commit_decision(uow.conn, ctx, None, escrow, events, who.actor)
        created = answer(OrderPublic.of(saved))
        await uow.commit()
    return created


@router.get("", responses={200: order_links("/data/0"), **PARTY_MISMATCH})
async def list_orders(
    who: Anyone,
    ctx: Ctx,
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
    flt = repository.OrderFilter(status, buyer_id, supplier, created_from, created_to)
    async with ctx.engine.connect() as conn:
        try:
            orders, next_cursor = await repository.list_orders(
                conn, who.tenant_id, flt, cursor, limit
            )
        except (ValueError, TypeError) as exc:
            raise ApiError(
                400, "invalid_cursor", "the cursor is not one this API returned"
            ) from exc
    data = [OrderPublic.of(o) for o in orders]
    return OrdersPage(data=data, next_cursor=next_cursor, has_more=next_cursor is not None)


@router.get("/{order_id}")
async def get(order_id: str, who: Anyone, ctx: Ctx) -> OrderPublic:
    async with ctx.engine.connect() as conn:
        escrow = await load(conn, who, order_id)
    return OrderPublic.of(escrow)


@router.get("/{order_id}/timeline")
async def timeline(order_id: str, who: Anyone, ctx: Ctx) -> TimelinePublic:
    async with ctx.engine.connect() as conn:
        await load(conn, who, order_id)
        rows = await repository.read_timeline(conn, who.tenant_id, order_id)
    items = [
        TimelineEntry(
            seq=r.seq,
            event_id=str(r.event_id),
            type=r.event_type,
            actor=r.actor,
            occurred_at=r.occurred_at.isoformat(),
            data=r.data,
        )
        for r in rows
    ]
    return TimelinePublic(order_id=order_id, events=items)


@router.post("/{order_id}/cancel")
async def cancel(
    order_id: str, body: CancelRequest, who: PlatformOrFinance, ctx: Ctx
) -> OrderPublic:
    escrow = await run(ctx, who, order_id, lambda e: cancel_order(e, body.reason))
    return OrderPublic.of(escrow)
