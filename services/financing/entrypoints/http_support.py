"""Router plumbing: the container's dependencies, one transaction per request, error mapping."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from services.financing.adapters.advances import ConcurrentUpdate
from services.financing.domain.advance import AdvanceRuleViolated
from services.financing.domain.policy import PolicyError
from services.financing.entrypoints.context import Deps
from shared.db import UnitOfWork
from shared.http.auth import Principal, requires
from shared.http.errors import ApiError

Supplier = Annotated[Principal, Depends(requires("supplier"))]
Finance = Annotated[Principal, Depends(requires("finance"))]
Reader = Annotated[Principal, Depends(requires("platform", "finance", "supplier"))]


async def _idempotency_key(request: Request) -> str | None:
    """Optional, as on Stripe and the other services: the shared middleware replays a keyed
    request; clients that retry writes should always send one."""
    return request.headers.get("idempotency-key")


IdempotencyKey = Annotated[str | None, Depends(_idempotency_key)]


def deps_of(request: Request) -> Deps:
    deps: Deps = request.app.state.container.deps
    return deps


def engine_of(request: Request) -> AsyncEngine:
    engine: AsyncEngine = request.app.state.engine
    return engine


@asynccontextmanager
async def transaction(request: Request) -> AsyncIterator[UnitOfWork]:
    """One unit of work; domain refusals become typed API errors (and roll back)."""
    try:
        async with UnitOfWork(engine_of(request)) as uow:
            yield uow
    except AdvanceRuleViolated as exc:
        raise ApiError(409, exc.code, exc.message) from exc
    except PolicyError as exc:
        raise ApiError(422, "invalid_policy", str(exc)) from exc
    except ConcurrentUpdate as exc:
        raise ApiError(409, "concurrent_update", "the advance changed meanwhile; retry") from exc
    except IntegrityError as exc:
        raise ApiError(409, "conflict", "a concurrent change conflicts with this one") from exc
