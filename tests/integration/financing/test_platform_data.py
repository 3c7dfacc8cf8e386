"""Advances' metadata and external_reference, and GET /v1/advances in cursor pages."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.integration.financing.conftest import Harness, funded_order

pytestmark = pytest.mark.integration


def idem() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


async def quote(client: httpx.AsyncClient, h: Harness, **extra: object) -> httpx.Response:
    oid = await funded_order(h)
    body = {"order_id": oid, "supplier_id": "s1", "amount": 1_000_000, **extra}
    return await client.post("/v1/quotes", json=body, headers={**h.keys["t1-supplier"], **idem()})


async def patch(
    client: httpx.AsyncClient, h: Harness, advance_id: str, body: dict[str, object], who: str
) -> httpx.Response:
    return await client.patch(f"/v1/advances/{advance_id}", json=body, headers=h.keys[who])


async def test_a_quote_keeps_the_platforms_data_and_patch_merges_it(
    client: httpx.AsyncClient, harness: Harness
) -> None:
    ref = f"ADV-{uuid.uuid4().hex[:8]}"
    r = await quote(
        client, harness, metadata={"book": "q4", "desk": "emea"}, external_reference=ref
    )
    assert r.status_code == 201, r.text
    advance = r.json()
    assert advance["metadata"] == {"book": "q4", "desk": "emea"}
    assert advance["external_reference"] == ref
    aid = advance["advance_id"]
    r = await patch(client, harness, aid, {"metadata": {"desk": "", "risk": "low"}}, "t1-finance")
    assert r.status_code == 200, r.text
    assert r.json()["metadata"] == {"book": "q4", "risk": "low"} and r.json()["state"] == "offered"
    found = await client.get(
        "/v1/advances", params={"external_reference": ref}, headers=harness.keys["t1-platform"]
    )
    assert [a["advance_id"] for a in found.json()["data"]] == [aid]
    r = await patch(client, harness, aid, {"external_reference": None}, "t1-platform")
    assert r.json()["external_reference"] is None and r.json()["metadata"]["risk"] == "low"
    r = await patch(client, harness, aid, {"metadata": {"k": "v"}}, "t2-finance")
    assert r.status_code == 404 and r.json()["error"]["code"] == "advance_not_found"
    r = await patch(
        client, harness, aid, {"metadata": {"k": "v"}, "supplier_id": "s2"}, "t1-supplier"
    )
    assert r.status_code == 404  # another supplier's advance is none of this one's


async def test_a_duplicate_reference_is_a_409_and_bad_metadata_a_typed_400(
    client: httpx.AsyncClient, harness: Harness
) -> None:
    ref = f"ADV-{uuid.uuid4().hex[:8]}"
    assert (await quote(client, harness, external_reference=ref)).status_code == 201
    dup = await quote(client, harness, external_reference=ref)
    assert dup.status_code == 409 and dup.json()["error"]["code"] == "duplicate_external_reference"
    other = (await quote(client, harness)).json()
    r = await patch(
        client, harness, other["advance_id"], {"external_reference": ref, "metadata": {"a": "b"}},
        "t1-finance",
    )  # fmt: skip
    assert r.status_code == 409 and r.json()["error"]["code"] == "duplicate_external_reference"
    got = await client.get(
        f"/v1/advances/{other['advance_id']}", headers=harness.keys["t1-finance"]
    )
    assert got.json()["metadata"] == {} and got.json()["external_reference"] is None
    for bad in ({"k" * 41: "v"}, {"k": 1}, {f"k{i}": "v" for i in range(51)}):
        r = await quote(client, harness, metadata=bad)
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_metadata", r.text


async def test_advances_list_in_pages_and_a_foreign_cursor_is_refused(
    client: httpx.AsyncClient, harness: Harness
) -> None:
    made = [(await quote(client, harness)).json()["advance_id"] for _ in range(3)]
    platform = harness.keys["t1-platform"]
    seen, cursor, more = [], None, []
    while True:
        params = {"limit": 2, **({"starting_after": cursor} if cursor else {})}
        page = (await client.get("/v1/advances", params=params, headers=platform)).json()
        assert page["object"] == "list" and page["url"] == "/v1/advances"
        seen += [a["advance_id"] for a in page["data"]]
        more.append(page["has_more"])
        if not page["has_more"]:
            break
        cursor = page["data"][-1]["advance_id"]
    assert seen[:3] == made[::-1] and len(seen) == len(set(seen)) and more[0] is True
    r = await client.get(
        "/v1/advances", params={"starting_after": made[0]}, headers=harness.keys["t2-platform"]
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_cursor"
