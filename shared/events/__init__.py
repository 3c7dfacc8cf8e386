"""Versioned event models, the envelope that carries them, and their registry."""

from shared.events.envelope import Envelope, new_event_id
from shared.events.registry import (
    REGISTRY,
    EventModel,
    EventRegistry,
    UnknownEventType,
    event,
    upcaster,
)

__all__ = [
    "REGISTRY",
    "Envelope",
    "EventModel",
    "EventRegistry",
    "UnknownEventType",
    "event",
    "new_event_id",
    "upcaster",
]
