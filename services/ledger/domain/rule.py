"""What a posting rule is, and the one way a rules table keys one by its event model."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar, cast

from services.ledger.domain.journal import Line
from shared.events import EventModel

E = TypeVar("E", bound=EventModel)
Posting = tuple[str, list[Line]]  # memo, lines
Rule = Callable[[EventModel], Posting]


def keyed(model: type[E], rule: Callable[[E], Posting]) -> tuple[type[EventModel], Rule]:
    """``(model, rule)`` for a rules table. The table is read by ``type(payload)``, so
    ``rule`` is only ever called with a ``model``: it may take the model it is written for
    (no wrapper: the lookup is on the hot ingest path)."""
    return model, cast(Rule, rule)
