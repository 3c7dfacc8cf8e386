"""How Stripe's errors are classified: a refusal ends the operation, anything else is retried
with the same idempotency key."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from services.escrow.adapters.stripe_gateway import StripeGateway
from services.escrow.service_layer.gateway import GatewayRefused, GatewayUnavailable
from services.financing.adapters.stripe_gateway import StripeTransferGateway, TransferFailed
from shared.settings import Settings


async def _raise(exc: Exception) -> Any:
    raise exc


def _in_use() -> stripe.IdempotencyError:
    # What Stripe answers while another request with the same key is still executing: the
    # first one may well be moving the money right now.
    return stripe.IdempotencyError(
        "There is currently another in-progress request using this Idempotent Key",
        http_status=409,
        code="idempotency_key_in_use",
    )


async def test_a_concurrent_request_with_the_same_key_is_retried_not_refused() -> None:
    """The inline settlement and the settlement timer may call Stripe with one payout's key at
    the same moment. Taking Stripe's 409 for a refusal aborted the payout although the other
    call transferred the money, and the milestone could be released (and paid) again."""
    gateway = StripeGateway("sk_test_x", "http://127.0.0.1:1", "whsec_x")
    with pytest.raises(GatewayUnavailable):
        await gateway._call(_raise(_in_use()))
    with pytest.raises(GatewayRefused):
        await gateway._call(_raise(stripe.InvalidRequestError("no such account", "destination")))


class _Transfers:
    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    async def create_async(self, **_: Any) -> Any:
        raise self.exc


async def test_financing_retries_a_disbursement_whose_key_is_in_use() -> None:
    gateway = StripeTransferGateway(Settings(environment="test"))
    gateway.client = type("C", (), {"v1": type("V", (), {"transfers": _Transfers(_in_use())})})()
    with pytest.raises(stripe.IdempotencyError):  # not TransferFailed: the saga retries the event
        await gateway.transfer(amount=1, currency="USD", destination="acct_1", transfer_group="o",
                               metadata={}, idempotency_key="k")  # fmt: skip
    gateway.client.v1.transfers = _Transfers(stripe.PermissionError("no"))
    with pytest.raises(TransferFailed):
        await gateway.transfer(amount=1, currency="USD", destination="acct_1", transfer_group="o",
                               metadata={}, idempotency_key="k")  # fmt: skip
