"""``Idempotency-Key`` on write requests, with Stripe's semantics, and true under crashes.

What a client sees
- First request with a key: runs, and its answer is stored under (API key, idempotency key),
  where a key rotated into a successor and the successor count as one API key: a retry
  sent with the successor after a rotation finds what the old key's request did.
- Same key, same request (method, path, query, canonical JSON body): the stored answer is
  replayed with ``Idempotent-Replayed: true``; nothing runs twice.
- Same key, different request: 422 ``idempotency_key_reused``.
- Same key while the first request is still running: 409 ``idempotency_key_in_use``.
- Once the request committed an effect it never runs again: a retry gets its answer. If
  the request failed after its commit (a 503, a 500, a conflict while settling), the retry
  gets the answer the endpoint committed with its effect (below), which tells what did
  happen. An answer that says nothing happened is not kept, so the client may retry with the
  same key: 401/403, 409, 429, 503 and request validation errors (422 ``validation_error``),
  as long as no effect committed; nor is what routing answered before any endpoint ran (a
  redirect for a trailing slash, an unknown path, a method the path does not take). Other answers of requests that changed nothing (a domain
  refusal, a 500 of unknown cause) are kept, as Stripe does.
- A key whose API key is unknown, revoked or expired replays nothing: the endpoint answers 401.
- Keys live 24 hours (``claims.KEY_TTL``; the retention job deletes them).

How it stays true when a process is killed
1. *The claim dies with its holder* (shared/http/claims.py). While a keyed request runs,
   it holds a session advisory lock on a connection of its own. When the process dies, the
   kernel closes that connection and PostgreSQL drops the lock with it, so a retry after a
   crash proceeds at once; while the holder lives, a second request with the key gets 409
   and runs nothing. There is no timeout to wait out.
2. *"The effect committed" commits with the effect.* While the endpoint runs, a commit hook
   (``shared.db.on_commit``) adds to every transaction of the request that wrote something,
   right before its COMMIT, the key's row naming this execution (``execution_id``) and the
   answer the endpoint registered for that state (``answer()``). So the row exists if and
   only if the effect does, whatever the engine-level transaction (a ``UnitOfWork``, an
   ``engine.begin()``, a FastAPI dependency). The row is upserted only where no other
   execution owns the key: should a second execution ever get past the lock (the lock's
   connection cut by a database restart while its holder goes on), its effect cannot commit.
   Endpoints that commit more than once (escrow commits a reservation, calls Stripe, then
   commits the settlement) register their answer at every commit; the first marks the key.
3. After the endpoint returned, its final answer replaces the registered one (unless it is
   the registered one, byte for byte: a success whose commit recorded it; the usual case).

So a retry finds one of three things, and never runs a write twice:
- no row: nothing committed (the request died before its effect, or failed without
  changing anything); the request runs;
- a completed row: its answer is replayed;
- a row whose effect committed but whose final answer was never stored (the process died
  in between, or the database went away first): the answer the endpoint registered with its
  commit is replayed: the committed result. Every write endpoint of the three services
  registers one; a row without any answers 409 ``idempotency_key_applied`` ("it took effect;
  read the resource"), never a second execution.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, MutableMapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar
from uuid import UUID, uuid4

import sqlalchemy as sa
import structlog
from fastapi.encoders import jsonable_encoder
from fastapi.routing import APIRoute
from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.db import idempotency_keys, is_unavailable, on_commit
from shared.faults import crash_point
from shared.http.auth import active_principal, bearer_key, idempotency_scope
from shared.http.claims import Claim, claim_engine
from shared.http.errors import ApiError, error_body, service_unavailable

log = structlog.get_logger(__name__)

HEADER = "idempotency-key"
MAX_KEY_LENGTH = 255
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
JSON = "application/json"
T = idempotency_keys
C = TypeVar("C")
CallNext = Callable[[Request], Awaitable[Response]]


def request_fingerprint(method: str, path: str, query: str, body: bytes) -> str:
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        canonical = body
    head = f"{method} {path}?{query}\n".encode()
    return hashlib.sha256(head + canonical).hexdigest()


def _storable(status: int, body: bytes) -> bool:
    """May an answer be kept when the request committed no effect? Not if it says that
    nothing ran, so that the client can fix the request (or wait) and retry with the key."""
    if status in (401, 403, 409, 429, 503):
        return False
    if status == 422:
        try:
            return bool(json.loads(body)["error"]["code"] != "validation_error")
        except (ValueError, KeyError, TypeError):
            return False
    return True


def _endpoint_ran(scope: MutableMapping[str, Any]) -> bool:
    """Did routing reach an endpoint that takes the request's method? Not when it answered
    itself: a redirect (a missing or extra trailing slash), an unknown path (404), a method
    the path does not take (405). Such an answer is not the request's, and is not kept."""
    route = scope.get("route")
    methods = getattr(route, "methods", None)
    return route is not None and (methods is None or scope.get("method") in methods)


