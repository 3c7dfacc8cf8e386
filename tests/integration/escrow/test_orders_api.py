"""Orders over HTTP: create, read, list with filters and cursors, tenancy, scopes, idempotency."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from tests.integration.escrow.conftest import Api, order_body
from tests.support.keys import bearer, new_key

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
    seen, cursor, pages = [], None, []
    while True:
        params = {"buyer_id": buyer, "limit": 2, **({"starting_after": cursor} if cursor else {})}
        page = (await api.client.get("/v1/orders", params=params, headers=api.finance)).json()
        assert page["object"] == "list" and page["url"] == "/v1/orders"
        seen += [o["order_id"] for o in page["data"]]
        pages.append(page["has_more"])
        if not page["has_more"]:
            break
        cursor = page["data"][-1]["order_id"]
    assert seen == list(reversed(ids)) and pages == [True, True, False]
    none = await api.client.get(
        "/v1/orders", params={"buyer_id": buyer, "status": "completed"}, headers=api.finance
    )
    assert none.json()["data"] == []
    theirs = await api.client.get(
        "/v1/orders", params={"buyer_id": buyer}, headers=api.other_tenant
    )
    assert theirs.json()["data"] == []


async def test_a_cursor_must_be_an_order_the_caller_may_list(api: Api) -> None:
    """Another tenant's order id as ``starting_after`` is answered as an unknown id (400
    invalid_cursor): a 404 or a page after it would tell that it exists."""
    mine = (await api.post("/v1/orders", order_body(), api.platform)).json()["order_id"]
    theirs = (await api.post("/v1/orders", order_body(), api.other_tenant)).json()
    for cursor in (theirs["order_id"], "ord_never_made"):
        r = await api.client.get(
            "/v1/orders", params={"starting_after": cursor}, headers=api.platform
        )
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_cursor", r.text
    ok = await api.client.get("/v1/orders", params={"starting_after": mine}, headers=api.platform)
    assert ok.status_code == 200
    for limit in (0, 101):
        r = await api.client.get("/v1/orders", params={"limit": limit}, headers=api.platform)
        assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"


async def test_metadata_and_external_reference_set_patched_and_filtered(api: Api) -> None:
    ref = f"PO-{uuid.uuid4().hex[:8]}"
    body = {**order_body(), "metadata": {"erp": "A-1", "region": "emea"}, "external_reference": ref}
    r = await api.post("/v1/orders", body, api.platform)
    assert r.status_code == 201, r.text
    order = r.json()
    assert order["metadata"] == {"erp": "A-1", "region": "emea"}
    assert order["external_reference"] == ref
    found = await api.client.get(
        "/v1/orders", params={"external_reference": ref}, headers=api.platform
    )
    assert [o["order_id"] for o in found.json()["data"]] == [order["order_id"]]
    assert (
        await api.client.get(
            "/v1/orders", params={"external_reference": ref}, headers=api.other_tenant
        )
    ).json()["data"] == []

    url = f"/v1/orders/{order['order_id']}"
    r = await api.client.patch(
        url, json={"metadata": {"region": "", "tier": "gold"}}, headers=api.platform
    )
    assert r.status_code == 200, r.text
    assert r.json()["metadata"] == {"erp": "A-1", "tier": "gold"}
    assert r.json()["external_reference"] == ref  # absent: left as it is
    got = (await api.client.get(url, headers=api.finance)).json()
    assert got["metadata"] == {"erp": "A-1", "tier": "gold"}
    r = await api.client.patch(url, json={"external_reference": None}, headers=api.platform)
    assert r.json()["external_reference"] is None
    gone = await api.client.get(
        "/v1/orders", params={"external_reference": ref}, headers=api.platform
    )
    assert gone.json()["data"] == []
    r = await api.client.patch(url, json={"metadata": {}}, headers=api.other_tenant)
    assert r.status_code == 404 and r.json()["error"]["code"] == "order_not_found"
    r = await api.client.patch(url, json={"total": 1}, headers=api.platform)
    assert r.status_code == 422  # only the platform's own data changes


async def test_a_duplicate_external_reference_is_a_409_and_changes_nothing(api: Api) -> None:
    ref = f"PO-{uuid.uuid4().hex[:8]}"
    first = await api.post("/v1/orders", {**order_body(), "external_reference": ref}, api.platform)
    assert first.status_code == 201
    dup = await api.post("/v1/orders", {**order_body(), "external_reference": ref}, api.platform)
    assert dup.status_code == 409 and dup.json()["error"]["code"] == "duplicate_external_reference"
    other = await api.post("/v1/orders", order_body(), api.platform)
    url = f"/v1/orders/{other.json()['order_id']}"
    r = await api.client.patch(
        url, json={"external_reference": ref, "metadata": {"k": "v"}}, headers=api.platform
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "duplicate_external_reference"
    got = (await api.client.get(url, headers=api.platform)).json()
    assert got["metadata"] == {} and got["external_reference"] is None


@pytest.mark.parametrize(
    "metadata",
    [
        {f"k{i}": "v" for i in range(51)},
        {"k" * 41: "v"},
        {"k": "v" * 501},
        {"k": 5},
        {"k": None},
        ["k"],
    ],
)
async def test_metadata_beyond_stripes_limits_is_a_typed_400(api: Api, metadata: object) -> None:
    r = await api.post("/v1/orders", {**order_body(), "metadata": metadata}, api.platform)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_metadata", r.text


async def test_metadata_at_stripes_limits_is_taken(api: Api) -> None:
    metadata = {f"{i:02}" + "k" * 38: "v" * 500 for i in range(50)}
    r = await api.post("/v1/orders", {**order_body(), "metadata": metadata}, api.platform)
    assert r.status_code == 201 and r.json()["metadata"] == metadata
    url = f"/v1/orders/{r.json()['order_id']}"
    r = await api.client.patch(url, json={"metadata": {"one_more": "v"}}, headers=api.platform)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_metadata"


async def test_a_schedule_in_percentages_is_split_to_the_cent(api: Api) -> None:
    body = {
        **order_body(),
        "total": 100_001,
        "milestones": [
            {"name": "deposit", "percent_bps": 3_000, "kind": "contract"},
            {"name": "ship", "percent_bps": 4_000, "kind": "shipment"},
            {"name": "inspect", "percent_bps": 3_000, "kind": "inspection"},
        ],
    }
    r = await api.post("/v1/orders", body, api.platform)
    assert r.status_code == 201, r.text
    assert [m["amount"] for m in r.json()["milestones"]] == [30_000, 40_001, 30_000]
    mixed = {
        **body,
        "milestones": [
            {**body["milestones"][0]},
            {"name": "rest", "amount": 70_001, "kind": "shipment"},
        ],
    }
    r = await api.post("/v1/orders", mixed, api.platform)
    assert r.status_code == 400 and r.json()["error"]["code"] == "mixed_milestone_schedule"
    short = {**body, "milestones": body["milestones"][:2]}
    r = await api.post("/v1/orders", short, api.platform)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_milestone_percentages"


async def test_the_timeline_pages_oldest_first(api: Api) -> None:
    order = (await api.post("/v1/orders", order_body(), api.platform)).json()
    url = f"/v1/orders/{order['order_id']}/timeline"
    await api.post(f"/v1/orders/{order['order_id']}/cancel", {"reason": "x"}, api.platform)
    whole = (await api.client.get(url, headers=api.platform)).json()
    types = [e["type"] for e in whole["data"]]
    assert types[0] == "escrow.order_created" and len(types) >= 2 and not whole["has_more"]
    first = (await api.client.get(url, params={"limit": 1}, headers=api.platform)).json()
    assert [e["type"] for e in first["data"]] == types[:1] and first["has_more"]
    rest = (
        await api.client.get(
            url, params={"starting_after": first["data"][0]["id"]}, headers=api.platform
        )
    ).json()
    assert [e["type"] for e in rest["data"]] == types[1:]
    r = await api.client.get(url, params={"starting_after": "not-a-uuid"}, headers=api.platform)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_cursor"


async def test_orders_filtered_by_currency_before_paging(api: Api) -> None:
    buyer = f"buyer-{uuid.uuid4().hex[:8]}"  # this test's own orders in the shared tenant
    made: dict[str, list[str]] = {"EUR": [], "JPY": []}
    for currency in ("EUR", "JPY", "EUR", "JPY", "EUR"):
        body = {**order_body(currency=currency), "buyer_id": buyer}
        r = await api.post("/v1/orders", body, api.platform)
        assert r.status_code == 201, r.text
        made[currency].insert(0, r.json()["order_id"])  # newest first

    async def listed(**params: str) -> list[str]:
        ids: list[str] = []
        query: dict[str, str | int] = {"buyer_id": buyer, "limit": 1, **params}
        while True:
            r = await api.client.get("/v1/orders", params=query, headers=api.platform)
            assert r.status_code == 200, r.text
            page = r.json()
            ids += [o["order_id"] for o in page["data"]]
            if not page["has_more"]:
                return ids
            query["starting_after"] = ids[-1]

    assert await listed(currency="EUR") == made["EUR"]  # pages of one, EUR only
    assert await listed(currency="JPY") == made["JPY"]
    assert await listed(currency="KWD") == []
    for bad in ("usd", "XXX1", ""):
        r = await api.client.get("/v1/orders", params={"currency": bad}, headers=api.platform)
        assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error", bad


async def test_a_create_reads_the_tenants_policies_in_one_statement(api: Api) -> None:
    """Fees, FX settings and dispute deadlines are read together, not one round trip each:
    a create's statements are its cost (docs/performance.md)."""
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    engine = api.container.runtime.engine.sync_engine
    sa.event.listen(engine, "before_cursor_execute", seen)
    try:
        r = await api.post("/v1/orders", order_body(), api.platform)
    finally:
        sa.event.remove(engine, "before_cursor_execute", seen)
    assert r.status_code == 201, r.text
    policies = [s for s in statements if "fee_policies" in s or "escrow_fx_settings" in s]
    assert len(policies) == 1 and "escrow_tenant_settings" in policies[0], statements


