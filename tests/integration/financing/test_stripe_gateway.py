"""The Stripe gateway against stripe-mock. (A refused transfer cancelling the advance is in
test_saga.py: stripe-mock accepts every well-formed transfer, so the refusal is simulated.)"""

from __future__ import annotations

import uuid

import pytest
import stripe
from pydantic import SecretStr

from services.financing.adapters.stripe_gateway import StripeTransferGateway
from tests.integration.financing.conftest import Harness

pytestmark = pytest.mark.integration


def transfer(destination: str = "acct_1Supplier") -> dict[str, object]:
    return {
        "amount": 5_377_680,
        "currency": "USD",
        "destination": destination,
        "transfer_group": "ord_1",
        "idempotency_key": f"financing-disburse-{uuid.uuid4()}",
        "metadata": {"advance_id": "adv_1", "order_id": "ord_1"},
    }


async def test_a_transfer_returns_its_id(harness: Harness) -> None:
    assert (await harness.gateway.transfer(**transfer())).startswith("tr_")  # type: ignore[arg-type]


async def test_a_bad_api_key_is_not_a_transfer_failure(harness: Harness) -> None:
    wrong = StripeTransferGateway(
        harness.settings.model_copy(update={"stripe_api_key": SecretStr("sk_test_bad_key")})
    )
    with pytest.raises(stripe.AuthenticationError):
        await wrong.transfer(**transfer())  # type: ignore[arg-type]