def _withheld(status: int, content: bytes) -> tuple[int, bytes, str]:
    """What a retry gets instead of an answer marked ``Cache-Control: no-store`` (one that
    shows a secret, e.g. a new API key, once): never the secret, never a second execution,
    but what was done, less every field named ``key`` or ``secret``."""
    try:
        shown = json.loads(content)
    except ValueError:
        shown = None
    body = error_body(
        "secret_shown_once",
        "this request took effect and its answer held a secret, which is shown only once;"
        " revoke what it issued if the answer was lost",
        {"status": status, "resource": _without_secrets(shown)},
    )
    return 409, json.dumps(body).encode(), "application/json"


SECRET_FIELDS = frozenset({"key", "secret"})  # an API key; a webhook endpoint's signing secret


def _without_secrets(value: object) -> object:
    if isinstance(value, dict):
        return {k: _without_secrets(v) for k, v in value.items() if k not in SECRET_FIELDS}
    if isinstance(value, list):
        return [_without_secrets(v) for v in value]
    return value


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(error_body(code, message), status_code=status)


class KeyTakenByAnother(Exception):
    """Another execution already committed an effect under this key: this one must not."""


@dataclass
class Execution:
    """One run of a keyed request: what its commits record, and what it would answer."""

    scope: str  # whose keys: the hash of the first key of the sender's rotation chain
    key: str
    fingerprint: str
    asgi_scope: MutableMapping[str, Any]
    execution_id: UUID = field(default_factory=uuid4)
    status: int | None = None
    body: bytes | None = None
    recorded: bool = False  # a transaction of ours wrote the marker (committed or not)
    # The answer the last marker written held: (status, body, content type).
    marked_answer: tuple[int | None, bytes | None, str | None] | None = None
    finished: bool = False  # the endpoint answered: later commits are none of this key's

    def record(self, conn: Connection) -> None:
        """The commit hook: runs inside each transaction this request commits."""
        if self.finished:
            return
        content_type = JSON if self.body is not None else None
        marked = conn.execute(
            _RECORD,
            {
                "scope": self.scope,
                "key": self.key,
                "request_hash": self.fingerprint,
                "execution_id": self.execution_id,
                "status_code": self.status,
                "response_body": self.body,
                "content_type": content_type,
            },
        ).one()
        if not marked.wrote:
            return  # a read-only transaction is no effect
        if not marked.marked:
            raise KeyTakenByAnother(f"{self.key} belongs to another execution")
        self.recorded = True
        self.marked_answer = (self.status, self.body, content_type)

    def holds(self, answer: tuple[int, bytes, str | None]) -> bool:
        """Does the key's row hold ``answer`` already? Yes when the last marker this
        execution wrote carried it, and that marker's transaction committed. If that COMMIT
        failed instead, there is no row and no effect: a retry runs the request, which is
        right (the endpoint answered an error then anyway, and no error is skipped here)."""
        return answer[0] < 400 and self.recorded and self.marked_answer == answer


