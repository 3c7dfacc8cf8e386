"""The one way a route reaches its service's container: a typed FastAPI dependency.

Each service builds one container in its ``bootstrap.py`` (its runtime, gateways, clock);
``create_service_app`` keeps it on the app for the process's lifetime. A router declares
``Container = Annotated[EscrowContainer, Depends(container_of(EscrowContainer))]`` once (in
``entrypoints/http/deps.py``) and every route takes ``c: Container``: no route reads
``request.app.state`` itself, and the type checker knows what the container holds.
Consumers and timers get the same container object from ``services/runner.py``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from fastapi import Request

C = TypeVar("C")


def container_of(kind: type[C]) -> Callable[[Request], Awaitable[C]]:
    """A dependency answering the app's container, checked to be a ``kind``.

    An ``async def``: FastAPI runs a plain ``def`` dependency in its thread pool, which on
    every request cost a hand-off to a worker thread and back (and the GIL between them)
    for an attribute read."""

    async def dependency(request: Request) -> C:
        container = request.app.state.container
        if not isinstance(container, kind):
            raise TypeError(
                f"the app's container is a {type(container).__name__}, not {kind.__name__}"
            )
        return container

    dependency.__name__ = f"{kind.__name__.lower()}_dependency"
    return dependency
