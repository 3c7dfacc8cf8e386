"""The one mapping of the escrow's domain and service-layer errors to API answers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from services.escrow.domain import errors as domain
from services.escrow.domain import schedule
from services.escrow.service_layer.errors import OrderNotFound, PaymentNotSucceeded
from services.escrow.service_layer.gateway import (
    GatewayRefused,
    GatewayUnavailable,
    WebhookRefused,
)
from shared.http.errors import ApiError, not_found
from shared.unit_of_work import Conflict

STATUS = {
    domain.InvalidOrder: 422,
    domain.InvalidAmount: 422,
    domain.InvalidEvidence: 422,
    domain.CurrencyMismatch: 422,
    domain.InvalidTransition: 409,
    domain.InsufficientFunds: 409,
    domain.InvariantViolation: 409,
    domain.UnknownMilestone: 404,
    domain.UnknownDispute: 404,
    domain.UnknownOffer: 404,
    domain.UnknownProposal: 404,
    domain.WrongParty: 403,
    domain.InvalidFx: 422,
    domain.FxRateUnavailable: 409,
    domain.FxQuoteNotFound: 404,
    domain.FxQuoteExpired: 409,
    domain.FxQuoteUsed: 409,
    domain.FxQuoteMismatch: 422,
    domain.FxQuoteRequired: 422,
    domain.FxWireNotSupported: 422,
    schedule.MixedSchedule: 400,
    schedule.InvalidPercentages: 400,
}
CONFLICT = "the escrow changed meanwhile; retry"


def api_error(exc: Exception, *, conflict: str = CONFLICT) -> ApiError | None:
    """The answer to ``exc``, or None for an error that is no refusal (a 500).
    ``conflict``: what a persisting ``Conflict`` tells the client to do."""
    if isinstance(exc, OrderNotFound):
        return not_found("order", exc.order_id)
    if isinstance(exc, Conflict):
        return ApiError(409, "concurrent_modification", conflict)
    if isinstance(exc, domain.EscrowError):
        return ApiError(STATUS.get(type(exc), 409), exc.code, exc.message)
    if isinstance(exc, GatewayRefused | GatewayUnavailable):
        return ApiError(502, "payment_provider_error", str(exc))
    if isinstance(exc, WebhookRefused):
        return ApiError(400, exc.code, str(exc))
    if isinstance(exc, PaymentNotSucceeded):
        return ApiError(409, exc.code, f"{exc}; deliver it again later")
    return None


@contextmanager
def answered(*, conflict: str = CONFLICT) -> Iterator[None]:
    """Run a use case, answering its refusals as the API does."""
    try:
        yield
    except Exception as exc:
        error = api_error(exc, conflict=conflict)
        if error is None:
            raise
        raise error from exc
