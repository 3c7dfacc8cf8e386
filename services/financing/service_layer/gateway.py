"""What financing needs from a payment provider: a transfer to the supplier's connected
account. ``adapters/stripe_gateway.py`` implements it on Stripe."""

from __future__ import annotations


class TransferFailed(Exception):
    """The provider refused the transfer for good (``code`` says why): the advance is
    cancelled and its lien given back."""

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
        source_transaction: str | None = None,
    ) -> str:
        """``source_transaction``: the charge the transfer is made from (None: the balance)."""
        raise NotImplementedError
