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


# Scopes that make a key tenant-wide, whatever party it names.
TENANT_WIDE = frozenset({"platform", "finance"})


def bound_party(who: Principal) -> str | None:
    """The supplier a key is confined to: its party, if it holds only the supplier scope."""
    return None if who.scopes & TENANT_WIDE else who.party_id


def acting_supplier(who: Principal, supplier_id: str | None) -> str:
    """The supplier a supplier-scope request acts for.

    A bound key acts for its party: it may omit ``supplier_id``, and naming another supplier
    is ``403 party_mismatch`` (refused before any lookup, so it reveals nothing). Any other
    key (an unbound supplier key, or one also holding platform/finance) must name it.
    """
    party = bound_party(who)
    if party is None:
        if not supplier_id:
            raise ApiError(422, "supplier_id_required", "supplier keys must name the supplier_id")
        return supplier_id
    if supplier_id is not None and not who.may_act_for(supplier_id):
        raise ApiError(403, "party_mismatch", "this API key acts for another supplier")
    return party


def supplier_filter(who: Principal, supplier_id: str | None) -> str | None:
    """Reads: platform/finance keys see the tenant (optionally filtered by ``supplier_id``);
    keys holding only the supplier scope see one supplier's advances (see ``acting_supplier``)."""
    if who.scopes & TENANT_WIDE:
        return supplier_id
    return acting_supplier(who, supplier_id)
