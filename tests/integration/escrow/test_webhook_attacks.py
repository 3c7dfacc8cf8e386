"""Attacks on POST /v1/webhooks/stripe, and Stripe's own habits, on the real stack.

What Stripe documents: the ``Stripe-Signature`` header is ``t=<unix time>,v1=<hex
HMAC-SHA256 of "t.payload" under the endpoint secret>``; the tolerance is 300 s; an event
not acknowledged with a 2xx is retried for up to 3 days; events come in no guaranteed order.

Every case ends one of two ways: refused with a typed 4xx (nothing changed and the event id
not claimed, so Stripe's genuine delivery or retry still applies), or absorbed with a 2xx
(nothing applied twice). Never a 5xx, never a second effect. Effects are read from the
escrow, its timeline and the outbox (one ``escrow.funded`` per real payment).
"""

from __future__ import annotations

import asyncio
import copy
import json
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from services.escrow.adapters.tables import stripe_events, timeline
from shared.db import outbox
from tests.integration.escrow.conftest import Api, order_body, pi_event

pytestmark = pytest.mark.integration
WEBHOOK = "/v1/webhooks/stripe"
Order = dict[str, Any]


async def new_order(api: Api, who: dict[str, str] | None = None) -> Order:
    r = await api.post("/v1/orders", order_body(), who or api.platform)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def fund(
    api: Api, order: Order, amount: int | None = None, who: dict[str, str] | None = None
) -> dict[str, Any]:
    body = {"amount": amount} if amount else {}
    r = await api.post(f"/v1/orders/{order['order_id']}/fund", body, who or api.platform)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def funded_order(api: Api) -> tuple[Order, dict[str, Any]]:
    order = await new_order(api)
    funding = await fund(api, order)
    assert (await api.webhook(pi_event("payment_intent.succeeded", order, funding))).json()[
        "handled"
    ]
    return order, funding


async def state(api: Api, order: Order, who: dict[str, str] | None = None) -> dict[str, Any]:
    r = await api.client.get(f"/v1/orders/{order['order_id']}", headers=who or api.finance)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def outbox_types(api: Api, order: Order) -> Counter[str]:
    async with api.engine.connect() as conn:
        rows = await conn.execute(
            sa.select(outbox.c.envelope["type"].astext).where(outbox.c.key == order["order_id"])
        )
        return Counter(rows.scalars())


async def timeline_types(api: Api, order: Order) -> Counter[str]:
    async with api.engine.connect() as conn:
        rows = await conn.execute(
            sa.select(timeline.c.event_type).where(timeline.c.order_id == order["order_id"])
        )
        return Counter(rows.scalars())


async def claimed(api: Api, event_id: Any) -> bool:
    if not isinstance(event_id, str):
        return False
    async with api.engine.connect() as conn:
        found = await conn.execute(
            sa.select(stripe_events.c.event_id).where(stripe_events.c.event_id == event_id)
        )
        return found.first() is not None


def charge_event(kind: str, funding: dict[str, Any], **obj: Any) -> dict[str, Any]:
    """A Stripe charge.* event (a charge, or a dispute) on a PaymentIntent of POST /fund."""
    base: dict[str, Any] = {
        "id": f"ch_{uuid.uuid4().hex[:12]}",
        "object": "dispute" if kind.startswith("charge.dispute") else "charge",
        "currency": funding["currency"].lower(),
        "payment_intent": funding["stripe_payment_intent_id"],
        "metadata": {},
    }
    return {
        "id": f"evt_{uuid.uuid4().hex}",
        "object": "event",
        "type": kind,
        "data": {"object": {**base, **obj}},
    }


def dashboard_refund(funding: dict[str, Any], amount: Any, **extra: Any) -> dict[str, Any]:
    """charge.refunded for a refund made outside Tradeflow (no refund_id of ours)."""
    refund = {"id": f"re_{uuid.uuid4().hex[:12]}", "amount": amount, "currency": "usd"}
    return charge_event("charge.refunded", funding, refunds={"data": [{**refund, **extra}]})


def chargeback(funding: dict[str, Any], amount: Any, **obj: Any) -> dict[str, Any]:
    return charge_event(
        "charge.dispute.created", funding, amount=amount, reason="fraudulent", **obj
    )


