"""The one way Tradeflow talks to Stripe: a client factory, ``StripeApi`` (one call path, one
error classification, the transfer both escrow and financing make), and errors scrubbed of
the secrets they may repeat.

Every Stripe error means one of three things, for every service:

- A refusal (``REFUSALS``: a bad request, a declined card, a missing permission): Stripe will
  answer the same way again. The service's own permanent error (``Refusal``) is raised and
  the caller gives up on that operation.
- An outage (``is_outage``: Stripe not reached, rate-limited, or failing with a 5xx): the
  same call will succeed later, whatever the request. ``DependencyUnavailable`` is raised, so
  an inbox consumer rewinds its batch and waits instead of spending the event's retries and
  dead-lettering it.
- Anything else (a wrong API key, which is the platform's misconfiguration and not the
  customer's fault; an ``IdempotencyError``...) is the scrubbed Stripe error itself: worth
  retrying with the same idempotency key, a few times.

An ``IdempotencyError`` is NOT a refusal. Stripe answers it while another request with the
same key is still executing, and that request may be moving the money right now; a retry
gets its saved result. (The other meaning, a key reused with other parameters, cannot
happen here: every key is derived from one reservation, whose parameters never change.)

The calls are the library's async ones (httpx): nothing blocks the event loop, so no thread.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

import stripe
from stripe.params import TransferCreateParams

from shared.outages import DependencyUnavailable
from shared.redaction import redact, redact_value

T = TypeVar("T")
REFUSALS: tuple[type[stripe.StripeError], ...] = (
    stripe.InvalidRequestError,
    stripe.CardError,
    stripe.PermissionError,
)


class Refusal(Protocol):
    """A service's permanent error, made from Stripe's error code (or the error's class
    name when Stripe gave none) and its scrubbed message."""

    def __call__(self, code: str, message: str) -> Exception: ...


def stripe_client(api_key: str, api_base: str) -> stripe.StripeClient:
    """A StripeClient on httpx (sync and async calls), pointed at ``api_base``."""
    return stripe.StripeClient(
        api_key,
        base_addresses={"api": api_base},
        http_client=stripe.HTTPXClient(allow_sync_methods=True),
        max_network_retries=2,
    )


def is_outage(exc: stripe.StripeError) -> bool:
    """Stripe cannot answer now, whatever the request (see the module's docstring)."""
    if isinstance(exc, stripe.APIConnectionError | stripe.RateLimitError):
        return True
    return isinstance(exc, stripe.APIError) and (exc.http_status or 0) >= 500


class StripeApi:
    """One Stripe account, called by one service: ``refusal`` is that service's error."""

    def __init__(self, api_key: str, api_base: str, refusal: Refusal) -> None:
        self.client = stripe_client(api_key, api_base)
        self._refusal = refusal

    async def call(self, request: Callable[[stripe.StripeClient], Awaitable[T]]) -> T:
        """``request(client)``, its error given its meaning (and scrubbed) if it fails."""
        try:
            return await request(self.client)
        except stripe.StripeError as exc:
            scrubbed(exc)
            if isinstance(exc, REFUSALS):
                raise self._refusal(exc.code or type(exc).__name__, str(exc)) from exc
            if is_outage(exc):
                raise DependencyUnavailable("stripe", str(exc)) from exc
            raise

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
        """Pay ``amount`` minor units to the connected account ``destination``; the transfer
        id. A replay under the same ``idempotency_key`` gets the first transfer back.

        ``source_transaction``: the charge the transfer is funded by. Stripe then makes the
        transfer when that charge's funds become available instead of drawing on (and being
        refused for want of) the available balance; the transfers from one charge may not
        add up to more than it. The caller must send it on every retry of one key alike."""
        params: TransferCreateParams = {
            "amount": amount,
            "currency": currency.lower(),
            "destination": destination,
            "transfer_group": transfer_group,
            "metadata": metadata,
        }
        if source_transaction is not None:
            params["source_transaction"] = source_transaction
        created = await self.call(
            lambda client: client.v1.transfers.create_async(
                params=params, options={"idempotency_key": idempotency_key}
            )
        )
        return str(created.id)


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
