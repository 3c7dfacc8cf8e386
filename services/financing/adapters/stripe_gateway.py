"""Disbursement by Stripe transfer to the supplier's connected account.

The idempotency key is derived from the event that triggered the disbursement
(escrow.lien_placed), so a redelivered event or a retried handler never pays twice: Stripe
answers a replay with the first transfer. Errors Stripe will answer the same way again
(invalid request, permission, card) are ``TransferFailed`` and cancel the advance;
a Stripe that cannot be reached is ``DependencyUnavailable``: the inbox rewinds the batch
and waits, never dead-letters (a disbursement must not be parked for a network blip).
Rate-limit and authentication errors propagate, so the inbox retries the event: a wrong API
key is the platform's misconfiguration, not a reason to cancel every supplier's advance; the
event is retried and then parked on the dead letters.
Every error leaves scrubbed of the secrets it may repeat (shared.payments.scrubbed).
"""

from __future__ import annotations

import stripe

from shared.outages import DependencyUnavailable
from shared.payments import REFUSALS, scrubbed, stripe_client
from shared.settings import Settings


class TransferFailed(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class TransferGateway:
    """The port: pays ``amount`` minor units to ``destination``; returns the transfer id."""

    async def transfer(
        self,
        *,
        amount: int,
        currency: str,
        destination: str,
        transfer_group: str,
        idempotency_key: str,
        metadata: dict[str, str],
    ) -> str:
        raise NotImplementedError


class StripeTransferGateway(TransferGateway):
    def __init__(self, settings: Settings) -> None:
        self.client = stripe_client(
            settings.stripe_api_key.get_secret_value(), settings.stripe_api_base
        )

    async def transfer(
        self,
        *,
        amount: int,
        currency: str,
        destination: str,
        transfer_group: str,
        idempotency_key: str,
        metadata: dict[str, str],
    ) -> str:
        try:
            created = await self.client.v1.transfers.create_async(
                params={
                    "amount": amount,
                    "currency": currency.lower(),
                    "destination": destination,
                    "transfer_group": transfer_group,
                    "metadata": metadata,
                },
                options={"idempotency_key": idempotency_key},
            )
        except REFUSALS as exc:
            raise TransferFailed(exc.code or type(exc).__name__, str(scrubbed(exc))) from exc
        except stripe.APIConnectionError as exc:
            # Stripe cannot be reached: no event is at fault. The inbox rewinds and waits
            # instead of spending the event's retries and parking its order.
            raise DependencyUnavailable("stripe", str(scrubbed(exc))) from exc
        except stripe.StripeError as exc:
            scrubbed(exc)
            raise  # retried by the inbox, as it was
        return str(created.id)
