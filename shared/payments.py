"""The one way Tradeflow talks to Stripe: a client factory and one error classification.

Refusals are errors Stripe will answer the same way again (a bad request, a declined card,
a missing permission): the caller gives up on that operation. Everything else (network, rate
limits, Stripe's own errors, a wrong API key, which is the platform's misconfiguration and
not the customer's fault) is worth retrying with the same idempotency key.

An ``IdempotencyError`` is NOT a refusal. Stripe answers it while another request with the
same key is still executing, and that request may be moving the money right now; a retry
gets its saved result. (The other meaning, a key reused with other parameters, cannot
happen here: every key is derived from one reservation, whose parameters never change.)
"""

from __future__ import annotations

import stripe

REFUSALS: tuple[type[stripe.StripeError], ...] = (
    stripe.InvalidRequestError,
    stripe.CardError,
    stripe.PermissionError,
)


def stripe_client(api_key: str, api_base: str) -> stripe.StripeClient:
    """A StripeClient on httpx (sync and async calls), pointed at ``api_base``."""
    return stripe.StripeClient(
        api_key,
        base_addresses={"api": api_base},
        http_client=stripe.HTTPXClient(allow_sync_methods=True),
        max_network_retries=2,
    )
