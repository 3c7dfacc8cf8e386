"""Orders over HTTP: create, read, list with filters and cursors, tenancy, scopes, idempotency."""

from __future__ import annotations

import uuid

import pytest

from tests.integration.escrow.conftest import Api, order_body

pytestmark = pytest.mark.integration


async def test_create_and_get_an_order(api: Api) -> None:
    r = await api.post("/v1/orders", order_body(), api.platform)
    assert r.status_code == 201, r.text
    order = r.json()
    assert order["status"] == "awaiting_funding" and order["held"] == 0
    assert [m["amount"] for m in order["milestones"]] == [30_000, 40_000, 30_000]
    assert order["platform_fee_bps"] == 100
    got = await api.client.get(f"/v1/orders/{order['order_id']}", headers=api.supplier)
    assert got.status_code == 200 and got.json()["order_id"] == order["order_id"]


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"total": 99_999}, "invalid_order"),
        ({"currency": "XYZ"}, "validation_error"),
        ({"total": 100_000.0}, "validation_error"),
        ({"supplier_account_id": "cus_1"}, "validation_error"),
        ({"buyer_id": ""}, "validation_error"),
    ],
)
async def test_invalid_orders_are_refused(api: Api, change: dict, code: str) -> None:
    r = await api.post("/v1/orders", {**order_body(), **change}, api.platform)
    assert r.status_code == 422 and r.json()["error"]["code"] == code


async def test_tenancy_scopes_and_auth(api: Api) -> None:
    order = (await api.post("/v1/orders", order_body(), api.platform)).json()
    other = await api.client.get(f"/v1/orders/{order['order_id']}", headers=api.other_tenant)
    assert other.status_code == 404 and other.json()["error"]["code"] == "order_not_found"
    r = await api.post(f"/v1/orders/{order['order_id']}/cancel", {"reason": "x"}, api.other_tenant)
    assert r.status_code == 404
    r = await api.post("/v1/orders", order_body(), api.supplier)
    assert r.status_code == 403 and r.json()["error"]["code"] == "insufficient_scope"
    r = await api.post(
        f"/v1/orders/{order['order_id']}/wire-confirmations",
        {"amount": 1, "reference": "w"},
        api.platform,
    )
    assert r.status_code == 403
    r = await api.client.get("/v1/orders")
    assert r.status_code == 401


async def test_idempotency_key_replays_and_refuses_reuse(api: Api) -> None:
    key = str(uuid.uuid4())
    first = await api.post("/v1/orders", order_body(), api.platform, key=key)
    again = await api.post("/v1/orders", order_body(), api.platform, key=key)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["order_id"] == first.json()["order_id"]
    other = await api.post("/v1/orders", order_body(currency="EUR"), api.platform, key=key)
    assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_reused"


async def test_list_filters_and_cursor_pagination(api: Api) -> None:
    buyer = f"buyer-{uuid.uuid4().hex[:6]}"
    ids = []
    for _ in range(5):
        api.clock.advance(__import__("datetime").timedelta(seconds=1))
        r = await api.post("/v1/orders", {**order_body(), "buyer_id": buyer}, api.platform)
        ids.append(r.json()["order_id"])
    seen, cursor = [], None
    while True:
        params = {"buyer_id": buyer, "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await api.client.get("/v1/orders", params=params, headers=api.finance)).json()
        seen += [o["order_id"] for o in page["data"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == list(reversed(ids))
    none = await api.client.get(
        "/v1/orders", params={"buyer_id": buyer, "status": "completed"}, headers=api.finance
    )
    assert none.json()["data"] == []
    theirs = await api.client.get(
        "/v1/orders", params={"buyer_id": buyer}, headers=api.other_tenant
    )
    assert theirs.json()["data"] == []
