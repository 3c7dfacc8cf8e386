"""Structured JSON logs that carry the correlation id of whatever is being handled."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

import structlog

from shared.correlation import correlated

if TYPE_CHECKING:
    from shared.events.envelope import Envelope


def configure_logging(service: str, level: str = "INFO", json: bool = True) -> None:
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)
    logging.basicConfig(level=level, stream=sys.stderr, format="%(message)s")


@contextlib.contextmanager
def bind_event(env: Envelope) -> Iterator[None]:
    """Every log line inside, and every event caused inside, carries the correlation id."""
    with correlated(
        env.correlation_id, event_id=str(env.id), event_type=env.type, tenant_id=env.tenant_id
    ):
        yield