# -- signatures ---------------------------------------------------------------------------


def forge(api: Api, attack: str, event: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """The request an attacker (or a broken proxy) sends instead of Stripe's."""
    payload, headers = api.signed(event)
    t, v1 = (part.split("=", 1)[1] for part in headers["Stripe-Signature"].split(","))
    bad = {
        "forged": f"t={t},v1={'0' * 64}",
        "empty_header": "",
        "garbage_header": "garbage",
        "timestamp_not_a_number": f"t=now,v1={v1}",
        "no_timestamp": f"v1={v1}",
        "v0_scheme_only": f"t={t},v0={v1}",
        "signature_of_another_timestamp": f"t={int(t) + 1},v1={v1}",
    }
    if attack in bad:
        headers["Stripe-Signature"] = bad[attack]
    elif attack == "no_header":
        del headers["Stripe-Signature"]
    elif attack == "another_secret":
        payload, headers = api.signed(event, secret="whsec_attacker")
    elif attack == "stale":
        payload, headers = api.signed(event, at=int(time.time()) - 301)
    elif attack == "future":
        # A signature dated ahead would stay replayable long after the tolerance window.
        payload, headers = api.signed(event, at=int(time.time()) + 301)
    elif attack == "tampered_body":  # Stripe's signature of the genuine body, on a changed one
        tampered = copy.deepcopy(event)
        tampered["data"]["object"]["amount_received"] *= 2
        payload = json.dumps(tampered).encode()
    else:
        raise AssertionError(attack)
    return payload, headers


SIGNATURE_ATTACKS = [
    "forged",
    "another_secret",
    "no_header",
    "empty_header",
    "garbage_header",
    "timestamp_not_a_number",
    "no_timestamp",
    "v0_scheme_only",
    "signature_of_another_timestamp",
    "stale",
    "future",
    "tampered_body",
]


@pytest.mark.parametrize("attack", SIGNATURE_ATTACKS)
async def test_a_webhook_stripe_did_not_sign_just_now_is_refused_and_claims_nothing(
    api: Api, attack: str
) -> None:
    order = await new_order(api)
    funding = await fund(api, order)
    event = pi_event("payment_intent.succeeded", order, funding)
    payload, headers = forge(api, attack, event)
    r = await api.client.post(WEBHOOK, content=payload, headers=headers)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "invalid_signature"
    assert (await state(api, order))["funded"] == 0
    assert not await claimed(api, event["id"])
    # The refused copy burnt nothing: Stripe's genuine delivery of that event id still counts.
    assert (await api.webhook(event)).json()["handled"]
    assert (await state(api, order))["funded"] == 100_000
    assert (await outbox_types(api, order))["escrow.funded"] == 1


# -- payloads: signed, but not a Stripe event we can read ----------------------------------

RAW_BODIES = {
    "not_json": b"{'id': 'evt_1'",
    "not_utf8": b"\xff\xfe\x00{",
    "empty": b"",
    "an_array": b'[{"id": "evt_1", "type": "payment_intent.succeeded"}]',
    "a_string": b'"payment_intent.succeeded"',
    "a_number": b"42",
    "null": b"null",
}


def _obj(e: dict[str, Any]) -> dict[str, Any]:
    obj: dict[str, Any] = e["data"]["object"]
    return obj


MUTATIONS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "no_id": lambda e: e.pop("id"),
    "id_not_a_string": lambda e: e.update(id=7),
    "no_type": lambda e: e.pop("type"),
    "type_not_a_string": lambda e: e.update(type=["payment_intent.succeeded"]),
    "no_data": lambda e: e.pop("data"),
    "no_data_object": lambda e: e.update(data={}),
    "data_object_not_an_object": lambda e: e.update(data={"object": "pi_123"}),
    "payment_intent_id_not_a_string": lambda e: _obj(e).update(id={"id": "pi_1"}),
    "amount_as_string": lambda e: _obj(e).update(amount_received="100000"),
    "amount_as_float": lambda e: _obj(e).update(amount_received=100000.0),
    "amount_as_huge_float": lambda e: _obj(e).update(amount_received=1e20),
    "amount_as_bool": lambda e: _obj(e).update(amount_received=True),
    "amount_missing": lambda e: (_obj(e).pop("amount"), _obj(e).pop("amount_received")),
    "amount_negative": lambda e: _obj(e).update(amount=-100_000, amount_received=-100_000),
    "metadata_not_an_object": lambda e: _obj(e).update(metadata="order"),
    "metadata_value_not_a_string": lambda e: _obj(e)["metadata"].update(order_id=123),
    "currency_not_a_string": lambda e: _obj(e).update(currency=840),
}


