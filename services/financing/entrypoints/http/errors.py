"""The one mapping of financing's domain and service-layer errors to API answers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import IntegrityError

from services.financing.domain.advance import AdvanceRuleViolated
from services.financing.domain.policy import PolicyError
from services.financing.service_layer.errors import (
    AdvanceNotFound,
    AdvanceRefusal,
    FxRateNotLocked,
    OrderNotFound,
    OrderNotYetKnown,
)
from shared.http.errors import ApiError, not_found
from shared.unit_of_work import Conflict


def refusal_error(exc: AdvanceRefusal) -> ApiError:
    """422 ``advance_refused``, its reasons machine-readable, each with the binding amount."""
    return ApiError(
        422,
        exc.code,
        str(exc),
        {"advance_id": exc.advance_id, "reasons": [r.to_json() for r in exc.reasons]},
    )


def api_error(exc: Exception) -> ApiError | None:
    """The answer to ``exc``, or None for an error that is no refusal (a 500)."""
    if isinstance(exc, AdvanceRefusal):
        return refusal_error(exc)
    if isinstance(exc, OrderNotYetKnown):  # retryable: escrow's event is on its way
        return ApiError(
            409,
            exc.code,
            f"order {exc.order_id} is not known to financing yet; retry shortly",
            {"order_id": exc.order_id, "retry_after_seconds": exc.retry_after},
            headers={"Retry-After": str(exc.retry_after)},
        )
    if isinstance(exc, FxRateNotLocked):
        details = {
            "order_id": exc.order_id,
            "currency": exc.currency,
            "payout_currency": exc.payout_currency,
        }
        return ApiError(422, exc.code, str(exc), details)
    if isinstance(exc, AdvanceNotFound):
        return not_found("advance", exc.advance_id)
    if isinstance(exc, OrderNotFound):
        return not_found("order", exc.order_id)
    if isinstance(exc, AdvanceRuleViolated):
        return ApiError(409, exc.code, exc.message)
    if isinstance(exc, PolicyError):
        return ApiError(422, "invalid_policy", str(exc))
    if isinstance(exc, Conflict):  # still changing after retry_on_conflict's attempts
        return ApiError(409, "concurrent_modification", "the advance changed meanwhile; retry")
    if isinstance(exc, IntegrityError):  # a concurrent insert the database refused
        return ApiError(409, "conflict", "a concurrent change conflicts with this one")
    return None


@contextmanager
def answered() -> Iterator[None]:
    """Run a use case, answering its refusals as the API does."""
    try:
        yield
    except Exception as exc:
        error = api_error(exc)
        if error is None:
            raise
        raise error from exc
