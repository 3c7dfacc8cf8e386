"""What the escrow needs from a payment provider. adapters/stripe_gateway.py implements it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any


class GatewayRefused(Exception):
    """The provider refused the request for good (invalid account, insufficient balance...)."""


class GatewayUnavailable(Exception):
    """The provider could not be reached or failed; the same request may be retried."""


@dataclass(frozen=True)
class PaymentIntent:
    id: str
    client_secret: str


class PaymentGateway(ABC):
    @abstractmethod
    async def create_payment_intent(
        self,
        *,
        amount: int,
        currency: str,
        order_id: str,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> PaymentIntent: ...

    @abstractmethod
    async def transfer(
        self,
        *,
        amount: int,
        currency: str,
        destination: str,
        transfer_group: str,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> str:
        """Pay ``amount`` to a connected account; returns the transfer id."""

    @abstractmethod
    async def refund(
        self, *, payment_intent_id: str, amount: int, metadata: dict[str, str], idempotency_key: str
    ) -> str:
        """Refund part of a PaymentIntent; returns the refund id."""

    @abstractmethod
    def verify_webhook(self, payload: bytes, signature: str | None) -> dict[str, Any]:
        """The verified event as a dict; raises ValueError when forged or stale."""
