"""GET /v1/escrow/held?as_of=: what escrow held per order at a moment, and the money taken
in through Stripe by then (the escrow leg of the ledger's three-way check)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.integration.escrow.conftest import Api, order_body, pi_event

pytestmark = pytest.mark.integration


async def held(api: Api, order_id: str, **params: str) -> dict[str, Any] | None:
    r = await api.client.get("/v1/escrow/held", params=params, headers=api.finance)
    assert r.status_code == 200, r.text
    return next((o for o in r.json()["orders"] if o["order_id"] == order_id), None)


async def test_held_and_collected_as_of_any_moment(api: Api) -> None:
    order = (await api.post("/v1/orders", order_body(), api.platform)).json()
    oid = order["order_id"]
    before = api.clock.now()
    first = (await api.post(f"/v1/orders/{oid}/fund", {"amount": 40_000}, api.platform)).json()
    await api.webhook(pi_event("payment_intent.succeeded", order, first))
    api.clock.advance(timedelta(hours=1))
    mid = api.clock.now()
    await api.post(
        f"/v1/orders/{oid}/wire-confirmations", {"amount": 60_000, "reference": f"w{oid}"},
        api.finance,
    )  # fmt: skip
    api.clock.advance(timedelta(hours=1))
    r = await api.post(f"/v1/orders/{oid}/cancel", {"reason": "the buyer withdrew"}, api.finance)
    assert r.status_code == 200, r.text

    assert await held(api, oid, as_of=(before - timedelta(seconds=1)).isoformat()) is None
    assert await held(api, oid, as_of=(mid - timedelta(seconds=1)).isoformat()) == {
        "order_id": oid, "currency": "USD", "held": 40_000, "collected": 40_000,
    }  # fmt: skip
    assert (await held(api, oid, as_of=mid.isoformat()) or {}).get("held") == 100_000
    # the card payment went back through Stripe, the wire offline: nothing collected is left
    assert await held(api, oid) == {"order_id": oid, "currency": "USD", "held": 0, "collected": 0}


async def test_held_is_the_tenants_and_finance_only(api: Api) -> None:
    r = await api.client.get("/v1/escrow/held", headers=api.platform)
    assert r.status_code == 403
    order = (await api.post("/v1/orders", order_body(), api.platform)).json()
    await api.post(
        f"/v1/orders/{order['order_id']}/wire-confirmations",
        {"amount": 100_000, "reference": f"w{order['order_id']}"}, api.finance,
    )  # fmt: skip
    theirs = await api.client.get("/v1/escrow/held", headers=api.other_tenant)
    assert all(o["order_id"] != order["order_id"] for o in theirs.json()["orders"])


async def test_the_ledger_reads_it_with_the_callers_key(api: Api) -> None:
    """The ledger's escrow source (services/ledger/adapters/escrow_source.py) on this API."""
    from services.ledger.adapters.escrow_source import EscrowHeldApi
    from services.ledger.domain.recon import EscrowHeld
    from services.ledger.service_layer.errors import EscrowUnreadable

    order = (await api.post("/v1/orders", order_body(), api.platform)).json()
    await api.post(
        f"/v1/orders/{order['order_id']}/wire-confirmations",
        {"amount": 100_000, "reference": f"w{order['order_id']}"}, api.finance,
    )  # fmt: skip
    source = EscrowHeldApi("http://escrow", client=api.client)
    token = api.finance["Authorization"].partition(" ")[2]
    found = await source.held(token, api.clock.now())
    assert EscrowHeld(order["order_id"], "USD", 100_000, 0) in found
    with pytest.raises(EscrowUnreadable):
        await source.held(api.platform["Authorization"].partition(" ")[2], api.clock.now())
