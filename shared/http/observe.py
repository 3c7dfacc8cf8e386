"""The outermost piece of every service app: correlation id and request metrics.

Each request runs with its correlation id (``X-Correlation-Id`` when the caller sent a UUID,
else a new one) bound for the log lines and the events it causes, gets the id back in
its answer's headers, and is counted and timed per route and status in Prometheus.

A plain ASGI middleware, not Starlette's ``BaseHTTPMiddleware``: that one runs the rest of
the app in a task of its own and streams every answer through a memory channel, which costs
more than the work it wraps on the API's fastest paths.
"""

from __future__ import annotations

import time
from uuid import UUID

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.correlation import correlated
from shared.events.envelope import new_event_id
from shared.metrics import HTTP_LATENCY, HTTP_REQUESTS

CORRELATION_HEADER = "X-Correlation-Id"
_HEADER_KEY = CORRELATION_HEADER.lower().encode("latin-1")


def correlation_id(header: str | None) -> UUID:
    """The caller's correlation id when it is a UUID, else a new one."""
    try:
        return UUID(header) if header else new_event_id()
    except ValueError:
        return new_event_id()


def _header(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == _HEADER_KEY:
            return str(value.decode("latin-1"))
    return None


class ObserveMiddleware:
    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app, self.service = app, service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        cid = correlation_id(_header(scope))
        status = 500

        async def answer(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                MutableHeaders(scope=message)[CORRELATION_HEADER] = str(cid)
            await send(message)

        method = scope["method"]
        with correlated(cid, http_method=method, http_path=scope["path"]):
            await self.app(scope, receive, answer)
        route = getattr(scope.get("route"), "path", "unmatched")
        HTTP_REQUESTS.labels(self.service, method, route, str(status)).inc()
        HTTP_LATENCY.labels(self.service, method, route).observe(time.perf_counter() - started)
