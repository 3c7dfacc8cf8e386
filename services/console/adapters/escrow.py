"""Escrow's API as the console reads it (docs/escrow.md, "HTTP API")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.console.adapters.api import Page, ServiceApi, stripe_page

STATUSES = ("awaiting_funding", "partially_funded", "funded", "completed", "cancelled")


@dataclass(frozen=True)
class OrderFilter:
    """The filters ``GET /v1/orders`` supports."""

    status: str | None = None
    buyer_id: str | None = None
    supplier_id: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    currency: str | None = None
    external_reference: str | None = None

    def params(self) -> dict[str, Any]:
        return {
            "currency": self.currency,
            "external_reference": self.external_reference,
            "status": self.status,
            "buyer_id": self.buyer_id,
            "supplier_id": self.supplier_id,
            "created_from": self.created_from.isoformat() if self.created_from else None,
            "created_to": self.created_to.isoformat() if self.created_to else None,
        }


class EscrowClient:
    def __init__(self, api: ServiceApi) -> None:
        self.api = api

    async def orders(
        self, flt: OrderFilter, cursor: str | None = None, limit: int = 20
    ) -> Page[dict[str, Any]]:
        found = await self.api.request(
            "GET",
            "/v1/orders",
            params={**flt.params(), "starting_after": cursor, "limit": limit},
        )
        return stripe_page(found, "order_id")

    async def order(self, order_id: str) -> dict[str, Any]:
        found: dict[str, Any] = await self.api.request("GET", f"/v1/orders/{order_id}")
        return found

    async def timeline(self, order_id: str) -> list[dict[str, Any]]:
        return await self.api.all_pages(f"/v1/orders/{order_id}/timeline", at_most=1_000)
