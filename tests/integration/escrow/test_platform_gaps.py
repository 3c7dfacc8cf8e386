"""Platform gaps on real PostgreSQL and stripe-mock: a deadline whose action escrow keeps
refusing gives up and is parked for finance; a milestone a lost chargeback emptied is
settled; an empty piece of dispute evidence has its own code."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from services.escrow.service_layer.decisions import DEADLINE_TIMER
from shared.db import timers
from tests.integration.escrow.conftest import Api, order_body
from tests.integration.escrow.test_disputes_flow import SUPPLIER, funded_order, outbox_of
from tests.integration.escrow.test_stripe_loose_ends import dispute_event

pytestmark = pytest.mark.integration
DAY = timedelta(days=1)


async def return_shipped_then_charged_back(api: Api) -> tuple[dict[str, Any], str]:
    """A failed inspection's goods shipped back (70,001 to refund on receipt), then a
    40,000 chargeback freezing the money: only 60,001 is free to refund."""
    order = await funded_order(api, order_body((30_000, 70_001), ("contract", "inspection")))
    oid, mid = order["order_id"], order["milestones"][1]["milestone_id"]
    supplier = await api.supplier_key(SUPPLIER)
    path = f"/v1/orders/{oid}/milestones/{mid}"
    report = {"kind": "inspection", "inspector": "SGS", "report_id": "R-9", "passed": False}
    assert (await api.post(f"{path}/evidence", {"evidence": report}, supplier)).status_code == 201
    await api.post(f"{path}/reject", {"remedy": "return", "reasons": ["mould"]}, api.platform)
    await api.post(f"{path}/rejection/answer", {"remedy": "return"}, supplier)
    r = await api.post(
        f"{path}/return-shipment", {"carrier": "DHL", "tracking": "J1"}, api.platform
    )
    assert r.json()["milestones"][1]["status"] == "return_shipped", r.text
    funding = order["payments"][0]
    funding = {"stripe_payment_intent_id": funding["stripe_payment_intent_id"]}
    frozen = await api.webhook(dispute_event("charge.dispute.created", order, funding, "dp_1"))
    assert frozen.json()["handled"], frozen.text
    return order, mid


async def test_a_refused_deadline_gives_up_after_bounded_attempts_and_is_parked(
    api: Api,
) -> None:
    order, mid = await return_shipped_then_charged_back(api)
    oid = order["order_id"]
    api.clock.advance(14 * DAY + timedelta(seconds=1))  # the receipt's deadline lapses
    most = api.settings.escrow_deadline_max_attempts
    for _ in range(most + 3):  # each firing past the backoff
        await api.fire_timers()
        api.clock.advance(timedelta(hours=1))
    async with api.engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(timers.c.fired_at, timers.c.cancelled_at, timers.c.attempts).where(
                    timers.c.kind == DEADLINE_TIMER, timers.c.key.like(f"{oid}/milestone/{mid}/%")
                )
            )
        ).all()
    assert all(r.fired_at is not None or r.cancelled_at is not None for r in rows)
    assert max(r.attempts for r in rows) == most - 1  # done, not retried for ever
    listed = await api.client.get("/v1/operations/parked-deadlines", headers=api.finance)
    assert listed.status_code == 200, listed.text
    mine = [d for d in listed.json()["data"] if d["order_id"] == oid]
    assert [(d["what"], d["subject"], d["attempts"], d["error_code"]) for d in mine] == [
        ("milestone", mid, most, "insufficient_funds")
    ]
    parked = [e for e in await outbox_of(api, oid) if e.type == "escrow.deadline_parked"]
    assert [e.data["attempts"] for e in parked] == [most]
    other = await api.client.get("/v1/operations/parked-deadlines", headers=api.other_tenant)
    assert oid not in {d["order_id"] for d in other.json()["data"]}
    got = (await api.client.get(f"/v1/orders/{oid}", headers=api.platform)).json()
    assert got["milestones"][1]["status"] == "return_shipped"  # nothing moved


async def test_empty_dispute_evidence_answers_invalid_evidence(api: Api) -> None:
    order = await funded_order(api)
    oid, deposit = order["order_id"], order["milestones"][0]["milestone_id"]
    opened = await api.post(
        f"/v1/orders/{oid}/milestones/{deposit}/disputes", {"reason": "short"}, api.platform
    )
    base = f"/v1/orders/{oid}/disputes/{opened.json()['disputes'][0]['dispute_id']}"
    for body in ({}, {"text": "   "}):
        r = await api.post(f"{base}/evidence", body, api.platform)
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_evidence", r.text
    got = (await api.client.get(f"/v1/orders/{oid}", headers=api.platform)).json()
    assert got["disputes"][0]["submissions"] == []  # nothing changed


async def put(api: Api, path: str, body: Any, who: dict[str, str]) -> httpx.Response:
    headers = {**who, "Idempotency-Key": str(uuid.uuid4())}
    return await api.client.put(path, json=body, headers=headers)


async def test_a_tenants_dispute_deadlines_are_validated_and_copied_onto_new_orders(
    api: Api,
) -> None:
    path = "/v1/tenant-settings/dispute-deadlines"
    r = await api.client.get(path, headers=api.platform)
    assert r.status_code == 200 and r.json()["negotiation_seconds"] == 7 * 86_400  # default
    for bad in ({"negotiation_seconds": 59}, {"negotiation_seconds": 91 * 86_400},
                {"negotiation_seconds": "3d"}, {"negotiation_seconds": 3600.5}, {"nope": 1}):  # fmt: skip
        r = await put(api, path, bad, api.finance)
        assert r.status_code == 422, (bad, r.text)
    assert (
        await put(api, path, {"negotiation_seconds": 2 * 86_400}, api.platform)
    ).status_code == 403
    before = await funded_order(api)  # made on the defaults
    r = await put(api, path, {"negotiation_seconds": 2 * 86_400}, api.finance)
    assert r.status_code == 200 and r.json()["supplier_answer_seconds"] == 5 * 86_400
    after = await funded_order(api)
    other = await api.client.get(path, headers=api.other_tenant)
    assert other.json()["negotiation_seconds"] == 7 * 86_400  # per tenant
    for order, days in ((before, 7), (after, 2)):
        oid, mid = order["order_id"], order["milestones"][0]["milestone_id"]
        r = await api.post(
            f"/v1/orders/{oid}/milestones/{mid}/disputes", {"reason": "short"}, api.platform
        )
        d = r.json()["disputes"][0]
        opened = datetime.fromisoformat(d["opened_at"])
        assert datetime.fromisoformat(d["respond_by"]) - opened == timedelta(days=days)


async def test_finance_abandons_a_stuck_refund_over_http_booked_against_the_bank_once(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from services.ledger.domain.rules import draft_for
    from tests.integration.escrow.test_stripe_loose_ends import RefusingRefunds

    order = await funded_order(api)
    oid = order["order_id"]
    monkeypatch.setattr(api.container, "gateway", RefusingRefunds(api.container.gateway))
    cancelled = await api.post(f"/v1/orders/{oid}/cancel", {"reason": "buyer left"}, api.platform)
    (refund,) = cancelled.json()["refunds"]
    rid = refund["refund_id"]
    path = f"/v1/operations/stuck-refunds/{rid}/abandon"
    body = {"resolution": "returned_offline", "note": "wired back"}
    r = await api.post(path, body, api.finance)
    assert r.status_code == 404 and r.json()["error"]["code"] == "stuck_refund_not_found"
    for _ in range(api.settings.escrow_refund_stuck_after_attempts):
        api.clock.advance(timedelta(hours=1))
        await api.fire_timers()
    assert (await api.post(path, body, api.platform)).status_code == 403
    bad = await api.post(path, {"resolution": "forgot", "note": "x"}, api.finance)
    assert bad.status_code == 422
    r = await api.post(path, body, api.finance)
    assert r.status_code == 200, r.text
    assert (r.json()["resolution"], r.json()["note"]) == ("returned_offline", "wired back")
    got = (await api.client.get(f"/v1/orders/{oid}", headers=api.platform)).json()
    assert got["refunded"] == 100_000 and got["reserved"] == 0 and got["status"] == "cancelled"
    envs = await outbox_of(api, oid)
    assert [e.type for e in envs].count("escrow.refund_abandoned") == 1
    booked = next(e for e in envs if e.type == "escrow.refunded" and str(e.id) == rid)
    draft = draft_for(booked)
    assert draft is not None and {line.code for line in draft.lines} >= {"bank"}
    again = await api.post(path, body, api.finance)
    assert again.status_code == 404
    api.clock.advance(timedelta(hours=1))
    await api.fire_timers()  # the settlement timer was cancelled: no Stripe call, no change
    after = (await api.client.get(f"/v1/orders/{oid}", headers=api.platform)).json()
    assert after["refunded"] == 100_000


async def test_a_lost_chargeback_of_everything_settles_the_milestones_and_completes(
    api: Api,
) -> None:
    from tests.integration.escrow.test_stripe_loose_ends import charged_back

    order, funding, dp = await charged_back(api)  # 40,000 of 100,000 charged back
    oid = order["order_id"]
    whole = dispute_event("charge.dispute.created", order, funding, "dp_all", amount=60_000)
    assert (await api.webhook(whole)).json()["handled"]
    for d in (dp, "dp_all"):
        amount = 40_000 if d == dp else 60_000
        lost = dispute_event(
            "charge.dispute.closed", order, funding, d, status="lost", amount=amount
        )
        assert (await api.webhook(lost)).json()["handled"]
    got = (await api.client.get(f"/v1/orders/{oid}", headers=api.platform)).json()
    assert got["held"] == 0 and got["status"] == "completed", got
    assert {m["status"] for m in got["milestones"]} == {"closed_unpaid"}
    settled = [e for e in await outbox_of(api, oid) if e.type == "escrow.milestone_settled_unpaid"]
    assert sum(e.data["unfunded_amount"] for e in settled) == 100_000
