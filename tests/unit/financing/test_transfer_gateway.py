"""How the financing transfer gateway names a Stripe that cannot be reached."""

from __future__ import annotations

import socket

import pytest

from services.financing.adapters.stripe_gateway import StripeTransferGateway
from shared.outages import DependencyUnavailable
from shared.settings import Settings


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_an_unreachable_stripe_is_an_outage_not_a_failed_transfer() -> None:
    settings = Settings(environment="test", stripe_api_base=f"http://127.0.0.1:{_closed_port()}")
    gateway = StripeTransferGateway(settings)
    with pytest.raises(DependencyUnavailable) as caught:
        await gateway.transfer(
            amount=100, currency="USD", destination="acct_1", transfer_group="g",
            idempotency_key="k", metadata={},
        )  # fmt: skip
    assert caught.value.what == "stripe"
