"""Orders: create (with escrow and milestone schedule), read, update the platform's data,
list (Stripe's cursor pages), timeline, cancel."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request

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
    OrderUpdate,
    TimelineEntry,
)
from services.escrow.service_layer import commands
from services.escrow.service_layer.unit_of_work import OrderFilter, TimelineRecord
from shared.events.types import CurrencyCode
from shared.http.openapi import PARTY_MISMATCH, Responses, link
from shared.http.pagination import ListOf, Paging
from shared.metadata import ExternalReference

router = APIRouter(prefix="/v1/orders", tags=["orders"])


def order_links(at: str = "") -> dict[str, Any]:
    """Links from a response holding an order (at JSON pointer ``at``) to what it offers."""
    order = {"order_id": f"$response.body#{at}/order_id"}
    milestone = {**order, "milestone_id": f"$response.body#{at}/milestones/0/milestone_id"}
    return {
        "links": {
            "GetOrder": link("GET /v1/orders/{order_id}", **order),
            "UpdateOrder": link("PATCH /v1/orders/{order_id}", **order),
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


PLATFORM_DATA: Responses = {
    400: {
        "description": "`invalid_metadata` (Stripe's limits: 50 keys, 40-character keys, "
        "500-character string values), `mixed_milestone_schedule`, "
        "`invalid_milestone_percentages`"
    },
    409: {"description": "`duplicate_external_reference`: another order of the tenant has it"},
}


@router.post("", status_code=201, responses={201: order_links(), **PLATFORM_DATA})
async def create(body: OrderCreate, who: Platform, c: Container) -> OrderPublic:
    """Create an order. Its milestones state amounts summing to the total, or
    ``percent_bps`` summing to 10000 (split to the cent by largest remainder)."""
    terms = commands.OrderTerms(
        buyer_id=body.buyer_id,
        supplier_id=body.supplier_id,
        supplier_account_id=body.supplier_account_id,
        currency=body.currency,
        funding_currency=body.funding_currency,
        payout_currency=body.payout_currency,
        total=body.total,
        milestones=[
            MilestoneSpec(
                m.name,
                m.amount,
                m.kind,
                m.inspection_window_seconds,
                m.evidence_required,
                m.percent_bps,
            )
            for m in body.milestones
        ],
        metadata=body.metadata,
        external_reference=body.external_reference,
    )
    with answered():
        escrow = await commands.create_order(
            c.unit_of_work(), c.clock, caller(who), terms, answer_order
        )
    return OrderPublic.of(escrow)


@router.get("", responses={200: order_links("/data/0"), **PARTY_MISMATCH})
async def list_orders(
    request: Request,
    who: Anyone,
    c: Container,
    page: Paging,
    status: str | None = None,
    buyer_id: str | None = None,
    supplier_id: str | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    external_reference: ExternalReference | None = None,
    currency: CurrencyCode | None = None,
) -> ListOf[OrderPublic]:
    """Newest first, in pages: pass the last order's ``order_id`` as ``starting_after`` for
    the next while ``has_more``. ``starting_after`` must be an order this caller may list
    (another tenant's is `400 invalid_cursor`, as an unknown one). Filters: ``status``,
    ``buyer_id``, ``supplier_id``, ``created_from``/``created_to``, ``external_reference``
    (the platform's own id, exact) and ``currency`` (ISO 4217, upper case: `USD`; an
    unknown code is a 422), all applied before paging."""
    # A bound supplier key lists its own orders; naming another supplier is a 403 rather than
    # an empty page, so the caller learns its mistake. An unbound one lists any supplier's.
    supplier = who.supplier_filter(supplier_id, unbound_must_name=False)
    flt = OrderFilter(status, buyer_id, supplier, created_from, created_to, external_reference,
                      currency)  # fmt: skip
    with answered():
        found = await commands.list_orders(c.unit_of_work(), caller(who), flt, page)
    return ListOf[OrderPublic].of(found, request, OrderPublic.of)


@router.get("/{order_id}")
async def get(order_id: str, who: Anyone, c: Container) -> OrderPublic:
    with answered():
        escrow = await commands.get_order(c.unit_of_work(), caller(who), order_id)
    return OrderPublic.of(escrow)


@router.patch("/{order_id}", responses={200: order_links(), **PLATFORM_DATA})
async def update(order_id: str, body: OrderUpdate, who: Platform, c: Container) -> OrderPublic:
    """Change the platform's own data on the order, in any status: ``metadata`` is merged
    (a key set to ``""`` is removed), ``external_reference`` set (``null`` removes it)."""
    changes = commands.PlatformData(
        metadata=body.metadata,
        external_reference=body.external_reference,
        clear_reference="external_reference" in body.model_fields_set
        and body.external_reference is None,
    )
    with answered():
        escrow = await commands.update_order(
            c.unit_of_work, c.clock, caller(who), order_id, changes, answer_order
        )
    return OrderPublic.of(escrow)


def _entry(r: TimelineRecord) -> TimelineEntry:
    return TimelineEntry(
        id=str(r.event_id),
        seq=r.seq,
        event_id=str(r.event_id),
        type=r.event_type,
        actor=r.actor,
        occurred_at=r.occurred_at.isoformat(),
        data=r.data,
    )


@router.get("/{order_id}/timeline")
async def timeline(
    request: Request, order_id: str, who: Anyone, c: Container, page: Paging
) -> ListOf[TimelineEntry]:
    """The order's events in the order they happened (oldest first), in pages:
    ``starting_after`` is the last entry's ``id``."""
    with answered():
        found = await commands.order_timeline(c.unit_of_work(), caller(who), order_id, page)
    return ListOf[TimelineEntry].of(found, request, _entry)


@router.post("/{order_id}/cancel")
async def cancel(
    order_id: str, body: CancelRequest, who: PlatformOrFinance, c: Container
) -> OrderPublic:
    with answered():
        escrow = await commands.cancel_order(
            c.unit_of_work, c.clock, c.gateway, caller(who), order_id, body.reason, answer_order
        )
    return OrderPublic.of(escrow)
