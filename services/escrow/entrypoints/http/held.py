"""``GET /v1/escrow/held?as_of=``: what escrow held per order at a moment (finance scope).

The ledger's three-way check asks it (docs/ledger.md, "Three-way check"); finance staff can
too. Every figure is in integer minor units of the order's currency.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict

from services.escrow.adapters.held import SqlHeldBalances
from services.escrow.entrypoints.http.deps import Container, Finance, caller
from services.escrow.service_layer.held import held_as_of

router = APIRouter(prefix="/v1/escrow", tags=["escrow"])


class OrderHeldPublic(BaseModel):
    order_id: str
    currency: str
    held: int
    collected: int


class HeldPublic(BaseModel):
    """Per order with money moved by ``as_of``: what escrow held then (``held``), and the
    money taken in through Stripe until then (``collected``: Stripe fundings minus Stripe
    refunds)."""

    as_of: datetime
    orders: list[OrderHeldPublic]

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "as_of": "2026-07-01T00:00:00+00:00",
                    "orders": [
                        {"order_id": "ord_01J2", "currency": "USD", "held": 70_000,
                         "collected": 100_000},
                    ],
                }
            ]
        }
    )  # fmt: skip


@router.get("/held")
async def held(
    who: Finance,
    c: Container,
    as_of: datetime | None = Query(None, description="default: now"),
) -> HeldPublic:
    """What escrow held per order at ``as_of``, from each order's money events."""
    at = c.runtime.clock.now() if as_of is None else as_of
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    found = await held_as_of(SqlHeldBalances(c.runtime.engine), caller(who), at)
    return HeldPublic(
        as_of=at,
        orders=[OrderHeldPublic(order_id=o.order_id, currency=o.currency, held=o.held,
                                collected=o.collected) for o in found],
    )  # fmt: skip