@pytest.mark.parametrize("body", sorted(RAW_BODIES) + sorted(MUTATIONS))
async def test_a_signed_body_that_is_not_a_readable_stripe_event_is_refused(
    api: Api, body: str
) -> None:
    order = await new_order(api)
    funding = await fund(api, order)
    event = pi_event("payment_intent.succeeded", order, funding)
    genuine = copy.deepcopy(event)
    if body in RAW_BODIES:
        payload: dict[str, Any] | bytes = RAW_BODIES[body]
    else:
        MUTATIONS[body](event)
        payload = event
    r = await api.webhook(payload)
    assert r.status_code == 400, r.text
    # Bytes that are not JSON at all are refused by the request guard, before any route.
    unparseable = body in ("not_json", "not_utf8")
    assert r.json()["error"]["code"] == ("invalid_json" if unparseable else "invalid_payload")
    assert (await state(api, order))["funded"] == 0
    assert not await claimed(api, event.get("id"))
    assert (await api.webhook(genuine)).json()["handled"]  # nothing was burnt


CHARGE_MUTATIONS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "refund_amount_negative": lambda f: dashboard_refund(f, -2_500),
    "refund_amount_as_string": lambda f: dashboard_refund(f, "2500"),
    "refund_amount_as_float": lambda f: dashboard_refund(f, 2500.5),
    "refunds_not_a_list": lambda f: charge_event("charge.refunded", f, refunds={"data": "re_1"}),
    "refund_metadata_not_an_object": lambda f: dashboard_refund(f, 2_500, metadata=["x"]),
    "dispute_amount_negative": lambda f: chargeback(f, -100_000),
    "dispute_amount_zero": lambda f: chargeback(f, 0),
    "dispute_amount_as_string": lambda f: chargeback(f, "100000"),
    "dispute_payment_intent_not_a_string": lambda f: chargeback(f, 1, payment_intent=["pi"]),
}


@pytest.mark.parametrize("body", sorted(CHARGE_MUTATIONS))
async def test_a_signed_charge_event_with_unreadable_amounts_is_refused(
    api: Api, body: str
) -> None:
    order, funding = await funded_order(api)
    event = CHARGE_MUTATIONS[body](funding)
    r = await api.webhook(event)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "invalid_payload"
    after = await state(api, order)
    assert (after["funded"], after["refunded"], after["frozen"], after["held"]) == (
        100_000,
        0,
        0,
        100_000,
    )
    assert not await claimed(api, event["id"])


async def test_an_event_type_we_do_not_handle_is_acknowledged_without_effect(api: Api) -> None:
    r = await api.webhook(
        {"id": f"evt_{uuid.uuid4().hex}", "type": "customer.created", "data": {"object": {}}}
    )
    assert r.status_code == 200 and r.json() == {"received": True, "handled": False}


# -- replays ----------------------------------------------------------------------------


async def test_redeliveries_of_one_event_fund_once_even_when_they_arrive_together(
    api: Api,
) -> None:
    order = await new_order(api)
    funding = await fund(api, order)
    event = pi_event("payment_intent.succeeded", order, funding)
    together = await asyncio.gather(*(api.webhook(event) for _ in range(10)))
    later = await api.webhook(event)
    assert all(r.status_code == 200 for r in [*together, later]), [r.text for r in together]
    assert sum(bool(r.json().get("handled")) for r in together) == 1
    assert sum(bool(r.json().get("duplicate")) for r in together) == 9
    assert later.json()["duplicate"]
    after = await state(api, order)
    assert (after["funded"], after["held"], len(after["payments"])) == (100_000, 100_000, 1)
    assert (await outbox_types(api, order))["escrow.funded"] == 1
    assert (await timeline_types(api, order))["escrow.funded"] == 1


