"""The one way Tradeflow talks to Stripe: a client factory, one error classification, and
errors scrubbed of the secrets they may repeat.

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

from shared.redaction import redact, redact_value

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


def scrubbed(exc: stripe.StripeError) -> stripe.StripeError:
    """``exc`` without any secret its message or body repeats, for it travels on (logs, API
    answers, stored reasons). stripe-mock echoes a refused request's Authorization header,
    the platform's Stripe key; real Stripe masks it, but we do not rely on that."""
    exc._message = redact(exc._message) if exc._message else exc._message
    exc.http_body = redact(exc.http_body) if exc.http_body else exc.http_body
    exc.json_body = redact_value(exc.json_body)
    exc.args = tuple(redact_value(list(exc.args)))
    exc.error = exc._construct_error_object()
    return exc
