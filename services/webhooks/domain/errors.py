"""Typed domain errors. ``code`` is machine-readable; the HTTP layer maps errors to statuses."""

from __future__ import annotations


class WebhookError(Exception):
    """Base of every refusal by the webhooks domain."""

    code = "webhook_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UrlNotAllowed(WebhookError):
    """The endpoint URL is not one Tradeflow may call (scheme, host or address)."""

    code = "url_not_allowed"


class InvalidEventPattern(WebhookError):
    """An ``enabled_events`` entry that is no event type, no ``<service>.*`` and no ``*``."""

    code = "invalid_event_pattern"


class TooManyEndpoints(WebhookError):
    """The tenant has registered as many endpoints as it may (delete one first)."""

    code = "too_many_endpoints"


class EndpointDisabled(WebhookError):
    """The command needs an enabled endpoint (a redelivery, a test event)."""

    code = "endpoint_disabled"


class InvalidRange(WebhookError):
    """A redelivery range whose end is not after its start, or one too long."""

    code = "invalid_range"
