"""The one mapping of the webhooks' domain and service-layer errors to API answers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from services.webhooks.domain import errors as domain
from services.webhooks.service_layer.errors import DeliveryNotFound, EndpointNotFound
from shared.http.errors import ApiError, not_found

STATUS = {
    domain.UrlNotAllowed: 422,
    domain.InvalidEventPattern: 422,
    domain.InvalidRange: 422,
    domain.EndpointDisabled: 409,
    domain.TooManyEndpoints: 409,
}


def api_error(exc: Exception) -> ApiError | None:
    if isinstance(exc, EndpointNotFound):
        return not_found("webhook_endpoint", exc.endpoint_id)
    if isinstance(exc, DeliveryNotFound):
        return not_found("webhook_delivery", exc.delivery_id)
    if isinstance(exc, domain.WebhookError):
        return ApiError(STATUS.get(type(exc), 409), exc.code, exc.message)
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
