"""Every escrow write registers, with each commit, the answer it gives: a retry after the
process died between a commit and the answer's storage gets that answer, and runs nothing."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.integration.escrow.conftest import Api, order_body
from tests.integration.escrow.test_milestones_timers import SHIPPED
from tests.support.lost_answers import lose_answers, replayed_as_first

pytestmark = pytest.mark.integration


async def twice(
    api: Api, monkeypatch: pytest.MonkeyPatch, method: str, path: str, who: dict[str, str],
    body: Any = None,
) -> httpx.Response:  # fmt: skip
    headers = {**who, "Idempotency-Key": str(uuid.uuid4())}
    with monkeypatch.context() as patch:
        lose_answers(patch)
        first = await api.client.request(method, path, json=body, headers=headers)
    retry = await api.client.request(method, path, json=body, headers=headers)
    replayed_as_first(first, retry)
    return first


async def test_an_order_through_its_writes(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    # The fixture's tenant is every escrow test's: keep the default policy (1 %, no fixed fee).
    policy = {"basis_points": 100, "fixed_fees": {}}
    assert (await twice(api, monkeypatch, "PUT", "/v1/fee-policy", api.finance, policy)).is_success
    order = await twice(api, monkeypatch, "POST", "/v1/orders", api.platform, order_body())
    assert order.status_code == 201
    oid = order.json()["order_id"]
    m0, m1 = (m["milestone_id"] for m in order.json()["milestones"][:2])
    wire = {"amount": order.json()["total"], "reference": f"w-{oid}"}
    funded = await twice(
        api, monkeypatch, "POST", f"/v1/orders/{oid}/wire-confirmations", api.finance, wire
    )
    assert funded.status_code == 201
    shipped = await twice(
        api, monkeypatch, "POST", f"/v1/orders/{oid}/milestones/{m1}/evidence", api.supplier,
        {"evidence": SHIPPED},
    )  # fmt: skip
    assert shipped.status_code == 201
    disputed = await twice(
        api, monkeypatch, "POST", f"/v1/orders/{oid}/milestones/{m1}/disputes", api.platform,
        {"reason": "short shipped"},
    )  # fmt: skip
    assert disputed.status_code == 201
    dispute_id = disputed.json()["disputes"][0]["dispute_id"]
    resolved = await twice(
        api, monkeypatch, "POST", f"/v1/orders/{oid}/disputes/{dispute_id}/resolve", api.finance,
        {"outcome": "release"},
    )  # fmt: skip
    assert resolved.status_code == 200
    released = await twice(
        api, monkeypatch, "POST", f"/v1/orders/{oid}/milestones/{m0}/accept", api.platform
    )
    assert released.json()["milestones"][0]["status"] == "released"  # paid before the answer


async def test_a_card_funding_request(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    order = (await api.post("/v1/orders", order_body(), api.platform)).json()
    oid = order["order_id"]
    card = await twice(api, monkeypatch, "POST", f"/v1/orders/{oid}/fund", api.platform, {})
    assert card.status_code == 201 and card.json()["client_secret"]
    state = (await api.client.get(f"/v1/orders/{oid}", headers=api.platform)).json()
    assert len(state["payments"]) == 1  # requested once, one PaymentIntent


async def test_a_cancellation_with_its_refund(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    order = (await api.post("/v1/orders", order_body(), api.platform)).json()
    oid = order["order_id"]
    wire = {"amount": order["total"], "reference": f"w-{oid}"}
    assert (await api.post(f"/v1/orders/{oid}/wire-confirmations", wire, api.finance)).is_success
    cancelled = await twice(
        api, monkeypatch, "POST", f"/v1/orders/{oid}/cancel", api.platform, {"reason": "withdrawn"}
    )
    assert cancelled.json()["status"] == "cancelled"
