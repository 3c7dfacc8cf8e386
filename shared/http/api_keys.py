"""``/v1/api-keys`` on every service: a tenant's platform key lists, issues, revokes and
rotates the tenant's keys. All services answer from the one identity database, so a change
made on one is seen by all of them on the next request. The key itself is in the response
to the POST that issued it, and nowhere else, ever (``Cache-Control: no-store``).

Rules (``shared.identity.rules``): another tenant's key is a 404; a key with scopes the
caller could not grant is a 403 (finance needs finance); a supplier key names its supplier.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.http.auth import Principal, Scope, requires
from shared.http.errors import ApiError
from shared.identity import keys
from shared.identity.rules import (
    DEFAULT_OVERLAP,
    MAX_LABEL,
    MAX_OVERLAP,
    ApiKeyConflict,
    ApiKeyNotFound,
    GrantDenied,
    IdentityError,
    KeyRequestInvalid,
    check_grant,
    check_new_key,
)

router = APIRouter(prefix="/v1/api-keys", tags=["api-keys"])
Platform = Annotated[Principal, Depends(requires("platform"))]
AnyKey = Annotated[Principal, Depends(requires("platform", "finance", "supplier"))]
Label = Annotated[str, Field(min_length=1, max_length=MAX_LABEL)]
NO_STORE = {"Cache-Control": "no-store"}


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Label
    scopes: Annotated[list[Scope], Field(min_length=1, max_length=3)]
    party_id: Label | None = None  # required with the supplier scope


class ApiKeyRotate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # How long the old key stays valid beside the new one; 0 refuses it from now on.
    overlap_seconds: Annotated[int, Field(ge=0, le=int(MAX_OVERLAP.total_seconds()))] = int(
        DEFAULT_OVERLAP.total_seconds()
    )


class ApiKeyPublic(BaseModel):
    key_id: str
    name: str
    tenant_id: str
    scopes: list[str]
    party_id: str | None
    hint: str | None  # the key's last four characters
    status: str  # active | expiring | expired | revoked
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    revoked_at: datetime | None
    revoked_by: str | None
    last_used_at: datetime | None
    rotated_from: str | None


class ApiKeyCreated(ApiKeyPublic):
    key: str  # shown this once; only its hash is kept


class ApiKeysPublic(BaseModel):
    data: list[ApiKeyPublic]


class ApiKeyRotated(BaseModel):
    api_key: ApiKeyCreated  # the successor
    previous: ApiKeyPublic  # the rotated key, valid until its expires_at


_STATUS = {KeyRequestInvalid: 422, GrantDenied: 403, ApiKeyNotFound: 404, ApiKeyConflict: 409}


@asynccontextmanager
async def identity_transaction(request: Request) -> AsyncIterator[AsyncConnection]:
    """One identity transaction; refusals become typed API errors (and roll back)."""
    engine: AsyncEngine = request.app.state.identity
    try:
        async with engine.begin() as conn:
            yield conn
    except IdentityError as exc:
        raise ApiError(_STATUS[type(exc)], exc.code, exc.message) from exc


def public(key: keys.ApiKey) -> ApiKeyPublic:
    return ApiKeyPublic(**{f: getattr(key, f) for f in ApiKeyPublic.model_fields})


def created(issued: keys.IssuedKey) -> ApiKeyCreated:
    return ApiKeyCreated(**public(issued.key).model_dump(), key=issued.raw)


@router.get("")
async def list_api_keys(request: Request, who: Platform) -> ApiKeysPublic:
    async with identity_transaction(request) as conn:
        found = await keys.list_api_keys(conn, who.tenant_id)
    return ApiKeysPublic(data=[public(k) for k in found])


CURRENT_EXAMPLE = {
    "key_id": "key_01JD3T0Z8M2V6Q9W4R7Y1X5B3C",
    "name": "ops-console",
    "tenant_id": "acme",
    "scopes": ["supplier"],
    "party_id": "supplier-shenzhen",
    "hint": "x9Qa",
    "status": "active",
    "created_at": "2026-12-01T09:30:00Z",
    "created_by": "apikey:platform-admin",
    "expires_at": None,
    "revoked_at": None,
    "revoked_by": None,
    "last_used_at": "2026-12-03T13:20:00Z",
    "rotated_from": None,
}


@router.get(
    "/current",
    responses={200: {"content": {"application/json": {"example": CURRENT_EXAMPLE}}}},
)
async def current_api_key(request: Request, who: AnyKey) -> ApiKeyPublic:
    """The key that sends this request: its tenant, scopes, party and expiry (any scope).

    What a client (the web console's sign-in) asks to learn whom a key acts for."""
    async with identity_transaction(request) as conn:
        found = await keys.get_api_key(conn, who.key_id) if who.key_id else None
    if found is None:  # authenticated a moment ago; gone only if deleted in between
        raise ApiError(401, "unauthenticated", "unknown, revoked or expired API key")
    return public(found)


@router.post("", status_code=201)
async def create_api_key(
    request: Request, response: Response, body: ApiKeyCreate, who: Platform
) -> ApiKeyCreated:
    async with identity_transaction(request) as conn:
        scopes = check_new_key(body.scopes, body.name, body.party_id)
        check_grant(who, scopes)
        issued = await keys.create_api_key(
            conn, who.tenant_id, scopes, body.name, actor=who.actor, party_id=body.party_id
        )
    response.headers.update(NO_STORE)
    return created(issued)


@router.post("/{key_id}/revoke")
async def revoke_api_key(request: Request, key_id: str, who: Platform) -> ApiKeyPublic:
    async with identity_transaction(request) as conn:
        revoked = await keys.revoke_api_key(conn, key_id, actor=who.actor, caller=who)
    return public(revoked)


@router.post("/{key_id}/rotate", status_code=201)
async def rotate_api_key(
    request: Request,
    response: Response,
    key_id: str,
    who: Platform,
    body: Annotated[ApiKeyRotate | None, Body()] = None,
) -> ApiKeyRotated:
    overlap = timedelta(seconds=(body or ApiKeyRotate()).overlap_seconds)
    async with identity_transaction(request) as conn:
        issued, previous = await keys.rotate_api_key(
            conn, key_id, overlap=overlap, actor=who.actor, caller=who
        )
    response.headers.update(NO_STORE)
    return ApiKeyRotated(api_key=created(issued), previous=public(previous))
