"""Every financing write registers, with its commit, the answer it gives: a retry after the
process died between the commit and the answer's storage gets that answer, and runs nothing."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.integration.financing.conftest import Harness, funded_order
from tests.support.lost_answers import lose_answers, replayed_as_first

pytestmark = pytest.mark.integration


async def twice(
    client: httpx.AsyncClient,
    harness: Harness,
    monkeypatch: pytest.MonkeyPatch,
    method: str,
    path: str,
    who: str,
    body: dict[str, Any],
) -> httpx.Response:
    headers = {**harness.keys[who], "Idempotency-Key": uuid.uuid4().hex}
    with monkeypatch.context() as patch:
        lose_answers(patch)
        first = await client.request(method, path, json=body, headers=headers)
    retry = await client.request(method, path, json=body, headers=headers)
    replayed_as_first(first, retry)
    return first


async def test_quote_offer_refusal_acceptance_and_policy(
    client: httpx.AsyncClient, harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    oid = await funded_order(harness)
    offered = await twice(
        client, harness, monkeypatch, "POST", "/v1/quotes", "t1-supplier",
        {"order_id": oid, "supplier_id": "s1", "amount": 1_000_000},
    )  # fmt: skip
    assert offered.status_code == 201
    refused = await twice(
        client, harness, monkeypatch, "POST", "/v1/quotes", "t1-supplier",
        {"order_id": oid, "supplier_id": "s1", "amount": 9_000_000},
    )  # fmt: skip
    assert refused.status_code == 422
    aid = offered.json()["advance_id"]
    accepted = await twice(
        client, harness, monkeypatch, "POST", f"/v1/advances/{aid}/accept", "t1-supplier",
        {"supplier_id": "s1"},
    )  # fmt: skip
    assert accepted.status_code == 200 and accepted.json()["state"] == "accepted"
    policy = (await client.get("/v1/policies/USD", headers=harness.keys["t1-finance"])).json()
    policy.pop("currency")
    put = await twice(client, harness, monkeypatch, "PUT", "/v1/policies/USD", "t1-finance", policy)
    assert put.status_code == 200
