"""Each service's OpenAPI document tells the truth about security, errors, bodies and links."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

import pytest

from services.escrow.bootstrap import DEFINITION as ESCROW
from services.financing.bootstrap import DEFINITION as FINANCING
from services.ledger.bootstrap import DEFINITION as LEDGER
from services.runner import create_app
from shared.http.auth import SCOPES
from shared.settings import Settings

SPECS = {
    d.name: create_app(d, Settings(environment="test")).openapi()
    for d in (ESCROW, LEDGER, FINANCING)
}
UNAUTHENTICATED = {("escrow", "post", "/v1/webhooks/stripe")}  # signed by Stripe instead


def operations(service: str) -> list[tuple[str, str, dict[str, Any]]]:
    paths = SPECS[service]["paths"]
    return [(m, p, op) for p, ops in paths.items() for m, op in ops.items()]


ALL = [(s, m, p, op) for s in SPECS for m, p, op in operations(s)]
IDS = [f"{s} {m.upper()} {p}" for s, m, p, _ in ALL]


@pytest.mark.parametrize("service", SPECS)
def test_bearer_scheme_and_no_default_validation_schema(service: str) -> None:
    spec = SPECS[service]
    assert spec["components"]["securitySchemes"]["ApiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": spec["components"]["securitySchemes"]["ApiKey"]["description"],
    }
    assert "HTTPValidationError" not in json.dumps(spec)
    assert spec["components"]["schemas"]["Error"]["required"] == ["error"]


@pytest.mark.parametrize(("service", "method", "path", "op"), ALL, ids=IDS)
def test_each_operation_names_its_scopes_and_every_error(
    service: str, method: str, path: str, op: dict[str, Any]
) -> None:
    responses = op["responses"]
    if (service, method, path) in UNAUTHENTICATED:
        assert op["security"] == []
    else:
        (requirement,) = op["security"]
        assert list(requirement) == ["ApiKey"]
        assert requirement["ApiKey"] == op["x-scopes"]
        assert set(op["x-scopes"]) <= set(SCOPES) and op["x-scopes"]
        assert "401" in responses
        assert ("403" in responses) or set(op["x-scopes"]) == set(SCOPES)
    expected = {"400", "503"}
    if "{" in path:
        expected.add("404")
    if method in ("post", "put", "patch", "delete"):
        expected |= {"409", "413"}
    assert expected <= set(responses)
    for status, response in responses.items():
        if status[0] in "45":
            assert response["content"] == {
                "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
            }, status
        else:  # a typed body: a model, a list of models, or a described object
            schema = response["content"]["application/json"]["schema"]
            items = schema.get("items", {})
            typed = schema.get("$ref") or items.get("$ref") or schema.get("required")
            assert typed, f"{status} of {method} {path} is an untyped {schema}"


def _resolve(service: str, ref: str) -> tuple[str, str, dict[str, Any]]:
    _, _, pointer = ref.partition("#/paths/")
    encoded_path, method = pointer.rsplit("/", 1)
    path = unquote(encoded_path).replace("~1", "/").replace("~0", "~")
    return path, method, SPECS[service]["paths"][path][method]


@pytest.mark.parametrize("service", SPECS)
def test_links_reach_real_operations_with_their_path_parameters(service: str) -> None:
    count = 0
    for _, _, op in operations(service):
        for response in op["responses"].values():
            for link in response.get("links", {}).values():
                path, _, target = _resolve(service, link["operationRef"])
                wanted = {p["name"] for p in target.get("parameters", []) if p["in"] == "path"}
                assert set(link["parameters"]) == wanted, path
                assert all(v.startswith("$response.body#/") for v in link["parameters"].values())
                count += 1
    assert count >= 4


def test_what_a_client_reads_first() -> None:
    create = SPECS["escrow"]["paths"]["/v1/orders"]["post"]
    assert create["security"] == [{"ApiKey": ["platform"]}]
    assert create["responses"]["201"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/OrderPublic"
    }
    get = create["responses"]["201"]["links"]["GetOrder"]
    assert get["parameters"] == {"order_id": "$response.body#/order_id"}
    assert _resolve("escrow", get["operationRef"])[:2] == ("/v1/orders/{order_id}", "get")
    cancel = SPECS["escrow"]["paths"]["/v1/orders/{order_id}/cancel"]["post"]
    assert cancel["security"] == [{"ApiKey": ["platform", "finance"]}]
    assert {p["name"] for p in cancel["parameters"]} == {"order_id", "Idempotency-Key"}
    fund = SPECS["escrow"]["paths"]["/v1/orders/{order_id}/fund"]["post"]
    assert "502" in fund["responses"]
    by_source = SPECS["ledger"]["paths"]["/v1/ledger/transactions"]["get"]
    assert "404" in by_source["responses"], "a lookup by query finds nothing: 404 (fuzzer)"
    quotes = SPECS["financing"]["paths"]["/v1/quotes"]["post"]
    assert quotes["security"] == [{"ApiKey": ["supplier"]}]


NEW_IN_ISSUE_11 = [
    ("escrow", "post", "/v1/orders"),
    ("escrow", "patch", "/v1/orders/{order_id}"),
    ("financing", "post", "/v1/quotes"),
    ("financing", "patch", "/v1/advances/{advance_id}"),
]


@pytest.mark.parametrize(("service", "method", "path"), NEW_IN_ISSUE_11)
def test_the_platform_data_operations_carry_a_request_example(
    service: str, method: str, path: str
) -> None:
    spec = SPECS[service]
    body = spec["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
    name = body["$ref"].rsplit("/", 1)[-1]
    schema = spec["components"]["schemas"][name]
    (example,) = schema["examples"]
    assert "metadata" in example and "metadata" in schema["properties"]
    assert {"400", "409"} <= set(spec["paths"][path][method]["responses"])


@pytest.mark.parametrize(
    ("service", "path"),
    [
        ("escrow", "/v1/orders"),
        ("escrow", "/v1/orders/{order_id}/timeline"),
        ("financing", "/v1/advances"),
        ("ledger", "/v1/ledger/reconciliation/breaks"),
    ],
)
def test_every_list_is_a_stripe_cursor_page(service: str, path: str) -> None:
    op = SPECS[service]["paths"][path]["get"]
    params = {p["name"]: p for p in op["parameters"]}
    assert (
        params["limit"]["schema"]["maximum"] == 100 and params["limit"]["schema"]["default"] == 10
    )
    assert "starting_after" in params
    ref = op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    page = SPECS[service]["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    assert set(page["required"]) >= {"data", "has_more", "url"}
