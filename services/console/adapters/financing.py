"""Financing's API as the console reads and writes it (docs/financing.md, "API")."""

from __future__ import annotations

from typing import Any

from services.console.adapters.api import ServiceApi


class FinancingClient:
    def __init__(self, api: ServiceApi) -> None:
        self.api = api

    async def advances(self) -> list[dict[str, Any]]:
        """The caller's advances (a supplier key bound to a party: that supplier's only)."""
        return await self.api.all_pages("/v1/advances", id_field="advance_id")

    async def advance(self, advance_id: str) -> dict[str, Any]:
        found: dict[str, Any] = await self.api.request("GET", f"/v1/advances/{advance_id}")
        return found

    async def statement(self, advance_id: str) -> dict[str, Any]:
        found: dict[str, Any] = await self.api.request(
            "GET", f"/v1/advances/{advance_id}/statement"
        )
        return found

    async def quote(self, order_id: str, idempotency_key: str) -> dict[str, Any]:
        """Ask for the most the order can raise: an ``offered`` advance, or a refusal
        (``ApiFailure`` 422 ``advance_refused`` with the reasons)."""
        found: dict[str, Any] = await self.api.request(
            "POST", "/v1/quotes", body={"order_id": order_id}, idempotency_key=idempotency_key
        )
        return found

    async def accept(self, advance_id: str, idempotency_key: str) -> dict[str, Any]:
        found: dict[str, Any] = await self.api.request(
            "POST", f"/v1/advances/{advance_id}/accept", body={}, idempotency_key=idempotency_key
        )
        return found