# The record of an effect, in one statement (one round trip per commit): whether this
# transaction wrote anything before it (``wrote``: a read-only transaction is no effect,
# and then nothing is written), and if it did, the key's row naming this execution, inserted
# or updated only while it names this execution (``marked`` false: another execution's
# effect committed under the key). ``tx`` is materialized once, before the INSERT can assign
# the transaction an id of its own.
_RECORD = sa.text(
    f"""
    WITH tx AS MATERIALIZED (SELECT pg_current_xact_id_if_assigned() IS NOT NULL AS wrote),
    marked AS (
        INSERT INTO {T.name} AS k
            (scope, key, request_hash, execution_id, status_code, response_body, content_type)
        SELECT CAST(:scope AS text), CAST(:key AS text), CAST(:request_hash AS text),
               CAST(:execution_id AS uuid), CAST(:status_code AS integer),
               CAST(:response_body AS bytea), CAST(:content_type AS text)
        FROM tx WHERE tx.wrote
        ON CONFLICT (scope, key) DO UPDATE
            SET status_code = excluded.status_code,
                response_body = excluded.response_body,
                content_type = excluded.content_type
            WHERE k.execution_id = excluded.execution_id
        RETURNING k.key
    )
    SELECT tx.wrote, EXISTS (SELECT FROM marked) AS marked FROM tx
    """
).bindparams(
    sa.bindparam("execution_id", type_=sa.Uuid),
    sa.bindparam("response_body", type_=sa.LargeBinary),
)


_current: ContextVar[Execution | None] = ContextVar("tradeflow_idempotent_execution", default=None)


def answer(content: C) -> C:
    """Register ``content`` as this request's answer, should what it commits next be all.

    Call it before the commit that makes the state ``content`` shows; the answer is written
    in that transaction, so a retry after a crash between the commit and the end of the
    request gets it. It is rendered as FastAPI renders the route's return value (its status
    code, its response model). Returns ``content`` (``return answer(body)`` where the commit
    comes after the return, as with a dependency that commits). Outside a request with an
    Idempotency-Key it does nothing.
    """
    execution = _current.get()
    if execution is not None:
        route = execution.asgi_scope.get("route")
        execution.status = getattr(route, "status_code", None) or 200
        execution.body = _render(route, content)
    return content


def answer_secret(content: C) -> C:
    """``answer`` for an answer that shows a secret once (the route also marks its response
    ``Cache-Control: no-store``): what is committed with the effect is the withheld form
    (``secret_shown_once``, the resource less its secrets), so no retry, even one after a
    crash between the commit and the answer, is shown the secret again."""
    execution = _current.get()
    if execution is not None:
        route = execution.asgi_scope.get("route")
        status = getattr(route, "status_code", None) or 200
        execution.status, execution.body, _ = _withheld(status, _render(route, content))
    return content


def answer_error(error: ApiError) -> ApiError:
    """Register ``error`` as this request's answer (a refusal committed with a record of it)."""
    execution = _current.get()
    if execution is not None:
        execution.status = error.status
        execution.body = bytes(
            JSONResponse(error_body(error.code, error.message, error.details)).body
        )
    return error


def _render(route: object, content: object) -> bytes:
    """The body FastAPI sends for ``content`` returned by ``route`` (the scope's route: an
    APIRoute, or none) (fastapi.routing's serialize_response: validated against the response
    model, then serialized by it)."""
    field = route.response_field if isinstance(route, APIRoute) else None
    if field is None or not isinstance(route, APIRoute):
        return bytes(JSONResponse(jsonable_encoder(content)).body)
    value, errors = field.validate(content, {}, loc=("response",))
    if errors:  # FastAPI will refuse to send it too (500); keep what there is
        return bytes(JSONResponse(jsonable_encoder(content)).body)
    return bytes(
        field.serialize_json(
            value,
            include=route.response_model_include,
            exclude=route.response_model_exclude,
            by_alias=route.response_model_by_alias,
            exclude_unset=route.response_model_exclude_unset,
            exclude_defaults=route.response_model_exclude_defaults,
            exclude_none=route.response_model_exclude_none,
        )
    )


def _replay(row: sa.Row[Any], fingerprint: str) -> Response:
    if row.request_hash != fingerprint:
        return _error(
            422, "idempotency_key_reused", "this Idempotency-Key was used with a different request"
        )
    if row.status_code is None:
        return _error(
            409,
            "idempotency_key_applied",
            "this request took effect, but its answer was lost in a failure; read the "
            "resource for the result instead of repeating the request",
        )
    return Response(
        content=row.response_body,
        status_code=row.status_code,
        media_type=row.content_type,
        headers={"Idempotent-Replayed": "true"},
    )