async def test_a_create_copies_the_policies_its_tenant_set(api: Api) -> None:
    """The one statement reads each policy the tenant set (a fresh tenant: the fixture's
    keeps the defaults), and the defaults where it set none."""
    tenant = f"t-{uuid.uuid4().hex[:6]}"
    finance = bearer(await new_key(api.identity, tenant, ["finance"], f"{tenant}-finance"))
    platform = bearer(await new_key(api.identity, tenant, ["platform"], f"{tenant}-platform"))
    fresh = (await api.post("/v1/orders", order_body(), platform)).json()
    assert (fresh["platform_fee_bps"], fresh["platform_fee_fixed"], fresh["fx_policy"]) == (
        100,
        0,
        "order",
    )
    for path, body in (
        ("/v1/fee-policy", {"basis_points": 250, "fixed_fees": {"USD": 30}}),
        ("/v1/fx/settings", {"markup_bps": 10, "policy": "milestone", "quote_ttl_seconds": 60}),
        ("/v1/tenant-settings/dispute-deadlines", {"negotiation_seconds": 7_200}),
    ):
        r = await api.client.put(
            path, json=body, headers={**finance, "Idempotency-Key": str(uuid.uuid4())}
        )
        assert r.status_code == 200, r.text
    order = (await api.post("/v1/orders", order_body(), platform)).json()
    assert (order["platform_fee_bps"], order["platform_fee_fixed"], order["fx_policy"]) == (
        250,
        30,
        "milestone",
    )
    async with api.container.unit_of_work() as uow:
        escrow = await uow.escrows.get(order["order_id"])
    assert escrow is not None and escrow.dispute_terms.negotiation_seconds == 7_200
