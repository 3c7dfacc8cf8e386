"""The correlation id of the work in progress: an HTTP request or an event being handled.

Set by the HTTP middleware (from ``X-Correlation-Id`` or a new id) and by the consumers
(from the event's envelope); read by ``Envelope.wrap``, so every event a request or an
event causes carries the conversation's id even where the caller does not pass it, and by
the log processors, so every log line does too.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from uuid import UUID

import structlog

_current: ContextVar[UUID | None] = ContextVar("correlation_id", default=None)


def current_correlation_id() -> UUID | None:
    return _current.get()


@contextlib.contextmanager
def correlated(correlation_id: UUID, **log_fields: str) -> Iterator[None]:
    token = _current.set(correlation_id)
    try:
        with structlog.contextvars.bound_contextvars(
            correlation_id=str(correlation_id), **log_fields
        ):
            yield
    finally:
        _current.reset(token)
