"""What the escrow needs from a payment provider. adapters/stripe_gateway.py implements it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass


class GatewayRefused(Exception):
    """The provider refused the request for good (invalid account, insufficient balance...)."""


class GatewayUnavailable(Exception):
    """The provider could not be reached or failed; the same request may be retried."""


class WebhookRefused(ValueError):
    """A webhook body refused before anything reads it: ``code`` says why.

    ``invalid_signature``: not signed with our endpoint secret, or not signed now (its
    timestamp outside the tolerance, in the past or in the future). ``invalid_payload``:
    signed, but not a Stripe event escrow can read (not UTF-8 JSON, not an event object, an
    amount that is not an integer of minor units...).
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


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
        source_transaction: str | None = None,
    ) -> str:
        """Pay ``amount`` to a connected account; returns the transfer id.
        ``source_transaction``: the charge whose funds it is made from (it then waits for
        them to be available rather than failing on the balance)."""

    @abstractmethod
    async def refund(
        self, *, payment_intent_id: str, amount: int, metadata: dict[str, str], idempotency_key: str
    ) -> str:
        """Refund part of a PaymentIntent; returns the refund id."""

    @abstractmethod
    def verify_webhook(self, payload: bytes, signature: str | None) -> object:
        """The JSON value of a body Stripe signed just now; else raises WebhookRefused.

        Only the signature and the JSON are checked here; what the value must look like is
        the webhook endpoint's business (entrypoints/http/webhooks.py: parse_event)."""
