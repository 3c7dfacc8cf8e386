"""``Idempotency-Key`` on write requests, with Stripe's semantics.

- First request with a key: runs, and its response is stored under (API key, idempotency key).
- Same key, same request (method, path, canonical JSON body): the stored response is replayed
  with ``Idempotent-Replayed: true``; nothing runs twice.
- Same key, different request: 422 ``idempotency_key_reused``.
- Same key while the first request is still running: 409 ``idempotency_key_in_use``.
- Responses that mean "nothing started" are not stored, so the client may fix and retry:
  401/403, request validation errors (422 ``validation_error``), 409 in-use and 5xx.
- Keys live 24 hours; an in-flight marker older than ``STALE_AFTER`` (a crashed request) is
  taken over.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from shared.db import idempotency_keys
from shared.http.auth import bearer_key, hash_key
from shared.http.errors import error_body

HEADER = "idempotency-key"
KEY_TTL = timedelta(hours=24)
STALE_AFTER = timedelta(minutes=2)
MAX_KEY_LENGTH = 255


def request_fingerprint(method: str, path: str, body: bytes) -> str:
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        canonical = body
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + canonical).hexdigest()


def _storable(status: int, body: bytes) -> bool:
    if status >= 500 or status in (401, 403, 409, 429):
        return False
    if status == 422:
        try:
            return bool(json.loads(body)["error"]["code"] != "validation_error")
        except (ValueError, KeyError, TypeError):
            return False
    return True


class IdempotencyMiddleware(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        key = request.headers.get(HEADER)
        if request.method not in ("POST", "PUT", "PATCH", "DELETE") or key is None:
            return await call_next(request)
        if not key or len(key) > MAX_KEY_LENGTH:
            return JSONResponse(
                error_body("invalid_idempotency_key", f"keys are 1-{MAX_KEY_LENGTH} characters"),
                status_code=400,
            )
        raw_api_key = bearer_key(request)
        if raw_api_key is None:
            return await call_next(request)  # the endpoint answers 401; nothing to remember
        scope = hash_key(raw_api_key)
        fingerprint = request_fingerprint(request.method, request.url.path, await request.body())
        engine = request.app.state.engine
        t = idempotency_keys

        async with engine.begin() as conn:
            now = (await conn.execute(sa.select(sa.func.now()))).scalar_one()
            # Expired keys and crashed in-flight markers are forgotten first.
            await conn.execute(
                t.delete().where(
                    t.c.scope == scope,
                    t.c.key == key,
                    sa.or_(
                        t.c.created_at < now - KEY_TTL,
                        sa.and_(t.c.status_code.is_(None), t.c.created_at < now - STALE_AFTER),
                    ),
                )
            )
            claimed = (
                await conn.execute(
                    pg_insert(t)
                    .values(scope=scope, key=key, request_hash=fingerprint)
                    .on_conflict_do_nothing()
                    .returning(t.c.key)
                )
            ).first()
            existing = None
            if claimed is None:
                existing = (
                    await conn.execute(sa.select(t).where(t.c.scope == scope, t.c.key == key))
                ).first()

        if existing is not None:
            if existing.request_hash != fingerprint:
                return JSONResponse(
                    error_body(
                        "idempotency_key_reused",
                        "this Idempotency-Key was used with a different request",
                    ),
                    status_code=422,
                )
            if existing.status_code is None:
                return JSONResponse(
                    error_body("idempotency_key_in_use", "a request with this key is in progress"),
                    status_code=409,
                )
            return Response(
                content=existing.response_body,
                status_code=existing.status_code,
                media_type=existing.content_type,
                headers={"Idempotent-Replayed": "true"},
            )

        try:
            response = await call_next(request)
            body = b"".join([chunk async for chunk in response.body_iterator])  # type: ignore[attr-defined]
        except BaseException:
            await self._forget(engine, scope, key)
            raise
        if _storable(response.status_code, body):
            async with engine.begin() as conn:
                await conn.execute(
                    t.update()
                    .where(t.c.scope == scope, t.c.key == key)
                    .values(
                        status_code=response.status_code,
                        response_body=body,
                        content_type=response.headers.get("content-type"),
                    )
                )
        else:
            await self._forget(engine, scope, key)
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        return Response(content=body, status_code=response.status_code, headers=headers)

    @staticmethod
    async def _forget(engine: object, scope: str, key: str) -> None:
        async with engine.begin() as conn:  # type: ignore[attr-defined]
            await conn.execute(
                idempotency_keys.delete().where(
                    idempotency_keys.c.scope == scope, idempotency_keys.c.key == key
                )
            )
