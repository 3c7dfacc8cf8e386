"""Tenant-scoped API keys. Keys are stored as SHA-256 hashes; scopes gate endpoints.

A missing or unknown key is 401; a key without the endpoint's scope is 403. Every query a
service makes is filtered by ``Principal.tenant_id``, so another tenant's object is a 404.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Literal

import sqlalchemy as sa
from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.db import api_keys
from shared.http.errors import ApiError

Scope = Literal["platform", "finance", "supplier"]
SCOPES: tuple[Scope, ...] = ("platform", "finance", "supplier")
# The scopes each ``requires(...)`` dependency admits, read by the OpenAPI document.
ADMITTED_SCOPES: dict[Callable[[Request], Awaitable[Principal]], tuple[Scope, ...]] = {}


@dataclass(frozen=True)
class Principal:
    tenant_id: str
    scopes: frozenset[str]
    key_name: str
    # A supplier key acts for one supplier: services show it only that supplier's objects.
    party_id: str | None = None

    def may_act_for(self, party_id: str) -> bool:
        """False when this key is bound to another party (callers answer 404, not 403)."""
        return self.party_id is None or self.party_id == party_id

    @property
    def actor(self) -> str:
        return f"apikey:{self.key_name}"


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def bearer_key(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def create_api_key(
    conn: AsyncConnection,
    tenant_id: str,
    scopes: Iterable[str],
    name: str,
    raw: str | None = None,
    party_id: str | None = None,
) -> str:
    """Store a new key's hash and return the key (shown once)."""
    scopes = sorted(set(scopes))
    unknown = set(scopes) - set(SCOPES)
    if unknown or not scopes:
        raise ValueError(f"scopes must be a non-empty subset of {SCOPES}, got {scopes}")
    raw = raw or f"tf_{secrets.token_urlsafe(24)}"
    await conn.execute(
        api_keys.insert().values(
            key_hash=hash_key(raw), tenant_id=tenant_id, scopes=scopes, name=name, party_id=party_id
        )
    )
    return raw


async def authenticate(engine: AsyncEngine, request: Request) -> Principal:
    raw = bearer_key(request)
    if raw is None:
        raise ApiError(401, "unauthenticated", "send an API key as 'Authorization: Bearer <key>'")
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                sa.select(
                    api_keys.c.tenant_id, api_keys.c.scopes, api_keys.c.name, api_keys.c.party_id
                ).where(api_keys.c.key_hash == hash_key(raw), api_keys.c.revoked_at.is_(None))
            )
        ).first()
    if row is None:
        raise ApiError(401, "unauthenticated", "unknown or revoked API key")
    return Principal(row.tenant_id, frozenset(row.scopes), row.name, row.party_id)


def requires(*allowed: Scope) -> Callable[[Request], Awaitable[Principal]]:
    """A FastAPI dependency admitting keys that hold any of ``allowed`` scopes."""

    async def dependency(request: Request) -> Principal:
        principal = await authenticate(request.app.state.engine, request)
        if not principal.scopes.intersection(allowed):
            raise ApiError(
                403,
                "insufficient_scope",
                f"this endpoint needs one of the scopes: {', '.join(allowed)}",
            )
        return principal

    ADMITTED_SCOPES[dependency] = allowed
    return dependency
