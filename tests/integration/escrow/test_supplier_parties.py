"""A supplier key bound to a supplier sees and acts on that supplier's orders only.

Another supplier's order answers exactly like another tenant's (404 order_not_found), so a
supplier cannot learn that an order id exists; platform and finance keys stay tenant-wide.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

from tests.integration.escrow.conftest import Api, order_body

pytestmark = pytest.mark.integration
SHIPPED = {
    "kind": "shipment",
    "document": "bill_of_lading",
    "number": "COSU6123456780",
    "carrier": "COSCO",
}


async def funded_order_of(api: Api, supplier: str) -> dict[str, Any]:
    body = {**order_body(), "supplier_id": supplier}
    order = (await api.post("/v1/orders", body, api.platform)).json()
    wire = {"amount": order["total"], "reference": f"w-{order['order_id']}"}
    r = await api.post(f"/v1/orders/{order['order_id']}/wire-confirmations", wire, api.finance)
    assert r.status_code == 201, r.text
    return r.json()


@pytest.fixture
async def parties(api: Api) -> dict[str, Any]:
    s1, s2 = f"s1-{uuid.uuid4().hex[:6]}", f"s2-{uuid.uuid4().hex[:6]}"
    return {
        "s1": s1,
        "s2": s2,
        "key1": await api.supplier_key(s1),
        "order1": await funded_order_of(api, s1),
        "order2": await funded_order_of(api, s2),
    }


async def test_a_bound_key_reads_its_own_orders_and_not_another_suppliers(
    api: Api, parties: dict[str, Any]
) -> None:
    key1, own, theirs = parties["key1"], parties["order1"], parties["order2"]
    got = await api.client.get(f"/v1/orders/{own['order_id']}", headers=key1)
    assert got.status_code == 200 and got.json()["supplier_id"] == parties["s1"]
    timeline = await api.client.get(
        f"/v1/orders/{own['order_id']}/timeline?limit=100", headers=key1
    )
    assert timeline.status_code == 200 and timeline.json()["data"]
    for path in (f"/v1/orders/{theirs['order_id']}", f"/v1/orders/{theirs['order_id']}/timeline"):
        hidden = await api.client.get(path, headers=key1)
        unknown = await api.client.get(path.replace(theirs["order_id"], "ord_nope"), headers=key1)
        assert hidden.status_code == unknown.status_code == 404
        assert hidden.json()["error"]["code"] == "order_not_found"
    # tenant-wide keys (platform, and supplier keys without a party) still see every order
    for who in (api.platform, api.finance, api.supplier):
        got = await api.client.get(f"/v1/orders/{theirs['order_id']}", headers=who)
        assert got.status_code == 200


async def test_a_bound_key_evidences_its_own_orders_only(api: Api, parties: dict[str, Any]) -> None:
    key1, own, theirs = parties["key1"], parties["order1"], parties["order2"]

    def path(order: dict[str, Any]) -> str:
        mid = order["milestones"][1]["milestone_id"]
        return f"/v1/orders/{order['order_id']}/milestones/{mid}/evidence"

    refused = await api.post(path(theirs), {"evidence": SHIPPED}, key1)
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "order_not_found"
    untouched = await api.client.get(f"/v1/orders/{theirs['order_id']}", headers=api.platform)
    assert untouched.json()["milestones"][1]["evidence"] == []
    assert untouched.json()["milestones"][1]["status"] == "awaiting_evidence"
    ok = await api.post(path(own), {"evidence": SHIPPED}, key1)
    assert ok.status_code == 201, ok.text
    assert ok.json()["milestones"][1]["status"] == "in_inspection"
    # the buyer's evidence stays the platform's, whoever's order it is
    acceptance = {"evidence": {"kind": "buyer_acceptance", "accepted_by": "buyer-acme"}}
    assert (await api.post(path(own), acceptance, key1)).status_code == 403


async def test_a_bound_key_lists_its_own_orders_only(api: Api, parties: dict[str, Any]) -> None:
    key1, s1, s2 = parties["key1"], parties["s1"], parties["s2"]
    api.clock.advance(timedelta(seconds=1))  # newest first: the second order leads
    second = await funded_order_of(api, s1)
    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 1, **({"starting_after": cursor} if cursor else {})}
        page = await api.client.get("/v1/orders", params=params, headers=key1)
        assert page.status_code == 200, page.text
        seen += page.json()["data"]
        if not page.json()["has_more"]:
            break
        cursor = page.json()["data"][-1]["order_id"]
    # Another supplier's order is no cursor for a key bound to this one.
    foreign = {"starting_after": parties["order2"]["order_id"]}
    r = await api.client.get("/v1/orders", params=foreign, headers=key1)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_cursor"
    assert {o["supplier_id"] for o in seen} == {s1}
    assert [o["order_id"] for o in seen] == [second["order_id"], parties["order1"]["order_id"]]
    named = await api.client.get("/v1/orders", params={"supplier_id": s1}, headers=key1)
    assert [o["order_id"] for o in named.json()["data"]] == [o["order_id"] for o in seen]
    other = await api.client.get("/v1/orders", params={"supplier_id": s2}, headers=key1)
    assert other.status_code == 403 and other.json()["error"]["code"] == "party_mismatch"
    everyone = await api.client.get("/v1/orders", params={"supplier_id": s2}, headers=api.supplier)
    assert [o["order_id"] for o in everyone.json()["data"]] == [parties["order2"]["order_id"]]