async def test_an_event_id_seen_before_is_a_duplicate_whatever_its_body(api: Api) -> None:
    first, first_funding = await funded_order(api)
    original = pi_event("payment_intent.succeeded", first, first_funding)
    assert (await api.webhook(original)).json()["handled"]
    second = await new_order(api)
    second_funding = await fund(api, second)
    same_id = pi_event("payment_intent.succeeded", second, second_funding)
    same_id["id"] = original["id"]
    r = await api.webhook(same_id)
    assert r.status_code == 200 and r.json()["duplicate"]
    assert (await state(api, second))["funded"] == 0
    assert (await state(api, first))["funded"] == 100_000


# -- Stripe's order is no order -----------------------------------------------------------


async def test_a_payment_intent_that_succeeds_under_several_event_ids_funds_once(
    api: Api,
) -> None:
    order = await new_order(api)
    funding = await fund(api, order)
    first = pi_event("payment_intent.succeeded", order, funding)
    # The same PaymentIntent again under new event ids: once with its metadata edited in the
    # dashboard (another payment_id), once with no metadata at all.
    edited = pi_event("payment_intent.succeeded", order, funding)
    edited["data"]["object"]["metadata"]["payment_id"] = "pay_edited"
    bare = pi_event("payment_intent.succeeded", order, funding, metadata={})
    for event in (first, edited, bare):
        r = await api.webhook(event)
        assert r.status_code == 200, r.text
    after = await state(api, order)
    assert (after["funded"], after["held"], after["reserved"]) == (100_000, 100_000, 0)
    assert [p["payment_id"] for p in after["payments"]] == [funding["payment_id"]]
    assert (await outbox_types(api, order))["escrow.funded"] == 1
    assert (await outbox_types(api, order))["escrow.refunded"] == 0


async def test_a_payment_failure_after_its_success_is_ignored(api: Api) -> None:
    order, funding = await funded_order(api)
    failed = pi_event(
        "payment_intent.payment_failed",
        order,
        funding,
        last_payment_error={"code": "card_declined"},
    )
    assert (await api.webhook(failed)).status_code == 200
    after = await state(api, order)
    assert (after["funded"], after["payments"][0]["status"]) == (100_000, "succeeded")
    assert (await timeline_types(api, order))["escrow.funding_failed"] == 0


async def test_a_refund_seen_before_its_payment_succeeded_waits_for_stripes_retry(
    api: Api,
) -> None:
    order = await new_order(api)
    funding = await fund(api, order)
    refund = dashboard_refund(funding, 2_500)
    early = await api.webhook(refund)
    # Not acknowledged, not claimed: Stripe redelivers it, by then after the payment.
    assert early.status_code == 409, early.text
    assert early.json()["error"]["code"] == "payment_not_succeeded"
    assert not await claimed(api, refund["id"])
    assert (await api.webhook(pi_event("payment_intent.succeeded", order, funding))).json()[
        "handled"
    ]
    retried = await api.webhook(refund)
    assert retried.status_code == 200 and retried.json()["handled"], retried.text
    after = await state(api, order)
    assert (after["funded"], after["refunded"], after["held"]) == (100_000, 2_500, 97_500)
    assert after["payments"][0]["refunded"] == 2_500
    assert (await outbox_types(api, order))["escrow.refunded"] == 1


async def test_a_chargeback_seen_before_its_payment_succeeded_waits_for_stripes_retry(
    api: Api,
) -> None:
    order = await new_order(api)
    funding = await fund(api, order)
    dispute = chargeback(funding, 100_000)
    early = await api.webhook(dispute)
    assert early.status_code == 409, early.text
    assert early.json()["error"]["code"] == "payment_not_succeeded"
    assert not await claimed(api, dispute["id"])
    await api.webhook(pi_event("payment_intent.succeeded", order, funding))
    assert (await api.webhook(dispute)).json()["handled"]
    after = await state(api, order)
    assert (after["frozen"], after["available"], len(after["disputes"])) == (100_000, 0, 1)
    assert after["disputes"][0]["payment_id"] == funding["payment_id"]


