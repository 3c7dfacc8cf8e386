"""Registry of versioned event models with upcasting.

An event type has one *current* model and any number of upcasters, each turning the data
of version N into version N+1. Consumers always see the current model: ``REGISTRY.load``
upcasts older payloads step by step before validating them.

A version that a newer one replaced stays registered as *superseded*
(``@event(..., version=1, superseded=True)``): events of that version may still be on a
topic (retention, replays, a producer not upgraded yet), so its data is validated against
its own model before it is upcast, and its JSON Schema stays published.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict

Data = dict[str, Any]
Upcaster = Callable[[Data], Data]
E = TypeVar("E", bound="EventModel")


class UnknownEventType(LookupError):
    pass


class NewerEventVersion(UnknownEventType):
    """A version this code does not know yet (a rolling deploy): wait, do not discard."""


class EventModel(BaseModel):
    """Base of every event payload. Subclasses are registered with ``@event``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_type: ClassVar[str]
    event_version: ClassVar[int]
    # The field (a UUID string) whose value is also this event's id, for an event that books
    # something the producer already named (a payout, a refund): event and thing name each
    # other, and a consumer deduplicating on the event id deduplicates on the thing.
    id_field: ClassVar[str | None] = None

    def envelope_id(self) -> UUID | None:
        """The id an envelope of this event must have (see ``id_field``); None: a new one."""
        value = getattr(self, self.id_field) if self.id_field else None
        return UUID(value) if value else None


class EventRegistry:
    def __init__(self) -> None:
        self._models: dict[str, type[EventModel]] = {}
        self._superseded: dict[tuple[str, int], type[EventModel]] = {}
        self._upcasters: dict[tuple[str, int], Upcaster] = {}

    def register(self, model: type[EventModel], *, superseded: bool = False) -> None:
        key = (model.event_type, model.event_version)
        if superseded:
            existing = self._superseded.get(key)
            current = self._models.get(model.event_type)
            if current is not None and current.event_version <= model.event_version:
                raise ValueError(f"{model.event_type} v{model.event_version} is not superseded")
            if existing is not None and existing is not model:
                raise ValueError(f"{model.event_type} v{model.event_version} registered twice")
            self._superseded[key] = model
            return
        existing = self._models.get(model.event_type)
        if existing is not None and existing is not model:
            raise ValueError(f"event type {model.event_type} registered twice")
        if any(t == model.event_type and v >= model.event_version for t, v in self._superseded):
            raise ValueError(f"{model.event_type} v{model.event_version} is superseded already")
        self._models[model.event_type] = model

    def add_upcaster(self, event_type: str, from_version: int, fn: Upcaster) -> None:
        self._upcasters[(event_type, from_version)] = fn

    def model(self, event_type: str) -> type[EventModel]:
        if event_type not in self._models:
            _load_catalog(event_type)
        try:
            return self._models[event_type]
        except KeyError:
            raise UnknownEventType(event_type) from None

    def types(self) -> dict[str, type[EventModel]]:
        """The current model of every event type."""
        return dict(sorted(self._models.items()))

    def superseded(self) -> list[type[EventModel]]:
        """The models of older versions still accepted, by type and version."""
        return [self._superseded[k] for k in sorted(self._superseded)]

    def upcast(self, event_type: str, version: int, data: Data) -> Data:
        model = self.model(event_type)
        if version > model.event_version:
            raise NewerEventVersion(f"{event_type} v{version} is newer than this code")
        while version < model.event_version:
            step = self._upcasters.get((event_type, version))
            if step is None:
                raise UnknownEventType(f"no upcaster for {event_type} v{version}")
            old = self._superseded.get((event_type, version))
            if old is not None:  # the data must be what that version promised
                data = old.model_validate(data).model_dump(mode="json")
            data = step(data)
            version += 1
        return data

    def load(self, event_type: str, version: int, data: Data) -> EventModel:
        model = self.model(event_type)
        return model.model_validate(self.upcast(event_type, version, data))


REGISTRY = EventRegistry()

# Event types are named "<service>.<what_happened>"; the models of service X live in
# shared/events/X.py and are imported the first time one of its types is looked up.
CATALOGS = ("escrow", "ledger", "financing", "webhooks")


def _load_catalog(event_type: str) -> None:
    prefix = event_type.partition(".")[0]
    if prefix in CATALOGS:
        try:
            importlib.import_module(f"shared.events.{prefix}")
        except ModuleNotFoundError as exc:
            if exc.name != f"shared.events.{prefix}":
                raise


def load_all_catalogs() -> None:
    for prefix in CATALOGS:
        _load_catalog(f"{prefix}.")


def event(
    event_type: str, version: int = 1, *, superseded: bool = False
) -> Callable[[type[E]], type[E]]:
    """Class decorator: register ``cls`` as the current model of ``event_type`` (or, with
    ``superseded``, as the model of an older version that an upcaster brings forward)."""

    def wrap(cls: type[E]) -> type[E]:
        cls.event_type = event_type
        cls.event_version = version
        REGISTRY.register(cls, superseded=superseded)
        return cls

    return wrap


def upcaster(event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    def wrap(fn: Upcaster) -> Upcaster:
        REGISTRY.add_upcaster(event_type, from_version, fn)
        return fn

    return wrap
