"""``Idempotency-Key`` on write requests, with Stripe's semantics.

- First request with a key: runs, and its response is stored under (API key, idempotency key).
- Same key, same request (method, path, query, canonical JSON body): the stored response is
  replayed with ``Idempotent-Replayed: true``; nothing runs twice.
- Same key, different request: 422 ``idempotency_key_reused``.
- Same key while the first request is still running: 409 ``idempotency_key_in_use``.
- Once the endpoint ran, its answer is kept whatever it was, 5xx included (it may have
  changed state before failing, so running it again is not safe). Answers that mean
  "nothing ran" are not kept, so the client may fix the request and retry with the same key:
  401/403, request validation errors (422 ``validation_error``), 409 and 429.
- A key whose API key is unknown, revoked or expired replays nothing: the endpoint answers 401.
- Keys live 24 hours. A request still marked in flight after ``STALE_AFTER`` (its process
  died) may be taken over by a retry.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from shared.db import idempotency_keys
from shared.http.auth import active_principal, bearer_key, hash_key
from shared.http.errors import error_body

log = structlog.get_logger(__name__)

HEADER = "idempotency-key"
KEY_TTL = timedelta(hours=24)
STALE_AFTER = timedelta(minutes=10)
MAX_KEY_LENGTH = 255
T = idempotency_keys


def request_fingerprint(method: str, path: str, query: str, body: bytes) -> str:
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        canonical = body
    head = f"{method} {path}?{query}\n".encode()
    return hashlib.sha256(head + canonical).hexdigest()


def _storable(status: int, body: bytes) -> bool:
    if status in (401, 403, 409, 429):
        return False
    if status == 422:
        try:
            return bool(json.loads(body)["error"]["code"] != "validation_error")
        except (ValueError, KeyError, TypeError):
            return False
    return True


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(error_body(code, message), status_code=status)


async def _claim(engine: AsyncEngine, scope: str, key: str, fingerprint: str) -> Any:
    """Claim the key (returns None) or return the row that already holds it."""
    for _ in range(3):  # the holder may forget its claim between our INSERT and SELECT
        async with engine.begin() as conn:
            now = (await conn.execute(sa.select(sa.func.now()))).scalar_one()
            await conn.execute(  # expired keys and crashed in-flight markers are forgotten
                T.delete().where(
                    T.c.scope == scope,
                    T.c.key == key,
                    sa.or_(
                        T.c.created_at < now - KEY_TTL,
                        sa.and_(T.c.status_code.is_(None), T.c.created_at < now - STALE_AFTER),
                    ),
                )
            )
            claimed = await conn.execute(
                pg_insert(T)
                .values(scope=scope, key=key, request_hash=fingerprint)
                .on_conflict_do_nothing()
                .returning(T.c.key)
            )
            if claimed.first() is not None:
                return None
            existing = (
                await conn.execute(sa.select(T).where(T.c.scope == scope, T.c.key == key))
            ).first()
            if existing is not None:
                return existing
    raise RuntimeError("could not claim or read the idempotency key")


def _replay(existing: Any, fingerprint: str) -> Response:
    if existing.request_hash != fingerprint:
        return _error(
            422, "idempotency_key_reused", "this Idempotency-Key was used with a different request"
        )
    if existing.status_code is None:
        return _error(409, "idempotency_key_in_use", "a request with this key is in progress")
    return Response(
        content=existing.response_body,
        status_code=existing.status_code,
        media_type=existing.content_type,
        headers={"Idempotent-Replayed": "true"},
    )


class IdempotencyMiddleware(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        key = request.headers.get(HEADER)
        if request.method not in ("POST", "PUT", "PATCH", "DELETE") or key is None:
            return await call_next(request)
        if not key or len(key) > MAX_KEY_LENGTH:
            return _error(400, "invalid_idempotency_key", f"keys are 1-{MAX_KEY_LENGTH} characters")
        raw_api_key = bearer_key(request)
        if raw_api_key is None:
            return await call_next(request)  # the endpoint answers 401; nothing to remember
        scope = hash_key(raw_api_key)
        body = await request.body()
        fingerprint = request_fingerprint(request.method, request.url.path, request.url.query, body)
        engine: AsyncEngine = request.app.state.engine

        if await active_principal(request, raw_api_key) is None:
            return await call_next(request)  # the endpoint answers 401; nothing to remember
        existing = await _claim(engine, scope, key, fingerprint)
        if existing is not None:
            return _replay(existing, fingerprint)

        try:
            response = await call_next(request)
            content = b"".join([chunk async for chunk in response.body_iterator])  # type: ignore[attr-defined]
        except Exception:
            # The endpoint ran and failed in an unknown state: remember the failure.
            log.exception("idempotency.endpoint_failed", key=key)
            response = _error(500, "internal_error", "the request failed; do not retry it blindly")
            content = bytes(response.body)
        except BaseException:  # cancelled: the client went away mid-request
            await self._forget(engine, scope, key)
            raise
        if _storable(response.status_code, content):
            async with engine.begin() as conn:
                await conn.execute(
                    T.update()
                    .where(T.c.scope == scope, T.c.key == key)
                    .values(
                        status_code=response.status_code,
                        response_body=content,
                        content_type=response.headers.get("content-type"),
                    )
                )
        else:
            await self._forget(engine, scope, key)
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        return Response(content=content, status_code=response.status_code, headers=headers)

    @staticmethod
    async def _forget(engine: AsyncEngine, scope: str, key: str) -> None:
        async with engine.begin() as conn:
            await conn.execute(T.delete().where(T.c.scope == scope, T.c.key == key))