class IdempotencyMiddleware:
    """A plain ASGI middleware: requests without a key pass straight through (no task, no
    buffering, which Starlette's ``BaseHTTPMiddleware`` would add to every request); a keyed
    write is claimed, run with its answer captured, stored, then sent."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in WRITE_METHODS:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        key = request.headers.get(HEADER)
        if key is None:
            await self.app(scope, receive, send)
            return
        if not key or len(key) > MAX_KEY_LENGTH:
            refused = _error(
                400, "invalid_idempotency_key", f"keys are 1-{MAX_KEY_LENGTH} characters"
            )
            await refused(scope, receive, send)
            return
        raw_api_key = bearer_key(request)
        if raw_api_key is None:  # the endpoint answers 401; nothing to remember
            await self.app(scope, receive, send)
            return
        response = await self.dispatch(request, key, raw_api_key, _call_next(self.app))
        await response(scope, receive, send)

    async def dispatch(
        self, request: Request, key: str, raw_api_key: str, call_next: CallNext
    ) -> Response:
        body = await request.body()
        fingerprint = request_fingerprint(request.method, request.url.path, request.url.query, body)
        try:
            principal = await active_principal(request, raw_api_key)
            if principal is None:
                return await call_next(request)  # the endpoint answers 401
            scope = await idempotency_scope(request, principal, raw_api_key)
            engine = request.app.state.engine
            async with Claim.take(claim_engine(engine), scope, key) as claim:
                if claim is None:
                    return _error(
                        409, "idempotency_key_in_use", "a request with this key is in progress"
                    )
                existing = await claim.existing()
                if existing is not None:
                    return _replay(existing, fingerprint)
                execution = Execution(scope, key, fingerprint, request.scope)
                return await self._execute(request, call_next, claim, execution)
        except Exception as exc:
            if is_unavailable(exc):
                return service_unavailable(exc)
            raise

    async def _execute(
        self,
        request: Request,
        call_next: CallNext,
        claim: Claim,
        execution: Execution,
    ) -> Response:
        token = _current.set(execution)
        try:
            with on_commit(request.app.state.engine, execution.record):
                response, content = await self._run(request, call_next, execution)
        finally:
            execution.finished = True
            _current.reset(token)
        if execution.recorded:
            crash_point("idempotency.after_effect")
        status, content_type = response.status_code, response.headers.get("content-type")
        kept = (status, content, content_type)
        if "no-store" in response.headers.get("cache-control", ""):
            kept = _withheld(status, content)
        try:
            if execution.holds(kept):
                # The usual keyed create: the answer committed with the effect is the final
                # one, byte for byte; storing it again would be one more round trip.
                return _sent(response, content)
            await claim.store(
                execution.execution_id,
                execution.fingerprint,
                kept,
                storable=_storable(status, content) and _endpoint_ran(request.scope),
            )
        except Exception as exc:  # the answer stands; a committed effect keeps its marker
            log.warning("idempotency.answer_not_stored", key=execution.key, error=repr(exc))
        return _sent(response, content)

    @staticmethod
    async def _run(
        request: Request, call_next: CallNext, execution: Execution
    ) -> tuple[Response, bytes]:
        try:
            response = await call_next(request)
            return response, bytes(response.body)
        except KeyTakenByAnother:
            failed: Response = _error(
                409, "idempotency_key_in_use", "another request with this key took effect"
            )
        except Exception as exc:
            if is_unavailable(exc):
                failed = service_unavailable(exc)
            else:
                # The endpoint ran and failed in an unknown state: remember the failure.
                log.exception("idempotency.endpoint_failed", key=execution.key)
                failed = _error(
                    500, "internal_error", "the request failed; do not retry it blindly"
                )
        return failed, bytes(failed.body)


def _sent(response: Response, content: bytes) -> Response:
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
    return Response(content=content, status_code=response.status_code, headers=headers)


def _call_next(app: ASGIApp) -> CallNext:
    """Run the rest of the app on ``request`` (its body, already read, replayed to it) and
    return its whole answer, not yet sent: the middleware stores it first."""

    async def call_next(req: Request) -> Response:
        body = await req.body()
        replayed = False

        async def receive() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await req.receive()

        status, headers, chunks = 500, [], []

        async def capture(message: Message) -> None:
            nonlocal status, headers
            if message["type"] == "http.response.start":
                status, headers = message["status"], message.get("headers", [])
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await app(req.scope, receive, capture)
        response = Response(content=b"".join(chunks), status_code=status)
        response.raw_headers = [(k, v) for k, v in headers if k.lower() != b"content-length"]
        response.raw_headers.append((b"content-length", str(len(response.body)).encode()))
        return response

    return call_next
