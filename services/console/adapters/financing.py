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

    async def headroom(self, order_id: str) -> dict[str, Any]:
        """What can still be advanced on the order now, read without quoting: ``{available,
        binding, financeable, min_advance, caps: [{code, available}], reasons: [{code,
        message, available}]}`` (financing's ``GET /v1/orders/{id}/headroom``)."""
        found: dict[str, Any] = await self.api.request("GET", f"/v1/orders/{order_id}/headroom")
        return found

    async def repay_early(
        self, advance_id: str, payment_reference: str | None, idempotency_key: str
    ) -> dict[str, Any]:
        """Settle the advance today at its ``payoff_now`` (balance less the fee not yet
        earned); the payment itself is referenced, not collected, by financing."""
        body = {"payment_reference": payment_reference} if payment_reference else {}
        found: dict[str, Any] = await self.api.request(
            "POST", f"/v1/advances/{advance_id}/repay-early", body=body,
            idempotency_key=idempotency_key,
        )  # fmt: skip
        return found

    async def accept(self, advance_id: str, idempotency_key: str) -> dict[str, Any]:
        found: dict[str, Any] = await self.api.request(
            "POST", f"/v1/advances/{advance_id}/accept", body={}, idempotency_key=idempotency_key
        )
        return found
