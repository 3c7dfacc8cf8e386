"""Disbursement by Stripe transfer to the supplier's connected account (the port,
``TransferGateway``, is ``service_layer/gateway.py``'s).

The idempotency key is derived from the event that triggered the disbursement
(escrow.lien_placed), so a redelivered event or a retried handler never pays twice: Stripe
answers a replay with the first transfer. The call and the meaning of Stripe's errors are
``shared.payments.StripeApi``'s: a refusal (invalid request, permission, card) is
``TransferFailed`` and cancels the advance; a Stripe that cannot answer now (not reached,
rate-limited, a 5xx) is ``DependencyUnavailable``: the inbox rewinds the batch and waits,
never dead-letters (a disbursement must not be parked for a blip). Anything else (a wrong
API key, which is the platform's misconfiguration, not a reason to cancel every supplier's
advance; an idempotency key still in use) propagates, so the inbox retries the event and
then parks it on the dead letters. Every error leaves scrubbed of the secrets it may repeat.
"""

from __future__ import annotations

from services.financing.service_layer.gateway import TransferFailed, TransferGateway
from shared.payments import StripeApi
from shared.settings import Settings

__all__ = ["StripeTransferGateway", "TransferFailed", "TransferGateway"]


class StripeTransferGateway(TransferGateway):
    def __init__(self, settings: Settings) -> None:
        self.stripe = StripeApi(
            settings.stripe_api_key.get_secret_value(), settings.stripe_api_base, TransferFailed
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
        source_transaction: str | None = None,
    ) -> str:
        return await self.stripe.transfer(
            source_transaction=source_transaction,
            amount=amount,
            currency=currency,
            destination=destination,
            transfer_group=transfer_group,
            metadata=metadata,
            idempotency_key=idempotency_key,
        )
