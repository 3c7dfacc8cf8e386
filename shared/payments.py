"""The one way Tradeflow talks to Stripe: a client factory and one error classification.

Refusals are errors Stripe will answer the same way again (a bad request, a declined card,
a missing permission, an idempotency key reused with other parameters): the caller gives
up on that operation. Everything else (network, rate limits, Stripe's own errors, and a
wrong API key, which is the platform's misconfiguration and not the customer's fault) is
worth retrying with the same idempotency key.
"""

from __future__ import annotations

import stripe

REFUSALS: tuple[type[stripe.StripeError], ...] = (
    stripe.InvalidRequestError,
    stripe.CardError,
    stripe.PermissionError,
    stripe.IdempotencyError,
)


def stripe_client(api_key: str, api_base: str) -> stripe.StripeClient:
    """A StripeClient on httpx (sync and async calls), pointed at ``api_base``."""
    return stripe.StripeClient(
        api_key,
        base_addresses={"api": api_base},
        http_client=stripe.HTTPXClient(allow_sync_methods=True),
        max_network_retries=2,
    )
