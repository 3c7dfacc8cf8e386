"""A supplier key bound to a supplier quotes, accepts, repays and reads only its own advances.

Another supplier's advance is a 404 (like another tenant's); a request naming another
supplier is 403 party_mismatch, refused before any lookup; a bound key may omit supplier_id.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from shared.events import escrow as ev
from tests.integration.financing.conftest import Harness, escrow_event, feed, funded_order
from tests.support.keys import bearer, new_key

pytestmark = pytest.mark.integration


def idem(who: dict[str, str]) -> dict[str, str]:
    return {**who, "Idempotency-Key": uuid.uuid4().hex}


@pytest.fixture
async def tenant(client: httpx.AsyncClient, harness: Harness) -> dict[str, Any]:
    """A tenant of its own (default policy), with s1's and s2's orders each quoted."""
    t = f"tp-{uuid.uuid4().hex[:8]}"
    ids = harness.identity
    keys = {
        "s1": bearer(await new_key(ids, t, ["supplier"], "s1-portal", party_id="s1")),
        "s2": bearer(await new_key(ids, t, ["supplier"], "s2-portal", party_id="s2")),
        "unbound": bearer(await new_key(ids, t, ["supplier"], "legacy")),
        "platform": bearer(await new_key(ids, t, ["platform"], "platform")),
    }
    o1 = await funded_order(harness, supplier="s1", tenant=t)
    o2 = await funded_order(harness, supplier="s2", tenant=t)
    a1 = await client.post("/v1/quotes", json={"order_id": o1}, headers=idem(keys["s1"]))
    assert a1.status_code == 201, a1.text
    assert a1.json()["supplier_id"] == "s1"  # omitted: the key's party
    body = {"order_id": o2, "supplier_id": "s2"}  # naming its own party is fine too
    a2 = await client.post("/v1/quotes", json=body, headers=idem(keys["s2"]))
    assert a2.status_code == 201, a2.text
    return {
        "id": t,
        "keys": keys,
        "o1": o1,
        "o2": o2,
        "a1": a1.json()["advance_id"],
        "a2": a2.json()["advance_id"],
    }


async def test_a_bound_key_reads_and_lists_its_own_advances_only(
    client: httpx.AsyncClient, tenant: dict[str, Any]
) -> None:
    s1, a1, a2 = tenant["keys"]["s1"], tenant["a1"], tenant["a2"]
    for path in (f"/v1/advances/{a1}", f"/v1/advances/{a1}/statement"):
        mine = await client.get(path, headers=s1)
        assert mine.status_code == 200, mine.text
        assert (await client.get(path, params={"supplier_id": "s1"}, headers=s1)).status_code == 200
    for path in (f"/v1/advances/{a2}", f"/v1/advances/{a2}/statement"):
        theirs = await client.get(path, headers=s1)
        assert theirs.status_code == 404 and theirs.json()["error"]["code"] == "advance_not_found"
        unknown = await client.get(path.replace(a2, "adv_nope"), headers=s1)
        assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "advance_not_found")
        named = await client.get(path, params={"supplier_id": "s2"}, headers=s1)
        assert named.status_code == 403 and named.json()["error"]["code"] == "party_mismatch"
    listed = await client.get("/v1/advances", headers=s1)
    assert [a["advance_id"] for a in listed.json()["data"]] == [a1]
    named = await client.get("/v1/advances", params={"supplier_id": "s2"}, headers=s1)
    assert named.status_code == 403 and named.json()["error"]["code"] == "party_mismatch"
    # tenant-wide keys keep seeing every advance; an unbound supplier key still names its supplier
    everyone = await client.get("/v1/advances", headers=tenant["keys"]["platform"])
    assert {a["advance_id"] for a in everyone.json()["data"]} == {a1, a2}
    unbound = tenant["keys"]["unbound"]
    got = await client.get(f"/v1/advances/{a2}", params={"supplier_id": "s2"}, headers=unbound)
    assert got.status_code == 200
    unnamed = await client.get(f"/v1/advances/{a2}", headers=unbound)
    assert unnamed.status_code == 422 and unnamed.json()["error"]["code"] == "supplier_id_required"


async def test_a_bound_key_cannot_quote_accept_or_repay_another_suppliers(
    client: httpx.AsyncClient, harness: Harness, tenant: dict[str, Any]
) -> None:
    s1, a1, a2 = tenant["keys"]["s1"], tenant["a1"], tenant["a2"]
    # s2's order looks exactly like an order that does not exist: no not_the_supplier
    for order_id in (tenant["o2"], "ord_nope"):
        r = await client.post("/v1/quotes", json={"order_id": order_id}, headers=idem(s1))
        assert r.status_code == 422, r.text
        assert [x["code"] for x in r.json()["error"]["details"]["reasons"]] == ["order_unknown"]
    body = {"order_id": tenant["o2"], "supplier_id": "s2"}
    r = await client.post("/v1/quotes", json=body, headers=idem(s1))
    assert r.status_code == 403 and r.json()["error"]["code"] == "party_mismatch"
    for action in ("accept", "repay-early"):
        r = await client.post(f"/v1/advances/{a2}/{action}", json={}, headers=idem(s1))
        assert r.status_code == 404 and r.json()["error"]["code"] == "advance_not_found"
        r = await client.post(
            f"/v1/advances/{a2}/{action}", json={"supplier_id": "s2"}, headers=idem(s1)
        )
        assert r.status_code == 403 and r.json()["error"]["code"] == "party_mismatch"
    platform = tenant["keys"]["platform"]
    assert (await client.get(f"/v1/advances/{a2}", headers=platform)).json()["state"] == "offered"
    listed = await client.get("/v1/advances", headers=platform)
    assert len(listed.json()["data"]) == 2  # nothing was recorded for s1 on s2's order

    # ... and acts on its own without naming itself
    r = await client.post(f"/v1/advances/{a1}/accept", json={}, headers=idem(s1))
    assert r.status_code == 200 and r.json()["state"] == "accepted", r.text
    amount = r.json()["principal"]
    lien = ev.LienPlaced(order_id=tenant["o1"], advance_id=a1, amount=amount, currency="USD")
    await feed(harness, escrow_event(lien, tenant["o1"], tenant["id"]))
    r = await client.post(f"/v1/advances/{a1}/repay-early", json={}, headers=idem(s1))
    assert r.status_code == 200, r.text
    assert (r.json()["state"], r.json()["balance"]) == ("repaid", 0)
