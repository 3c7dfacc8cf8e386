"""The event envelope, carried on Kafka as CloudEvents binary-mode headers plus a JSON body.

Kafka key = ``subject`` (the aggregate id) so one aggregate's events stay on one partition
and therefore in order.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from uuid6 import uuid7

from shared.correlation import current_correlation_id
from shared.events.registry import REGISTRY, EventModel

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"

# Envelope attribute -> CloudEvents Kafka header (binary content mode, "ce_" prefix).
HEADERS = {
    "id": "ce_id",
    "type": "ce_type",
    "source": "ce_source",
    "subject": "ce_subject",
    "occurred_at": "ce_time",
    "version": "ce_tfversion",
    "tenant_id": "ce_tftenant",
    "correlation_id": "ce_tfcorrelation",
    "causation_id": "ce_tfcausation",
}


def new_event_id() -> UUID:
    return uuid7()


class EnvelopeError(ValueError):
    """A Kafka record that is not a well-formed Tradeflow event."""


class Envelope(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: UUID = Field(default_factory=new_event_id)
    type: str
    version: int
    source: str
    occurred_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    tenant_id: str
    subject: str
    correlation_id: UUID
    causation_id: UUID | None = None
    data: dict[str, Any]

    @classmethod
    def wrap(
        cls,
        payload: EventModel,
        *,
        source: str,
        tenant_id: str,
        subject: str,
        correlation_id: UUID | None = None,
        causation_id: UUID | None = None,
        occurred_at: datetime | None = None,
        event_id: UUID | None = None,
    ) -> Envelope:
        """Envelope a registered event model.

        The id is ``event_id`` when the producer fixed it (e.g. the payout the event books, see
        ``EventModel.id_field``), else a new UUIDv7. The correlation id is, in order: the one
        given, the one of the request or event being handled (shared.correlation), or this
        event's own id (a new conversation).
        """
        event_id = event_id or new_event_id()
        correlation_id = correlation_id or current_correlation_id()
        return cls(
            id=event_id,
            type=payload.event_type,
            version=payload.event_version,
            source=source,
            occurred_at=occurred_at or datetime.now(UTC),
            tenant_id=tenant_id,
            subject=subject,
            correlation_id=correlation_id or event_id,
            causation_id=causation_id,
            data=payload.model_dump(mode="json"),
        )

    def payload(self) -> EventModel:
        """The current-version model of this event (older versions are upcast)."""
        return REGISTRY.load(self.type, self.version, self.data)

    def caused(self, **fields: Any) -> dict[str, Any]:
        """Correlation attributes for an event caused by this one."""
        return {"correlation_id": self.correlation_id, "causation_id": self.id, **fields}

    def to_kafka(self) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
        """(key, value, headers) for a Kafka record."""
        attrs = {
            "id": str(self.id),
            "type": self.type,
            "source": self.source,
            "subject": self.subject,
            "occurred_at": self.occurred_at.isoformat(),
            "version": str(self.version),
            "tenant_id": self.tenant_id,
            "correlation_id": str(self.correlation_id),
            "causation_id": str(self.causation_id) if self.causation_id else "",
        }
        headers = [(HEADERS[k], v.encode()) for k, v in attrs.items() if v]
        headers += [
            ("ce_specversion", SPEC_VERSION.encode()),
            ("content-type", CONTENT_TYPE.encode()),
        ]
        body = json.dumps(self.data, separators=(",", ":"), sort_keys=True).encode()
        return self.subject.encode(), body, headers

    @classmethod
    def from_kafka(
        cls, value: bytes | None, headers: Iterable[tuple[str, bytes | None]] | None
    ) -> Envelope:
        ours = set(HEADERS.values())
        try:
            # Only our attributes are decoded: foreign headers (tracing, binary) are not ours.
            hdrs = {k: v.decode() for k, v in (headers or ()) if k in ours and v is not None}
        except UnicodeDecodeError as exc:
            raise EnvelopeError(f"a CloudEvents header is not UTF-8: {exc}") from exc
        try:
            data = json.loads(value or b"")
        except (ValueError, UnicodeDecodeError) as exc:
            raise EnvelopeError(f"body is not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise EnvelopeError("body must be a JSON object")
        missing = [h for a, h in HEADERS.items() if a != "causation_id" and h not in hdrs]
        if missing:
            raise EnvelopeError(f"missing CloudEvents headers: {', '.join(missing)}")
        attrs = {a: hdrs[h] for a, h in HEADERS.items() if h in hdrs}
        try:
            return cls(**attrs, data=data)
        except ValueError as exc:
            raise EnvelopeError(f"invalid envelope attributes: {exc}") from exc
