"""An endpoint's delivery log, and redelivery (of one delivery, or of a time range)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from services.webhooks.entrypoints.http.deps import Container, Paged, Platform, caller
from services.webhooks.entrypoints.http.errors import answered
from services.webhooks.entrypoints.http.schemas import (
    DeliveryPublic,
    Redelivered,
    RedeliverRange,
)
from services.webhooks.service_layer import commands
from shared.http.idempotency import answer
from shared.http.pagination import ListOf
from shared.pagination import Window

router = APIRouter(prefix="/v1/webhook-endpoints/{endpoint_id}", tags=["webhook deliveries"])
REFUSALS: dict[int | str, dict[str, Any]] = {
    404: {"description": "`webhook_endpoint_not_found` or `webhook_delivery_not_found`"},
    409: {"description": "`endpoint_disabled`: enable the endpoint first"},
}


@router.get("/deliveries", responses=REFUSALS)
async def list_deliveries(
    request: Request, endpoint_id: str, who: Platform, c: Container, page: Paged
) -> ListOf[DeliveryPublic]:
    """Newest first, each with its attempts (number, status code, latency, the first KiB of
    the answer, or the error)."""
    with answered():
        found, more = await commands.list_deliveries(
            c.unit_of_work(), who.tenant_id, endpoint_id, page
        )
    return ListOf[DeliveryPublic].of(
        Window(found, more), request, lambda found: DeliveryPublic.of(*found)
    )


@router.post("/deliveries/{delivery_id}/redeliver", status_code=202, responses=REFUSALS)
async def redeliver(
    endpoint_id: str, delivery_id: str, who: Platform, c: Container
) -> DeliveryPublic:
    """Send the delivery's event again, as a new delivery (same ``webhook-id``)."""
    with answered():
        again = await commands.redeliver(
            c.unit_of_work(),
            caller(who),
            endpoint_id,
            delivery_id,
            c.clock.now(),
            lambda d: answer(DeliveryPublic.of(d)),
        )
    return DeliveryPublic.of(again)


@router.post(
    "/redeliver", status_code=202, responses={**REFUSALS, 422: {"description": "`invalid_range`"}}
)
async def redeliver_range(
    endpoint_id: str, body: RedeliverRange, who: Platform, c: Container
) -> Redelivered:
    """Send again every event first sent to the endpoint in [since, until): by default only
    those whose latest delivery failed for good."""
    with answered():
        again = await commands.redeliver_range(
            c.unit_of_work(),
            caller(who),
            endpoint_id,
            body.since,
            body.until,
            c.clock.now(),
            body.only_failed,
            lambda ds: answer(Redelivered(data=[DeliveryPublic.of(d) for d in ds])),
        )
    return Redelivered(data=[DeliveryPublic.of(d) for d in again])
