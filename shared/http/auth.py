"""Tenant-scoped API keys, checked against the identity database on every request.

A missing, unknown, revoked or expired key is 401; a key without the endpoint's scope is 403.
Every query a service makes is filtered by ``Principal.tenant_id``, so another tenant's
object is a 404; within the tenant, ``Principal`` (``principal.py``) says which supplier's
objects a key may see and act on. Validity is never cached across requests: a key revoked
on one service is refused by all of them on the next request. Within one request it is asked once (the
idempotency middleware and the route's ``requires`` share the answer, kept in the ASGI
scope), in one autocommit statement. What is cached per process is only what cannot change:
the hash of a key's rotation chain's first key (``idempotency_scope``). Keys are issued and
managed in ``shared.identity``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Literal

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import Scope as AsgiScope

from shared.http.errors import ApiError
from shared.http.principal import Principal
from shared.identity.keys import find_active, hash_key, lineage_hash

Scope = Literal["platform", "finance", "supplier"]  # shared.identity.rules.SCOPES, as a type

__all__ = [
    "Principal",
    "Scope",
    "active_principal",
    "bearer_key",
    "hash_key",
    "idempotency_scope",
    "requires",
]
SCOPES: tuple[Scope, ...] = ("platform", "finance", "supplier")
# The scopes each ``requires(...)`` dependency admits, read by the OpenAPI document.
ADMITTED_SCOPES: dict[Callable[[Request], Awaitable[Principal]], tuple[Scope, ...]] = {}

# Where a request keeps the answer about its key: (raw key, principal or None).
_ASKED = "tradeflow.principal"
# key id -> hash of its rotation chain's first key. A key's ``rotated_from`` and hash are
# written once, when it is issued, so an entry never goes stale; bounded all the same.
_LINEAGES: dict[tuple[str, str], str] = {}
MAX_LINEAGES = 10_000
_AUTOCOMMIT: dict[AsyncEngine, AsyncEngine] = {}


def _autocommit(engine: AsyncEngine) -> AsyncEngine:
    """The identity engine without BEGIN/COMMIT around its statements (same pool): the key
    lookup is one SELECT (and, once a minute per key, an UPDATE of ``last_used_at`` that
    needs no transaction with it), so a transaction would only add two round trips."""
    if engine not in _AUTOCOMMIT:
        _AUTOCOMMIT[engine] = engine.execution_options(isolation_level="AUTOCOMMIT")
    return _AUTOCOMMIT[engine]


def bearer_key(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def active_principal(request: Request, raw: str) -> Principal | None:
    """Who ``raw`` is, if it is a valid key now (not revoked, not expired); else None.

    The idempotency middleware asks this before it replays a stored response, and the
    route's ``requires`` asks it again: the second time, the same request gets the first
    answer (the database is asked once per request, never once for several requests)."""
    scope: AsgiScope = request.scope
    asked = scope.get(_ASKED)
    if asked is not None and asked[0] == raw:
        principal: Principal | None = asked[1]
        return principal
    identity: AsyncEngine = request.app.state.identity
    async with _autocommit(identity).connect() as conn:
        key = await find_active(conn, raw)
    principal = (
        None
        if key is None
        else Principal(key.tenant_id, frozenset(key.scopes), key.name, key.party_id, key.key_id)
    )
    scope[_ASKED] = (raw, principal)
    return principal


async def idempotency_scope(request: Request, principal: Principal, raw: str) -> str:
    """Whose Idempotency-Keys a request's are: the key's and its rotation chain's (the hash
    of the chain's first key, see ``shared.identity.keys.lineage_hash``), never another
    key's of the tenant, which may hold other scopes or act for another party."""
    if principal.key_id is None:
        return hash_key(raw)
    identity: AsyncEngine = request.app.state.identity
    cached = (str(identity.url), principal.key_id)
    if cached not in _LINEAGES:
        async with _autocommit(identity).connect() as conn:
            lineage = await lineage_hash(conn, principal.key_id)
        if len(_LINEAGES) >= MAX_LINEAGES:
            _LINEAGES.clear()
        _LINEAGES[cached] = lineage
    return _LINEAGES[cached]


async def authenticate(request: Request) -> Principal:
    raw = bearer_key(request)
    if raw is None:
        raise ApiError(401, "unauthenticated", "send an API key as 'Authorization: Bearer <key>'")
    principal = await active_principal(request, raw)
    if principal is None:
        raise ApiError(401, "unauthenticated", "unknown, revoked or expired API key")
    return principal


def requires(*allowed: Scope) -> Callable[[Request], Awaitable[Principal]]:
    """A FastAPI dependency admitting keys that hold any of ``allowed`` scopes."""

    async def dependency(request: Request) -> Principal:
        principal = await authenticate(request)
        if not principal.scopes.intersection(allowed):
            raise ApiError(
                403,
                "insufficient_scope",
                f"this endpoint needs one of the scopes: {', '.join(allowed)}",
            )
        return principal

    ADMITTED_SCOPES[dependency] = allowed
    return dependency