async def test_a_chargeback_for_a_charge_that_is_not_ours_changes_nothing(api: Api) -> None:
    order, funding = await funded_order(api)
    strangers = [
        chargeback(funding, 100_000, payment_intent="pi_not_ours"),
        # Metadata naming our order does not make a stranger's charge ours.
        chargeback(
            funding, 100_000, payment_intent="pi_not_ours", metadata={"order_id": order["order_id"]}
        ),
        chargeback(funding, 100_000, payment_intent=None, metadata={"order_id": order["order_id"]}),
    ]
    for event in strangers:
        r = await api.webhook(event)
        assert r.status_code == 200 and r.json()["handled"] is False, r.text
    after = await state(api, order)
    assert (after["frozen"], after["available"], after["disputes"]) == (0, 100_000, [])


async def test_an_event_naming_another_tenants_order_changes_neither(api: Api) -> None:
    ours = await new_order(api)
    ours_funding = await fund(api, ours)
    theirs = await new_order(api, api.other_tenant)
    their_funding = await fund(api, theirs, who=api.other_tenant)
    # Their PaymentIntent, whose metadata was made to name our order (and our payment).
    crossed = pi_event("payment_intent.succeeded", theirs, their_funding)
    crossed["data"]["object"]["metadata"].update(
        order_id=ours["order_id"], payment_id=ours_funding["payment_id"]
    )
    # Our PaymentIntent, claiming to be the other tenant's.
    retenanted = pi_event("payment_intent.succeeded", ours, ours_funding)
    retenanted["data"]["object"]["metadata"]["tenant_id"] = "someone-else"
    for event in (crossed, retenanted):
        r = await api.webhook(event)
        assert r.status_code == 200, r.text
        assert r.json()["handled"] is False and r.json()["error"] == "order_mismatch"
    assert (await state(api, ours))["funded"] == 0
    assert (await state(api, theirs, api.other_tenant))["funded"] == 0
    # Funded for real, our escrow is not frozen by a chargeback on their charge either.
    await api.webhook(pi_event("payment_intent.succeeded", ours, ours_funding))
    theirs_disputed = chargeback(their_funding, 100_000, metadata={"order_id": ours["order_id"]})
    r = await api.webhook(theirs_disputed)
    assert r.status_code == 200 and r.json()["handled"] is False
    after = await state(api, ours)
    assert (after["funded"], after["frozen"]) == (100_000, 0)


@pytest.mark.parametrize(
    "kind", ["payment_intent.succeeded", "charge.refunded", "charge.dispute.created"]
)
async def test_money_in_another_currency_is_never_counted(api: Api, kind: str) -> None:
    if kind == "payment_intent.succeeded":
        order = await new_order(api)
        funding = await fund(api, order)
        event = pi_event(kind, order, funding, currency="eur")
    else:
        order, funding = await funded_order(api)
        event = (
            dashboard_refund(funding, 2_500, currency="eur")
            if kind == "charge.refunded"
            else chargeback(funding, 100_000, currency="eur")
        )
    before = await state(api, order)
    r = await api.webhook(event)
    assert r.status_code == 200 and r.json()["error"] == "currency_mismatch", r.text
    after = await state(api, order)
    assert {k: after[k] for k in ("funded", "refunded", "frozen", "held")} == {
        k: before[k] for k in ("funded", "refunded", "frozen", "held")
    }


async def test_amounts_beyond_their_payment_intent_are_refused(api: Api) -> None:
    order = await new_order(api)
    deposit = await fund(api, order, 40_000)
    inflated = pi_event("payment_intent.succeeded", order, deposit, amount_received=100_000)
    r = await api.webhook(inflated)
    assert r.status_code == 200 and r.json()["error"] == "invalid_amount", r.text
    after = await state(api, order)
    assert (after["funded"], after["reserved"], after["refunds"]) == (0, 0, [])
    # Genuine payments: 40,000.00 then 60,000.00 on a second PaymentIntent.
    await api.webhook(pi_event("payment_intent.succeeded", order, deposit))
    rest = await fund(api, order)
    await api.webhook(pi_event("payment_intent.succeeded", order, rest))
    # Neither a refund nor a chargeback can take more than its payment had.
    for event in (dashboard_refund(deposit, 50_000), chargeback(deposit, 60_000)):
        r = await api.webhook(event)
        assert r.status_code == 200 and r.json()["handled"] is False, r.text
    after = await state(api, order)
    assert (after["funded"], after["refunded"], after["frozen"], after["held"]) == (
        100_000,
        0,
        0,
        100_000,
    )
    assert (await outbox_types(api, order))["escrow.funded"] == 2
