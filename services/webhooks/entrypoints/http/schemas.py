"""Request and response models of the webhooks API (Stripe's shapes where Stripe has one)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from services.webhooks.domain.model import Attempt, Delivery, Endpoint
from shared.metadata import ExternalReference, MetadataInput

Url = Annotated[str, Field(min_length=1, max_length=2_048, examples=["https://example.com/hooks"])]
EventPattern = Annotated[str, Field(min_length=1, max_length=100)]
EnabledEvents = Annotated[
    list[EventPattern], Field(min_length=1, max_length=100, examples=[["escrow.*"]])
]
Description = Annotated[str, Field(max_length=500)]


def _in_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+23:59 is valid, but before year 1 in UTC
        raise ValueError("the instant is outside the years 1 to 9999 in UTC") from None


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_in_utc)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EndpointCreate(Strict):
    url: Url
    enabled_events: EnabledEvents
    description: Description = ""
    metadata: MetadataInput | None = None
    external_reference: ExternalReference | None = None

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "url": "https://platform.example.com/tradeflow/webhooks",
                    "enabled_events": ["escrow.*", "financing.advance_disbursed"],
                    "description": "order updates",
                    "metadata": {"team": "payments"},
                    "external_reference": "hook-orders-eu",
                }
            ]
        },
    )


class EndpointUpdate(Strict):
    url: Url | None = None
    enabled_events: EnabledEvents | None = None
    description: Description | None = None
    metadata: MetadataInput | None = Field(
        None, description='merged into the endpoint\'s: keys given are set, a key set to "" removed'
    )
    external_reference: ExternalReference | None = Field(
        None, description="set it; null removes it; absent leaves it"
    )
    enabled: bool | None = Field(None, description="false disables, true enables again")

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"metadata": {"team": "risk", "oncall": ""}, "external_reference": "h-2"}]
        },
    )


class EndpointPublic(BaseModel):
    object: Literal["webhook_endpoint"] = "webhook_endpoint"
    id: str
    url: str
    enabled_events: list[str]
    description: str
    metadata: dict[str, str]
    external_reference: str | None
    status: Literal["enabled", "disabled"]
    disabled_reason: str | None
    previous_secret_expires_at: datetime | None = Field(
        None, description="while a rotation's overlap lasts, the old secret signs too"
    )
    created_at: datetime
    updated_at: datetime

    @classmethod
    def fields_of(cls, e: Endpoint) -> dict[str, Any]:
        return {
            "id": e.id,
            "url": e.url,
            "enabled_events": list(e.enabled_events),
            "description": e.description,
            "metadata": e.metadata,
            "external_reference": e.external_reference,
            "status": "enabled" if e.enabled else "disabled",
            "disabled_reason": e.disabled_reason,
            "previous_secret_expires_at": e.previous_secret_expires_at,
            "created_at": e.created_at,
            "updated_at": e.updated_at,
        }

    @classmethod
    def of(cls, e: Endpoint) -> EndpointPublic:
        return cls.model_validate(cls.fields_of(e))


class EndpointWithSecret(EndpointPublic):
    secret: str = Field(description="whsec_…: shown once, at creation and at each rotation")

    @classmethod
    def of(cls, e: Endpoint) -> EndpointWithSecret:
        return cls.model_validate({**cls.fields_of(e), "secret": e.secret})


class EndpointDeleted(BaseModel):
    object: Literal["webhook_endpoint"] = "webhook_endpoint"
    id: str
    deleted: Literal[True] = True


class RotateSecret(Strict):
    expire_previous_after_seconds: int | None = Field(
        None, ge=0, le=7 * 86_400, description="the overlap; the service's default (24 h) if absent"
    )


class AttemptPublic(BaseModel):
    attempt: int
    at: datetime
    status_code: int | None
    latency_ms: int
    response_excerpt: str = Field(description="the first KiB of the answer")
    error: str | None

    @classmethod
    def of(cls, a: Attempt) -> AttemptPublic:
        return cls(
            attempt=a.number,
            at=a.at,
            status_code=a.status_code,
            latency_ms=a.latency_ms,
            response_excerpt=a.response_excerpt,
            error=a.error,
        )


class DeliveryPublic(BaseModel):
    object: Literal["webhook_delivery"] = "webhook_delivery"
    id: str
    endpoint_id: str
    event_id: str
    event_type: str
    status: Literal["pending", "succeeded", "failed"]
    attempt_count: int
    next_attempt_at: datetime | None
    created_at: datetime
    redelivery_of: str | None
    attempts: list[AttemptPublic]

    @classmethod
    def of(cls, d: Delivery, attempts: list[Attempt] | None = None) -> DeliveryPublic:
        assert d.created_at is not None
        return cls(
            id=d.id,
            endpoint_id=d.endpoint_id,
            event_id=d.event_id,
            event_type=d.event_type,
            status=d.status,
            attempt_count=d.attempts,
            next_attempt_at=d.next_attempt_at,
            created_at=d.created_at,
            redelivery_of=d.redelivery_of,
            attempts=[AttemptPublic.of(a) for a in attempts or []],
        )


class RedeliverRange(Strict):
    since: UtcDatetime
    until: UtcDatetime
    only_failed: bool = Field(True, description="only events whose latest delivery failed")


class Redelivered(BaseModel):
    object: Literal["list"] = "list"
    data: list[DeliveryPublic]
    has_more: Literal[False] = False
