"""Every FX operation of the escrow API is in its OpenAPI document, each body with an example."""

from __future__ import annotations

from typing import Any

import pytest

from services.escrow.bootstrap import DEFINITION
from services.runner import create_app
from shared.settings import Settings

SPEC = create_app(DEFINITION, Settings(environment="test")).openapi()
WITH_BODY = [
    ("post", "/v1/fx/rates"),
    ("post", "/v1/fx/rates/csv"),
    ("put", "/v1/fx/settings"),
    ("post", "/v1/fx/quotes"),
    ("post", "/v1/orders/{order_id}/fund"),
    ("post", "/v1/orders/{order_id}/milestones/{milestone_id}/release"),
]
WITHOUT = [("get", "/v1/fx/rates"), ("get", "/v1/fx/settings"), ("get", "/v1/fx/quotes/{quote_id}")]


def example_of(op: dict[str, Any]) -> object:
    (media,) = op["requestBody"]["content"].values()
    if "example" in media:
        return media["example"]
    schema = media["schema"]
    if "anyOf" in schema:  # an optional body
        schema = next(s for s in schema["anyOf"] if "$ref" in s)
    name = schema["$ref"].rsplit("/", 1)[-1]
    (example,) = SPEC["components"]["schemas"][name]["examples"]
    return example


@pytest.mark.parametrize(("method", "path"), WITH_BODY)
def test_fx_operations_carry_a_request_example(method: str, path: str) -> None:
    op = SPEC["paths"][path][method]
    assert example_of(op)
    assert {"400", "409"} <= set(op["responses"])


@pytest.mark.parametrize(("method", "path"), WITHOUT)
def test_fx_reads_are_documented(method: str, path: str) -> None:
    assert "200" in SPEC["paths"][path][method]["responses"]


def test_a_quote_names_its_rates_as_strings() -> None:
    quote = SPEC["components"]["schemas"]["QuotePublic"]["properties"]
    assert quote["mid_rate"]["type"] == quote["rate"]["type"] == "string"
    assert quote["converted_amount"]["type"] == "integer"
