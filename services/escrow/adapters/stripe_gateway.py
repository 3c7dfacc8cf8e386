"""The payment gateway on the official stripe library (StripeClient, async over httpx).

``api_base`` comes from settings.stripe_api_base (stripe-mock in tests). Webhooks are
verified with ``stripe.WebhookSignature.verify_header`` (HMAC-SHA256 over ``"{t}.{payload}"``,
timestamps older than ``WEBHOOK_TOLERANCE`` seconds refused). The library accepts any
timestamp in the future; we refuse those beyond the same tolerance, or a request signed
ahead of time would stay replayable long after it was captured. The body is then decoded as
JSON by us rather than by ``construct_event``, which fails with arbitrary exceptions on a
signed body that is JSON but no event object.

The calls and the meaning of Stripe's errors are ``shared.payments.StripeApi``'s (the transfer
too, the one financing makes); a refusal is ``GatewayRefused``. Escrow retries everything
else alike, outage or not: the settlement timer calls again with the same idempotency key,
and a funding request answers 502. So ``GatewayUnavailable`` is all of it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import stripe

from services.escrow.service_layer.gateway import (
    GatewayRefused,
    GatewayUnavailable,
    PaymentGateway,
    PaymentIntent,
    WebhookRefused,
)
from shared.outages import DependencyUnavailable
from shared.payments import StripeApi

WEBHOOK_TOLERANCE = 300  # seconds
T = TypeVar("T")


def _refused(code: str, message: str) -> GatewayRefused:
    return GatewayRefused(message)


async def _retried_unless_refused(call: Awaitable[T]) -> T:
    """``call``, with every error but a refusal (``GatewayRefused`` already) unavailable."""
    try:
        return await call
    except DependencyUnavailable as exc:
        raise GatewayUnavailable(exc.message) from exc
    except stripe.StripeError as exc:  # scrubbed by StripeApi
        raise GatewayUnavailable(str(exc)) from exc


class StripeGateway(PaymentGateway):
    def __init__(self, api_key: str, api_base: str, webhook_secret: str) -> None:
        self._stripe = StripeApi(api_key, api_base, _refused)
        self._webhook_secret = webhook_secret

    async def _call(self, request: Callable[[stripe.StripeClient], Awaitable[T]]) -> T:
        return await _retried_unless_refused(self._stripe.call(request))

    async def create_payment_intent(
        self,
        *,
        amount: int,
        currency: str,
        order_id: str,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> PaymentIntent:
        intent = await self._call(
            lambda client: client.v1.payment_intents.create_async(
                params={
                    "amount": amount,
                    "currency": currency.lower(),
                    "transfer_group": order_id,
                    "metadata": metadata,
                    "automatic_payment_methods": {"enabled": True},
                },
                options={"idempotency_key": idempotency_key},
            )
        )
        return PaymentIntent(id=intent.id, client_secret=intent.client_secret or "")

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
        return await _retried_unless_refused(
            self._stripe.transfer(
                amount=amount,
                currency=currency,
                destination=destination,
                transfer_group=transfer_group,
                metadata=metadata,
                idempotency_key=idempotency_key,
                source_transaction=source_transaction,
            )
        )

    async def refund(
        self, *, payment_intent_id: str, amount: int, metadata: dict[str, str], idempotency_key: str
    ) -> str:
        refund = await self._call(
            lambda client: client.v1.refunds.create_async(
                params={
                    "payment_intent": payment_intent_id,
                    "amount": amount,
                    "metadata": metadata,
                },
                options={"idempotency_key": idempotency_key},
            )
        )
        return str(refund.id)

    def verify_webhook(self, payload: bytes, signature: str | None) -> Any:
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise WebhookRefused("invalid_payload", "the body is not UTF-8") from exc
        try:
            stripe.WebhookSignature.verify_header(
                text, signature, self._webhook_secret, tolerance=WEBHOOK_TOLERANCE
            )
        except stripe.SignatureVerificationError as exc:
            raise WebhookRefused("invalid_signature", f"invalid Stripe signature: {exc}") from exc
        assert signature is not None  # verify_header refuses a missing header
        if signed_at(signature) > time.time() + WEBHOOK_TOLERANCE:
            raise WebhookRefused("invalid_signature", "the signature is dated in the future")
        try:
            return json.loads(text)
        except ValueError as exc:
            raise WebhookRefused("invalid_payload", f"the body is not JSON: {exc}") from exc


def signed_at(header: str) -> int:
    """The ``t=`` of a header verify_header accepted (it read the first one, as we do)."""
    items = (item.split("=", 2) for item in header.split(","))
    return next(int(kv[1]) for kv in items if kv[0] == "t")
