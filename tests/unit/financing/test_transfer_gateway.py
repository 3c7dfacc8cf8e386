"""How the financing transfer gateway names a Stripe that cannot be reached or cannot
answer now: an outage (the inbox rewinds and waits), never a failed transfer and never an
event to retry a few times and dead-letter."""

from __future__ import annotations

import socket

import pytest
import stripe

from services.financing.adapters.stripe_gateway import StripeTransferGateway
from shared.outages import DependencyUnavailable
from shared.settings import Settings
from tests.support.stripe_answer import stripe_answering


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _transfer(api_base: str) -> str:
    gateway = StripeTransferGateway(Settings(environment="test", stripe_api_base=api_base))
    return await gateway.transfer(
        amount=100, currency="USD", destination="acct_1", transfer_group="g",
        idempotency_key="k", metadata={},
    )  # fmt: skip


async def test_an_unreachable_stripe_is_an_outage_not_a_failed_transfer() -> None:
    with pytest.raises(DependencyUnavailable) as caught:
        await _transfer(f"http://127.0.0.1:{_closed_port()}")
    assert caught.value.what == "stripe"


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (429, {"type": "invalid_request_error", "code": "rate_limit", "message": "Too many"}),
        (500, {"type": "api_error", "message": "Something went wrong on Stripe's end."}),
        (503, {"type": "api_error", "message": "Service unavailable"}),
    ],
)
async def test_a_rate_limit_or_a_stripe_server_error_is_an_outage_too(
    status: int, error: dict[str, str]
) -> None:
    """Both pass with time, whatever the event: retrying the event five times within two
    seconds and then dead-lettering it parked the order's disbursement for a blip."""
    async with stripe_answering(status, {"error": error}) as stub:
        with pytest.raises(DependencyUnavailable) as caught:
            await _transfer(stub.api_base)
    assert caught.value.what == "stripe"
    assert isinstance(caught.value.__cause__, stripe.RateLimitError | stripe.APIError)


async def test_a_wrong_api_key_is_neither_an_outage_nor_a_failed_transfer() -> None:
    """The platform's misconfiguration: the event is retried, then parked for an operator."""
    error = {"type": "invalid_request_error", "message": "Invalid API Key provided"}
    async with stripe_answering(401, {"error": error}) as stub:
        with pytest.raises(stripe.AuthenticationError):
            await _transfer(stub.api_base)
