"""The OpenAPI document of every service, amended so that it tells the truth.

FastAPI's generated document knows the routes, their parameters and bodies. It does not
know what the shared plumbing does around them, so ``install_openapi`` adds, once:

- ``securitySchemes.ApiKey`` (HTTP bearer) and, per operation, the scopes it admits, read
  from its ``requires(...)`` dependency: ``security: [{"ApiKey": ["platform", "finance"]}]``
  (OpenAPI 3.1 lets a non-OAuth requirement list roles) and the same list as ``x-scopes``;
  an operation without one (the Stripe webhook, signed instead) declares ``security: []``;
- the optional ``Idempotency-Key`` header on every authenticated write (the middleware);
- every error status the operation can answer, each with the one ``Error`` schema in place
  of FastAPI's ``HTTPValidationError``: 400 (request guard, malformed values), 401 (key),
  403 (scope; also where a route declares it), 404 (an object in the path), 409 and 413
  (writes), 422 (validation), 503 (an outage) on all; routes add others (502) through
  ``responses=`` with a description, and get the schema filled in here;
- links from a creating response to the operations on what it created: routes declare
  them with ``link("GET /v1/orders/{order_id}", order_id="$response.body#/order_id")``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts

from shared.http.auth import ADMITTED_SCOPES, SCOPES, Scope

SCHEME = "ApiKey"
WRITES = frozenset({"post", "put", "patch", "delete"})
ERROR_REF = {"$ref": "#/components/schemas/Error"}
ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "required": ["error"],
    "additionalProperties": False,
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "additionalProperties": False,
            "properties": {
                "code": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"},
                "message": {"type": "string"},
                "details": {"description": "machine-readable detail, by code"},
            },
        }
    },
}
DESCRIPTIONS = {
    400: "Malformed request: invalid_json, invalid_characters, invalid_cursor, "
    "invalid_idempotency_key, ...",
    401: "unauthenticated: no API key, or an unknown, revoked or expired one",
    403: "insufficient_scope, or party_mismatch (a supplier key naming another supplier)",
    404: "Not found (or another tenant's, or another supplier's): <object>_not_found",
    409: "A state conflict (the rule's code), or idempotency_key_in_use, "
    "idempotency_key_applied, secret_shown_once",
    413: "payload_too_large: the body is over the service's limit",
    422: "validation_error (details list each problem), a refused value, idempotency_key_reused",
    503: "service_unavailable: a database (the service's or identity) cannot be reached",
}
Responses = dict[int | str, dict[str, Any]]
# For routes where a supplier key may name another supplier (acting or filtering).
PARTY_MISMATCH: Responses = {
    403: {"description": "party_mismatch: a supplier key naming another supplier"}
}
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Stripe's semantics: the same key and request replay the first answer",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
}


def link(operation: str, **parameters: str) -> dict[str, Any]:
    """An OpenAPI link to ``"METHOD /path"`` with parameters taken from this response."""
    method, path = operation.split(" ", 1)
    pointer = path.replace("~", "~0").replace("/", "~1")
    return {
        "operationRef": f"#/paths/{quote(pointer, safe='~')}/{method.lower()}",
        "parameters": parameters,
    }


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _calls(sub)


def admitted_scopes(route: APIRoute | RouteContext) -> tuple[Scope, ...] | None:
    """The scopes of the route's ``requires(...)``; None for a route without API keys."""
    found = [ADMITTED_SCOPES[c] for c in _calls(route.dependant) if c in ADMITTED_SCOPES]
    if not found:
        return None
    return tuple(s for s in SCOPES if all(s in scopes for scopes in found))


def _amend_operation(route: RouteContext, method: str, operation: dict[str, Any]) -> None:
    scopes = admitted_scopes(route)
    write = method in WRITES
    statuses = {400, 503}
    if scopes is None:
        operation["security"] = []
    else:
        operation["security"] = [{SCHEME: list(scopes)}]
        operation["x-scopes"] = list(scopes)
        statuses |= {401, 422} if write else {401}
        if set(scopes) != set(SCOPES):
            statuses.add(403)
        if write:
            operation.setdefault("parameters", []).append(IDEMPOTENCY_KEY)
    if "{" in (route.path_format or ""):
        statuses.add(404)
    if write:
        statuses |= {409, 413}
    if operation.get("parameters") or "requestBody" in operation:
        statuses.add(422)
    responses: dict[str, Any] = operation["responses"]
    for status in sorted(statuses):
        responses.setdefault(str(status), {"description": DESCRIPTIONS[status]})
    for code, response in responses.items():
        if code[0] in "45":
            response["content"] = {"application/json": {"schema": ERROR_REF}}
    operation["responses"] = dict(sorted(responses.items()))


def amend(spec: dict[str, Any], app: FastAPI) -> None:
    spec.setdefault("components", {})
    spec["components"].setdefault("securitySchemes", {})[SCHEME] = {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key of the tenant: `Authorization: Bearer <key>`. Each "
        "operation lists the scopes it admits (any one of them suffices).",
    }
    schemas = spec["components"].setdefault("schemas", {})
    for default in ("HTTPValidationError", "ValidationError"):
        schemas.pop(default, None)
    schemas["Error"] = ERROR_SCHEMA
    # Routes of included routers come as contexts that carry the full path and dependencies.
    for route in iter_route_contexts(app.routes):
        if isinstance(route.original_route, APIRoute) and route.include_in_schema:
            assert route.methods is not None and route.path_format is not None
            for method in route.methods:
                operation = spec["paths"][route.path_format][method.lower()]
                _amend_operation(route, method.lower(), operation)


def install_openapi(app: FastAPI) -> None:
    """Serve the amended document at /openapi.json (and to /docs)."""
    generate = app.openapi
    amended: list[int] = []

    def openapi() -> dict[str, Any]:
        spec = generate()  # FastAPI caches it until the routes change
        if id(spec) not in amended:
            amend(spec, app)
            amended.append(id(spec))
        return spec

    app.openapi = openapi  # type: ignore[method-assign]
