"""Structured JSON logs that carry the correlation id of whatever is being handled.

structlog's lines and the standard library's (uvicorn's access log, aiokafka, stripe, httpx)
go through one pipeline, so both are JSON with the service and correlation ids, and both
pass ``redact_secrets`` right before they are rendered.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

import structlog

from shared.correlation import correlated
from shared.redaction import redact_secrets

if TYPE_CHECKING:
    from shared.events.envelope import Envelope


def configure_logging(service: str, level: str = "INFO", json: bool = True) -> None:
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    )
    first: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    # Exceptions are rendered to text first, so the redaction sees their messages too.
    last: list[structlog.types.Processor] = [
        structlog.processors.format_exc_info,
        redact_secrets,
        renderer,
    ]
    structlog.configure(
        processors=[*first, structlog.processors.StackInfoRenderer(), *last],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*first, structlog.stdlib.add_logger_name],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *last],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


@contextlib.contextmanager
def bind_event(env: Envelope) -> Iterator[None]:
    """Every log line inside, and every event caused inside, carries the correlation id."""
    with correlated(
        env.correlation_id, event_id=str(env.id), event_type=env.type, tenant_id=env.tenant_id
    ):
        yield
