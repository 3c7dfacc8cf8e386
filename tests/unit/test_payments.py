"""What a Stripe error means, for every service (``shared.payments.StripeApi``): a refusal
ends the operation with the service's own error, an outage is ``DependencyUnavailable``,
anything else is the Stripe error itself, retried with the same idempotency key. The
errors are stripe's own classes, built as the library builds them from an answer."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from services.escrow.adapters.stripe_gateway import StripeGateway
from services.escrow.service_layer.gateway import GatewayRefused, GatewayUnavailable
from services.financing.adapters.stripe_gateway import StripeTransferGateway, TransferFailed
from shared.outages import DependencyUnavailable
from shared.payments import StripeApi
from shared.settings import Settings

KEY = "sk_test_4eC39HqLyjWDarjtT1zdp7dc"  # what stripe-mock echoes back in an error
ECHO = f"Invalid API Key provided: {KEY}"


class Refused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def api() -> StripeApi:
    return StripeApi("sk_test_x", "http://127.0.0.1:1", Refused)


async def failing_with(exc: Exception) -> Any:
    return await api().call(lambda _client: _raise(exc))


async def _raise(exc: Exception) -> Any:
    raise exc


def _in_use() -> stripe.IdempotencyError:
    # What Stripe answers while another request with the same key is still executing: the
    # first one may well be moving the money right now.
    return stripe.IdempotencyError(
        "There is currently another in-progress request using this Idempotent Key",
        http_status=400,
        code="idempotency_key_in_use",
    )


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (stripe.InvalidRequestError("No such destination", "destination", code="resource_missing",
                                    http_status=400), "resource_missing"),
        (stripe.CardError("Your card was declined.", "", "card_declined", http_status=402),
         "card_declined"),
        (stripe.PermissionError("not allowed on this account", http_status=403),
         "PermissionError"),
    ],
)  # fmt: skip
async def test_a_refusal_is_the_services_own_error_with_stripes_code(
    error: stripe.StripeError, code: str
) -> None:
    with pytest.raises(Refused) as refused:
        await failing_with(error)
    assert refused.value.code == code  # Stripe's code, else the kind of refusal
    assert str(refused.value) == str(error)
    assert refused.value.__cause__ is error


@pytest.mark.parametrize(
    "error",
    [
        stripe.APIConnectionError("Connection refused", should_retry=True),
        stripe.RateLimitError("Too many requests", http_status=429),
        stripe.APIError("Something went wrong on Stripe's end.", http_status=500),
        stripe.APIError("Invalid response object from API: '<html>'", http_status=502),
        stripe.APIError("Service unavailable", http_status=503),
    ],
)
async def test_an_outage_is_a_dependency_unavailable(error: stripe.StripeError) -> None:
    with pytest.raises(DependencyUnavailable) as outage:
        await failing_with(error)
    assert outage.value.what == "stripe"
    assert outage.value.message == str(error)
    assert outage.value.__cause__ is error


@pytest.mark.parametrize(
    "error",
    [
        stripe.AuthenticationError("Invalid API Key provided", http_status=401),
        _in_use(),
        stripe.APIError("lock timeout", http_status=409),
        stripe.APIError("Invalid response object from API", http_status=None),
    ],
)
async def test_anything_else_is_stripes_error_retried_as_it_is(error: stripe.StripeError) -> None:
    with pytest.raises(type(error)) as raised:
        await failing_with(error)
    assert raised.value is error


@pytest.mark.parametrize(
    "error",
    [
        stripe.InvalidRequestError(ECHO, None, http_status=400, json_body={"error": {"message": ECHO}}),
        stripe.APIError(ECHO, http_status=500, http_body=f'{{"error": "{ECHO}"}}'),
        stripe.AuthenticationError(ECHO, http_status=401, json_body={"error": {"message": ECHO}}),
    ],
)  # fmt: skip
async def test_no_error_repeats_the_stripe_key(error: stripe.StripeError) -> None:
    with pytest.raises(Exception) as raised:
        await failing_with(error)
    for exc in (raised.value, error):
        assert KEY not in str(exc) and KEY not in repr(exc)
    assert KEY not in str(error.http_body) and KEY not in str(error.json_body)


async def test_the_answer_of_a_call_is_returned() -> None:
    async def answered(client: stripe.StripeClient) -> str:
        assert isinstance(client, stripe.StripeClient)
        return "tr_1"

    assert await api().call(answered) == "tr_1"


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (_in_use(), GatewayUnavailable),
        (stripe.RateLimitError("Too many", http_status=429), GatewayUnavailable),
        (stripe.AuthenticationError("Invalid API Key", http_status=401), GatewayUnavailable),
        (stripe.InvalidRequestError("no such account", "destination"), GatewayRefused),
    ],
)
async def test_escrow_retries_a_payout_whose_key_is_in_use(
    error: stripe.StripeError, expected: type[Exception]
) -> None:
    """The inline settlement and the settlement timer may call Stripe with one payout's key at
    the same moment. Taking Stripe's answer for a refusal aborted the payout although the other
    call transferred the money, and the milestone could be released (and paid) again. Escrow
    retries every error but a refusal alike (its settlement timer), with Stripe's message."""
    gateway = StripeGateway("sk_test_x", "http://127.0.0.1:1", "whsec_x")
    with pytest.raises(expected) as raised:
        await gateway._call(lambda _client: _raise(error))
    assert str(raised.value) == str(error)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (_in_use(), stripe.IdempotencyError),  # not TransferFailed: the saga retries the event
        (stripe.PermissionError("no"), TransferFailed),
    ],
)
async def test_financing_retries_a_disbursement_whose_key_is_in_use(
    error: stripe.StripeError, expected: type[Exception], monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway = StripeTransferGateway(Settings(environment="test"))
    transfers = gateway.stripe.client.v1.transfers
    monkeypatch.setattr(transfers, "create_async", lambda **_: _raise(error))
    with pytest.raises(expected):
        await gateway.transfer(amount=1, currency="USD", destination="acct_1", transfer_group="o",
                               metadata={}, idempotency_key="k")  # fmt: skip
