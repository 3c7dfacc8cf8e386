"""The /v1 API on real PostgreSQL: scopes, tenants, idempotency, quotes, policy, expiry."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
import pytest
import sqlalchemy as sa

from services.financing.adapters.tables import advance_history
from services.financing.bootstrap import timers
from shared.db import outbox
from shared.timers import TimerWorker
from tests.integration.financing.conftest import Harness, funded_order
from tests.support.keys import new_key

pytestmark = pytest.mark.integration


def idem() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


async def post(
    client: httpx.AsyncClient, h: Harness, who: str, path: str, body: dict
) -> httpx.Response:
    return await client.post(path, json=body, headers={**h.keys[who], **idem()})


async def test_quote_sizes_80_percent_and_shows_fee_and_apr(
    client: httpx.AsyncClient, harness: Harness
) -> None:
    oid = await funded_order(harness)
    r = await post(
        client, harness, "t1-supplier", "/v1/quotes", {"order_id": oid, "supplier_id": "s1"}
    )
    assert r.status_code == 201, r.text
    offer = r.json()
    # financeable: 70,000.00 held less 1 % platform fee on both releases = 69,300.00; 80 %:
    assert offer["principal"] == 5_544_000 and offer["state"] == "offered"
    # repaid by the inspection release, expected day 70 -> 60 days from day 10
    assert offer["term_days"] == 60
    assert offer["fee"] == 166_320 and offer["net"] == 5_377_680
    assert offer["apr"] == "0.188144" and offer["daily_fee_rate"] == "0.0005"


async def test_refusal_is_typed_recorded_and_lists_reasons(
    client: httpx.AsyncClient, harness: Harness
) -> None:
    oid = await funded_order(harness)
    body = {"order_id": oid, "supplier_id": "s1", "amount": 6_000_000}
    r = await post(client, harness, "t1-supplier", "/v1/quotes", body)
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["code"] == "advance_refused"
    assert err["details"]["reasons"] == [
        {
            "code": "advance_rate",
            "message": "advance rate leaves 5544000 available",
            "available": 5_544_000,
        }
    ]
    got = await client.get(
        f"/v1/advances/{err['details']['advance_id']}", headers=harness.keys["t1-platform"]
    )
    assert got.json()["state"] == "rejected" and got.json()["reasons"] == ["advance_rate"]
    r = await post(
        client, harness, "t1-supplier", "/v1/quotes", {"order_id": "nope", "supplier_id": "s1"}
    )
    assert r.json()["error"]["details"]["reasons"][0]["code"] == "order_unknown"


async def test_writes_take_an_idempotency_key_and_replay(
    client: httpx.AsyncClient, harness: Harness
) -> None:
    oid = await funded_order(harness)
    body = {"order_id": oid, "supplier_id": "s1", "amount": 1_000_000}
    headers = {**harness.keys["t1-supplier"], "Idempotency-Key": uuid.uuid4().hex}
    first = await client.post("/v1/quotes", json=body, headers=headers)
    again = await client.post("/v1/quotes", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["advance_id"] == first.json()["advance_id"]
    other = await client.post("/v1/quotes", json={**body, "amount": 2_000_000}, headers=headers)
    assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_reused"


async def test_tenants_scopes_and_suppliers_are_isolated(
    client: httpx.AsyncClient, harness: Harness
) -> None:
    oid = await funded_order(harness)
    r = await post(
        client, harness, "t1-supplier", "/v1/quotes", {"order_id": oid, "supplier_id": "s1"}
    )
    aid = r.json()["advance_id"]
    assert (
        await client.get(f"/v1/advances/{aid}", headers=harness.keys["t2-platform"])
    ).status_code == 404
    mine = await client.get(
        f"/v1/advances/{aid}?supplier_id=s1", headers=harness.keys["t1-supplier"]
    )
    assert mine.status_code == 200
    theirs = await client.get(
        f"/v1/advances/{aid}?supplier_id=s2", headers=harness.keys["t1-supplier"]
    )
    assert theirs.status_code == 404 and theirs.json()["error"]["code"] == "advance_not_found"
    listed = await client.get("/v1/advances?supplier_id=s1", headers=harness.keys["t1-supplier"])
    assert aid in [a["advance_id"] for a in listed.json()["data"]]
    assert {a["supplier_id"] for a in listed.json()["data"]} == {"s1"}
    forbidden = await post(
        client, harness, "t1-supplier", f"/v1/advances/{aid}/default", {"reason": "x"}
    )
    assert (
        forbidden.status_code == 403 and forbidden.json()["error"]["code"] == "insufficient_scope"
    )
    stolen = await post(
        client, harness, "t2-supplier", f"/v1/advances/{aid}/accept", {"supplier_id": "s1"}
    )
    assert stolen.status_code == 404
    wrong_supplier = await post(
        client, harness, "t1-supplier", "/v1/quotes", {"order_id": oid, "supplier_id": "s9"}
    )
    assert [x["code"] for x in wrong_supplier.json()["error"]["details"]["reasons"]] == [
        "not_the_supplier"
    ]


async def test_accept_requests_a_lien_keyed_by_order_and_records_the_actor(
    client: httpx.AsyncClient, harness: Harness
) -> None:
    oid = await funded_order(harness)
    aid = (
        await post(
            client, harness, "t1-supplier", "/v1/quotes", {"order_id": oid, "supplier_id": "s1"}
        )
    ).json()["advance_id"]
    r = await post(
        client, harness, "t1-supplier", f"/v1/advances/{aid}/accept", {"supplier_id": "s1"}
    )
    assert r.status_code == 200 and r.json()["state"] == "accepted"
    again = await post(
        client, harness, "t1-supplier", f"/v1/advances/{aid}/accept", {"supplier_id": "s1"}
    )
    assert again.status_code == 409 and again.json()["error"]["code"] == "offer_not_open"
    second = await post(
        client, harness, "t1-supplier", "/v1/quotes", {"order_id": oid, "supplier_id": "s1"}
    )
    assert second.json()["error"]["details"]["reasons"][0]["code"] == "advance_exists"
    async with harness.engine.connect() as conn:
        lien = (
            await conn.execute(
                sa.select(outbox.c.key, outbox.c.envelope).where(
                    outbox.c.envelope["type"].astext == "financing.lien_requested",
                    outbox.c.envelope["data"]["advance_id"].astext == aid,
                )
            )
        ).one()
        actors = (
            await conn.execute(
                sa.select(advance_history.c.event_type, advance_history.c.actor)
                .where(advance_history.c.advance_id == aid)
                .order_by(advance_history.c.id)
            )
        ).all()
    assert lien.key == oid and lien.envelope["data"]["amount"] == 5_544_000
    assert [tuple(a) for a in actors] == [
        ("financing.advance_offered", "apikey:t1-supplier"),
        ("financing.advance_state_changed", "apikey:t1-supplier"),
        ("financing.lien_requested", "apikey:t1-supplier"),
    ]


async def test_finance_sets_policy_and_its_limits_bind(
    client: httpx.AsyncClient, harness: Harness
) -> None:
    body = {"advance_rate_bps": 7_000, "daily_fee_rate": "0.0004", "supplier_limit": 3_000_000}
    r = await client.put(
        "/v1/policies/USD", json=body, headers={**harness.keys["t2-finance"], **idem()}
    )
    assert r.status_code == 200, r.text
    floats = await client.put(
        "/v1/policies/USD",
        json={**body, "daily_fee_rate": 0.0004},
        headers={**harness.keys["t2-finance"], **idem()},
    )
    assert floats.status_code == 422
    got = await client.get("/v1/policies/USD", headers=harness.keys["t2-platform"])
    assert got.json()["daily_fee_rate"] == "0.0004" and got.json()["supplier_limit"] == 3_000_000
    oid = await funded_order(harness, tenant="t2")
    r = await post(
        client, harness, "t2-supplier", "/v1/quotes", {"order_id": oid, "supplier_id": "s1"}
    )
    assert r.json()["principal"] == 3_000_000  # 70 % would be 4,851,000: the limit binds
    r = await post(
        client,
        harness,
        "t2-supplier",
        "/v1/quotes",
        {"order_id": oid, "supplier_id": "s1", "amount": 3_000_001},
    )
    assert [x["code"] for x in r.json()["error"]["details"]["reasons"]] == ["supplier_limit"]


async def test_offers_expire_on_their_durable_timer(
    client: httpx.AsyncClient, harness: Harness
) -> None:
    oid = await funded_order(harness)
    aid = (
        await post(
            client, harness, "t1-supplier", "/v1/quotes", {"order_id": oid, "supplier_id": "s1"}
        )
    ).json()["advance_id"]
    worker = TimerWorker(harness.engine, timers(harness.container), clock=harness.clock)
    harness.clock.advance(timedelta(hours=23))
    await worker.fire_due()
    assert (await client.get(f"/v1/advances/{aid}", headers=harness.keys["t1-platform"])).json()[
        "state"
    ] == "offered"
    harness.clock.advance(timedelta(hours=1))
    await worker.fire_due()
    assert (await client.get(f"/v1/advances/{aid}", headers=harness.keys["t1-platform"])).json()[
        "state"
    ] == "expired"
    late = await post(
        client, harness, "t1-supplier", f"/v1/advances/{aid}/accept", {"supplier_id": "s1"}
    )
    assert late.status_code == 409 and late.json()["error"]["code"] == "offer_not_open"


async def test_an_offer_past_its_expiry_is_refused_even_before_the_timer_fires(
    client: httpx.AsyncClient, harness: Harness
) -> None:
    oid = await funded_order(harness)
    aid = (
        await post(
            client, harness, "t1-supplier", "/v1/quotes", {"order_id": oid, "supplier_id": "s1"}
        )
    ).json()["advance_id"]
    harness.clock.advance(timedelta(hours=25))  # the expiry timer has not run yet
    late = await post(
        client, harness, "t1-supplier", f"/v1/advances/{aid}/accept", {"supplier_id": "s1"}
    )
    assert late.status_code == 409 and late.json()["error"]["code"] == "offer_not_open"
    got = await client.get(f"/v1/advances/{aid}", headers=harness.keys["t1-platform"])
    assert got.json()["state"] in ("offered", "expired")
    async with harness.engine.connect() as conn:
        liens = await conn.scalar(
            sa.select(sa.func.count()).where(
                outbox.c.envelope["type"].astext == "financing.lien_requested",
                outbox.c.envelope["data"]["advance_id"].astext == aid,
            )
        )
    assert liens == 0


async def test_a_policy_for_a_malformed_or_unknown_currency_is_refused(
    client: httpx.AsyncClient, harness: Harness
) -> None:
    for currency in ("usd", "XXX", "DOLLARS"):
        r = await client.put(
            f"/v1/policies/{currency}",
            json={"advance_rate_bps": 7_000},
            headers={**harness.keys["t1-finance"], **idem()},
        )
        assert r.status_code == 422, (currency, r.text)
        assert r.json()["error"]["code"] == "invalid_policy"


async def test_a_policy_overriding_some_milestone_days_keeps_the_others(
    client: httpx.AsyncClient, harness: Harness
) -> None:
    tenant = f"tp-{uuid.uuid4().hex[:8]}"
    fin = await new_key(harness.identity, tenant, ["finance"], "fin")
    sup = await new_key(harness.identity, tenant, ["supplier"], "sup")
    r = await client.put(
        "/v1/policies/USD",
        json={"days_by_kind": {"shipment": 20}},
        headers={"Authorization": f"Bearer {fin}", **idem()},
    )
    assert r.status_code == 200, r.text
    assert (
        r.json()["days_by_kind"]["inspection"] == 65 and r.json()["days_by_kind"]["shipment"] == 20
    )
    oid = await funded_order(harness, tenant=tenant)
    offer = await client.post(
        "/v1/quotes",
        json={"order_id": oid, "supplier_id": "s1"},
        headers={"Authorization": f"Bearer {sup}", **idem()},
    )
    # 55,440.00 needs the inspection release: still expected on day 65 + 5, 60 days from 10
    assert offer.json()["term_days"] == 60, offer.text


@pytest.mark.parametrize(
    "body",
    [
        {"daily_fee_rate": "0.000123456789"},  # finer than the stored 8 places: silently rounded
        {"days_by_kind": {"inspection": 10_000_000}},  # dates past year 9999 at quote time
        {"offer_ttl_seconds": 3_000_000_000},  # beyond the column
    ],
)
async def test_a_policy_the_service_cannot_keep_or_use_is_refused(
    client: httpx.AsyncClient, harness: Harness, body: dict
) -> None:
    r = await client.put(
        "/v1/policies/EUR", json=body, headers={**harness.keys["t1-finance"], **idem()}
    )
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] in ("invalid_policy", "validation_error")
    got = await client.get("/v1/policies/EUR", headers=harness.keys["t1-finance"])
    assert got.json()["daily_fee_rate"] == "0.0005"  # nothing stored


async def test_an_orders_headroom_is_read_without_quoting(
    client: httpx.AsyncClient, harness: Harness
) -> None:
    oid = await funded_order(harness)
    url = f"/v1/orders/{oid}/headroom"
    listed = await client.get("/v1/advances", params={"supplier_id": "s1", "limit": 100},
                              headers=harness.keys["t1-supplier"])  # fmt: skip
    r = await client.get(url, params={"supplier_id": "s1"}, headers=harness.keys["t1-supplier"])
    assert r.status_code == 200, r.text
    room = r.json()
    # 80 % of 69,300.00 financeable: what a quote offers (test_quote_sizes_80_percent...).
    assert room["financeable"] == 6_930_000 and room["available"] == 5_544_000
    assert room["binding"] == "advance_rate" and room["reasons"] == []
    assert room["caps"][0] == {"code": "advance_rate", "available": 5_544_000}
    assert room["currency"] == "USD" and room["supplier_id"] == "s1"
    again = await client.get("/v1/advances", params={"supplier_id": "s1", "limit": 100},
                             headers=harness.keys["t1-supplier"])  # fmt: skip
    assert again.json()["data"] == listed.json()["data"]  # nothing was quoted or recorded
    # Finance reads it too, sized for the order's own supplier.
    fin = (await client.get(url, headers=harness.keys["t1-finance"])).json()
    assert fin["available"] == 5_544_000 and fin["supplier_id"] == "s1"
    # Another supplier named: none can be made, and it says why.
    other = await client.get(url, params={"supplier_id": "s2"}, headers=harness.keys["t1-finance"])
    assert other.json()["available"] == 0
    assert [x["code"] for x in other.json()["reasons"]] == ["not_the_supplier"]
    # Another tenant's key, an order financing does not hold: 404.
    theirs = await client.get(
        url, params={"supplier_id": "s1"}, headers=harness.keys["t2-supplier"]
    )
    assert theirs.status_code == 404 and theirs.json()["error"]["code"] == "order_not_found"
    unknown = await client.get("/v1/orders/ord_never/headroom", headers=harness.keys["t1-finance"])
    assert unknown.status_code == 404
    # Once an advance is live on the order, nothing more can be advanced on it.
    aid = (await post(client, harness, "t1-supplier", "/v1/quotes",
                      {"order_id": oid, "supplier_id": "s1"})).json()["advance_id"]  # fmt: skip
    offered = (await client.get(url, headers=harness.keys["t1-finance"])).json()
    assert offered["available"] == 5_544_000  # an offer is not yet an advance
    accepted = await post(client, harness, "t1-supplier", f"/v1/advances/{aid}/accept",
                          {"supplier_id": "s1"})  # fmt: skip
    assert accepted.status_code == 200, accepted.text
    live = (await client.get(url, headers=harness.keys["t1-finance"])).json()
    assert live["available"] == 0 and live["binding"] is None
    assert [x["code"] for x in live["reasons"]] == ["advance_exists"]
