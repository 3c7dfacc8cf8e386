"""A Stripe error never carries the platform's Stripe key onward (to a log, an API answer, a
stored reason). stripe-mock echoes the Authorization header of a request it refuses; real
Stripe masks the key, but the gateways must not rely on the other side's manners."""

from __future__ import annotations

import pytest
import stripe

from services.escrow.adapters.stripe_gateway import StripeGateway
from services.escrow.service_layer.gateway import GatewayUnavailable
from services.financing.adapters.stripe_gateway import StripeTransferGateway
from shared.settings import Settings

pytestmark = pytest.mark.integration

WRONG_KEY = "sk_test_wrong_key_with_underscores"  # stripe-mock refuses it and repeats it


async def test_escrow_gateway_errors_do_not_repeat_the_key(settings: Settings) -> None:
    gateway = StripeGateway(WRONG_KEY, settings.stripe_api_base, "whsec_unused")
    with pytest.raises(GatewayUnavailable) as failed:
        await gateway.create_payment_intent(
            amount=1_000, currency="USD", order_id="ord_1", metadata={}, idempotency_key="k-1"
        )
    assert "Authorization was" in str(failed.value)  # the echo is there, the key is not
    assert WRONG_KEY not in str(failed.value)


async def test_financing_gateway_errors_do_not_repeat_the_key(settings: Settings) -> None:
    from pydantic import SecretStr

    gateway = StripeTransferGateway(
        settings.model_copy(update={"stripe_api_key": SecretStr(WRONG_KEY)})
    )
    with pytest.raises(stripe.AuthenticationError) as failed:  # retried, not a refusal
        await gateway.transfer(
            amount=1_000, currency="USD", destination="acct_1", transfer_group="ord_1",
            idempotency_key="k-2", metadata={},
        )  # fmt: skip
    assert "Authorization was" in str(failed.value)
    assert WRONG_KEY not in str(failed.value) and WRONG_KEY not in repr(failed.value)
