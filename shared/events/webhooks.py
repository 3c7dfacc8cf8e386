"""Events of the webhooks service (docs/webhooks.md)."""

from __future__ import annotations

from pydantic import Field

from shared.events.registry import EventModel, event


@event("webhooks.endpoint_disabled", version=1)
class EndpointDisabled(EventModel):
    """Endpoint ``endpoint_id`` of the tenant was disabled after ``consecutive_failures``
    failed deliveries in a row (``reason`` says since when); nothing is sent to it until the
    platform enables it again."""

    endpoint_id: str = Field(min_length=1, max_length=64)
    url: str = Field(min_length=1, max_length=2_048)
    consecutive_failures: int = Field(ge=1)
    reason: str = Field(min_length=1, max_length=500)
