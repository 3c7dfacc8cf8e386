"""Disputes and refunds as people run them, over HTTP on real PostgreSQL and stripe-mock:
a negotiated split settled to the cent, a deadline escalating to finance through the timer
worker, a failed inspection's return and refund, a partial refund by consent (with the
ledger's posting of it), and the dispute list and detail."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from services.ledger.domain.rules import draft_for
from shared.db import outbox
from shared.events import Envelope
from tests.integration.escrow.conftest import Api, order_body, pi_event

pytestmark = pytest.mark.integration
DAY = timedelta(days=1)
SUPPLIER = "supplier-shenzhen"
SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


async def funded_order(api: Api, body: dict[str, Any] | None = None) -> dict[str, Any]:
    order = (
        await api.post("/v1/orders", body or order_body((30_001, 40_000, 29_999)), api.platform)
    ).json()
    funding = (await api.post(f"/v1/orders/{order['order_id']}/fund", {}, api.platform)).json()
    assert (
        await api.webhook(pi_event("payment_intent.succeeded", order, funding))
    ).status_code == 200
    return (await api.client.get(f"/v1/orders/{order['order_id']}", headers=api.platform)).json()


async def outbox_of(api: Api, oid: str) -> list[Envelope]:
    async with api.engine.connect() as conn:
        rows = await conn.execute(
            sa.select(outbox.c.envelope).where(outbox.c.key == oid).order_by(outbox.c.seq)
        )
        return [Envelope.model_validate(r) for r in rows.scalars()]


async def test_a_negotiated_split_resolves_the_dispute_to_the_cent(api: Api) -> None:
    order = await funded_order(api)
    oid, deposit = order["order_id"], order["milestones"][0]["milestone_id"]
    supplier = await api.supplier_key(SUPPLIER)
    other = await api.supplier_key("supplier-other")
    opened = await api.post(
        f"/v1/orders/{oid}/milestones/{deposit}/disputes", {"reason": "short shipped"}, api.platform
    )
    did = opened.json()["disputes"][0]["dispute_id"]
    base = f"/v1/orders/{oid}/disputes/{did}"

    r = await api.post(f"{base}/evidence", {"text": "8 of 40 crates missing"}, api.platform)
    assert r.status_code == 201 and r.json()["submissions"][0]["party"] == "buyer"
    doc = {"document_type": "packing_list", "sha256": SHA, "uri": "https://f.example/pl.pdf"}
    r = await api.post(f"{base}/evidence", {"document": doc}, supplier)
    assert r.status_code == 201 and r.json()["submissions"][1]["document"]["sha256"] == SHA
    bad = await api.post(f"{base}/evidence", {"document": {**doc, "sha256": "xyz"}}, supplier)
    assert bad.status_code == 422
    r = await api.post(f"{base}/evidence", {"party": "buyer", "text": "as the buyer"}, supplier)
    assert r.status_code == 403 and r.json()["error"]["code"] == "insufficient_scope"
    r = await api.post(f"{base}/evidence", {"text": "not mine"}, other)
    assert r.status_code == 404
    r = await api.post(f"{base}/evidence", {"text": "x"}, api.other_tenant)
    assert r.status_code == 404
    r = await api.post(f"{base}/response", {"text": "all 40 were loaded"}, supplier)
    assert r.status_code == 200 and r.json()["response"]["text"] == "all 40 were loaded"
    r = await api.post(f"{base}/response", {"text": "again"}, supplier)
    assert r.status_code == 409 and r.json()["error"]["code"] == "invalid_transition"

    r = await api.post(f"{base}/offers", {"release_amount": 30_000, "refund_amount": 0}, supplier)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_amount"
    r = await api.post(
        f"{base}/offers", {"release_amount": 24_001, "refund_amount": 6_000}, supplier
    )
    assert r.status_code == 201 and r.json()["status"] == "negotiating"
    first = r.json()["offers"][0]["offer_id"]
    r = await api.post(f"{base}/offers/{first}/accept", {}, supplier)
    assert r.status_code == 403 and r.json()["error"]["code"] == "wrong_party"
    r = await api.post(
        f"{base}/offers",
        {"release_amount": 22_500, "refund_amount": 7_501, "note": "25%"},
        api.platform,
    )
    counter = r.json()["offers"][1]["offer_id"]
    assert r.json()["offers"][0]["status"] == "countered"
    r = await api.post(f"{base}/offers/{counter}/accept", {}, supplier)
    assert r.status_code == 200, r.text
    d = r.json()
    assert (d["status"], d["resolved_by"], d["release_amount"], d["refund_amount"]) == (
        "resolved",
        "agreement",
        22_500,
        7_501,
    )
    after = (await api.client.get(f"/v1/orders/{oid}", headers=api.platform)).json()
    m = after["milestones"][0]
    assert (m["status"], m["released_amount"], m["refunded_amount"]) == ("released", 22_500, 7_501)
    refund = next(x for x in after["refunds"] if x["milestone_id"] == deposit)
    assert refund["status"] == "done" and refund["stripe_refund_id"].startswith("re_")
    assert after["frozen"] == 0 and after["held"] == 100_000 - 22_500 - 7_501

    detail = (await api.client.get(f"/v1/disputes/{did}", headers=supplier)).json()
    kinds = [h["type"] for h in detail["history"]]
    assert kinds[:2] == ["escrow.dispute_opened", "escrow.dispute_evidence_added"]
    assert "escrow.dispute_offer_accepted" in kinds and kinds[-1] == "escrow.dispute_resolved"
    assert [o["status"] for o in detail["offers"]] == ["countered", "accepted"]
    assert (await api.client.get(f"/v1/disputes/{did}", headers=other)).status_code == 404
    assert (
        await api.client.get(f"/v1/disputes/{did}", headers=api.other_tenant)
    ).status_code == 404
    r = await api.post(f"{base}/offers", {"release_amount": 1, "refund_amount": 30_000}, supplier)
    assert r.status_code == 409


async def test_the_deadline_escalates_through_the_timer_worker(api: Api) -> None:
    order = await funded_order(api)
    oid, deposit = order["order_id"], order["milestones"][0]["milestone_id"]
    r = await api.post(
        f"/v1/orders/{oid}/milestones/{deposit}/disputes", {"reason": "late"}, api.platform
    )
    did = r.json()["disputes"][0]["dispute_id"]
    listed = (await api.client.get(f"/v1/disputes?order_id={oid}", headers=api.finance)).json()
    assert listed["object"] == "list" and [x["dispute_id"] for x in listed["data"]] == [did]
    assert listed["url"] == "/v1/disputes" and listed["has_more"] is False
    api.clock.advance(7 * DAY + timedelta(seconds=1))
    await api.fire_timers()
    d = (await api.client.get(f"/v1/disputes/{did}", headers=api.finance)).json()
    assert d["status"] == "escalated" and d["escalation_reason"] == "deadline_lapsed"
    escalated = (
        await api.client.get(f"/v1/disputes?status=escalated&order_id={oid}", headers=api.finance)
    ).json()
    assert [x["dispute_id"] for x in escalated["data"]] == [did]
    r = await api.post(
        f"/v1/orders/{oid}/disputes/{did}/resolve",
        {"outcome": "split", "release_amount": 10_000},
        api.finance,
    )
    assert r.status_code == 200
    assert (
        next(x for x in r.json()["disputes"] if x["dispute_id"] == did)["resolved_by"] == "finance"
    )
    timeline = (
        await api.client.get(f"/v1/orders/{oid}/timeline?limit=100", headers=api.finance)
    ).json()
    escalation = next(e for e in timeline["data"] if e["type"] == "escrow.dispute_escalated")
    assert escalation["actor"] == "system:deadline"


async def test_disputes_list_pages_in_stripes_shape(api: Api) -> None:
    ids = []
    for _ in range(3):
        order = await funded_order(api)
        oid, deposit = order["order_id"], order["milestones"][0]["milestone_id"]
        r = await api.post(
            f"/v1/orders/{oid}/milestones/{deposit}/disputes", {"reason": "x"}, api.platform
        )
        ids.append(r.json()["disputes"][0]["dispute_id"])
        api.clock.advance(timedelta(seconds=1))
    first = (await api.client.get("/v1/disputes?limit=2&status=open", headers=api.platform)).json()
    assert [x["dispute_id"] for x in first["data"]] == [ids[2], ids[1]] and first["has_more"]
    nxt = (
        await api.client.get(
            f"/v1/disputes?limit=2&status=open&starting_after={ids[1]}", headers=api.platform
        )
    ).json()
    assert nxt["data"][0]["dispute_id"] == ids[0]
    r = await api.client.get("/v1/disputes?starting_after=nope", headers=api.platform)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_cursor"
    others = (await api.client.get("/v1/disputes", headers=api.other_tenant)).json()
    assert not set(ids) & {x["dispute_id"] for x in others["data"]}


async def test_a_failed_inspection_goes_back_and_is_refunded_through_stripe(api: Api) -> None:
    order = await funded_order(api, order_body((30_000, 70_001), ("contract", "inspection")))
    oid, mid = order["order_id"], order["milestones"][1]["milestone_id"]
    supplier = await api.supplier_key(SUPPLIER)
    path = f"/v1/orders/{oid}/milestones/{mid}"
    report = {"kind": "inspection", "inspector": "SGS", "report_id": "R-9", "passed": False}
    assert (await api.post(f"{path}/evidence", {"evidence": report}, supplier)).status_code == 201
    r = await api.post(f"{path}/disputes", {"reason": "failed"}, api.platform)
    assert r.status_code == 409 and r.json()["error"]["code"] == "invalid_transition"
    r = await api.post(f"{path}/reject", {"remedy": "return", "reasons": ["mould"]}, supplier)
    assert r.status_code == 403  # the buyer's to reject
    r = await api.post(
        f"{path}/reject",
        {"remedy": "return", "reasons": ["mould"], "evidence": ["R-9"]},
        api.platform,
    )
    assert r.status_code == 200 and r.json()["milestones"][1]["status"] == "rejected"
    r = await api.post(f"{path}/return-receipt", {}, supplier)
    assert r.status_code == 409 and r.json()["error"]["code"] == "invalid_transition"
    r = await api.post(f"{path}/rejection/answer", {"remedy": "return"}, supplier)
    assert r.json()["milestones"][1]["status"] == "returning"
    r = await api.post(
        f"{path}/return-shipment", {"carrier": "DHL", "tracking": "JD01"}, api.platform
    )
    assert r.json()["milestones"][1]["status"] == "return_shipped"
    r = await api.post(f"{path}/return-receipt", {}, supplier)
    assert r.status_code == 200, r.text
    done = r.json()
    m = done["milestones"][1]
    assert (m["status"], m["refunded_amount"]) == ("refunded", 70_001)
    refund = next(x for x in done["refunds"] if x["milestone_id"] == mid)
    assert refund["amount"] == 70_001 and refund["stripe_refund_id"].startswith("re_")


async def test_a_lapsed_return_receipt_refunds_by_the_timers(api: Api) -> None:
    order = await funded_order(api, order_body((30_000, 70_001), ("contract", "inspection")))
    oid, mid = order["order_id"], order["milestones"][1]["milestone_id"]
    path = f"/v1/orders/{oid}/milestones/{mid}"
    report = {"kind": "inspection", "inspector": "SGS", "report_id": "R-9", "passed": False}
    await api.post(f"{path}/evidence", {"evidence": report}, api.platform)
    await api.post(f"{path}/reject", {"remedy": "return", "reasons": ["mould"]}, api.platform)
    api.clock.advance(5 * DAY + timedelta(seconds=1))  # the supplier never answered
    await api.fire_timers()
    got = (await api.client.get(f"/v1/orders/{oid}", headers=api.platform)).json()
    assert got["milestones"][1]["status"] == "returning"
    await api.post(f"{path}/return-shipment", {"carrier": "DHL", "tracking": "JD02"}, api.platform)
    api.clock.advance(14 * DAY + timedelta(seconds=1))  # nor confirmed the receipt
    await api.fire_timers()  # the deadline reserves the refund ...
    await api.fire_timers()  # ... and the settlement timer makes it at Stripe
    got = (await api.client.get(f"/v1/orders/{oid}", headers=api.platform)).json()
    assert got["milestones"][1]["status"] == "refunded" and got["refunded"] == 70_001


async def test_a_partial_refund_by_consent_is_refunded_and_posted_exactly(api: Api) -> None:
    order = await funded_order(api)
    oid, mid = order["order_id"], order["milestones"][1]["milestone_id"]
    supplier = await api.supplier_key(SUPPLIER)
    r = await api.post(
        f"/v1/orders/{oid}/partial-refunds",
        {"milestone_id": mid, "amount": 1_251, "reason": "a week late"},
        supplier,
    )
    assert r.status_code == 201, r.text
    pid = r.json()["refund_proposals"][0]["proposal_id"]
    r = await api.post(f"/v1/orders/{oid}/partial-refunds/{pid}/consent", {}, supplier)
    assert r.status_code == 403 and r.json()["error"]["code"] == "wrong_party"  # the proposer
    r = await api.post(f"/v1/orders/{oid}/partial-refunds/{pid}/consent", {}, api.platform)
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["refund_proposals"][0]["status"] == "agreed" and done["refunded"] == 1_251
    assert done["milestones"][1]["status"] == "awaiting_evidence"
    refund = done["refunds"][-1]
    assert refund["amount"] == 1_251 and refund["stripe_refund_id"].startswith("re_")
    envs = await outbox_of(api, oid)
    refunded = next(e for e in envs if e.type == "escrow.refunded")
    draft = draft_for(refunded)
    assert draft is not None
    lines = {(ln.code, ln.amount, ln.subledger, ln.external_ref) for ln in draft.lines}
    assert lines == {
        ("escrow_held", 1_251, oid, None),  # Dr escrow held[order]
        ("stripe_clearing", -1_251, "", refund["stripe_refund_id"]),  # Cr Stripe clearing
    }
    r = await api.post(
        f"/v1/orders/{oid}/partial-refunds",
        {"milestone_id": mid, "amount": 40_000 - 1_251, "reason": "all of it"},
        api.platform,
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_amount"
    r = await api.post(f"/v1/orders/{oid}/partial-refunds/nope/decline", {}, supplier)
    assert r.status_code == 404 and r.json()["error"]["code"] == "partial_refund_not_found"


async def test_an_acceptance_racing_finance_and_an_escalation_has_one_outcome(api: Api) -> None:
    """The offer's acceptance, finance's resolution, an escalation and a counter, all at
    once: exactly one resolution, money moved once, the losers a typed 409."""
    order = await funded_order(api)
    oid, deposit = order["order_id"], order["milestones"][0]["milestone_id"]
    supplier = await api.supplier_key(SUPPLIER)
    r = await api.post(
        f"/v1/orders/{oid}/milestones/{deposit}/disputes", {"reason": "x"}, api.platform
    )
    did = r.json()["disputes"][0]["dispute_id"]
    base = f"/v1/orders/{oid}/disputes/{did}"
    r = await api.post(
        f"{base}/offers", {"release_amount": 20_001, "refund_amount": 10_000}, api.platform
    )
    offer = r.json()["offers"][0]["offer_id"]
    requests = [
        (f"{base}/offers/{offer}/accept", {}, supplier),
        (f"{base}/resolve", {"outcome": "refund"}, api.finance),
        (f"{base}/escalate", {"reason": "now"}, supplier),
        (f"{base}/offers", {"release_amount": 30_001, "refund_amount": 0}, supplier),
    ] * 3
    responses = await asyncio.gather(*(api.post(p, b, who) for p, b, who in requests))
    assert all(r.status_code in (200, 201, 409) for r in responses), [r.text for r in responses]
    assert all(
        r.json()["error"]["code"] in ("invalid_transition", "concurrent_modification")
        for r in responses
        if r.status_code == 409
    )
    state = (await api.client.get(f"/v1/orders/{oid}", headers=api.finance)).json()
    d = next(x for x in state["disputes"] if x["dispute_id"] == did)
    resolutions = [x for x in (await outbox_of(api, oid)) if x.type == "escrow.dispute_resolved"]
    # Finance resolves in any state but resolved: someone resolved it, exactly once.
    assert d["status"] == "resolved" and len(resolutions) == 1
    winners = [r for r in responses if r.is_success and "/resolve" in str(r.request.url)]
    winners += [r for r in responses if r.is_success and str(r.request.url).endswith("/accept")]
    assert len(winners) == 1
    m = state["milestones"][0]
    assert m["released_amount"] + m["refunded_amount"] == 30_001 and state["frozen"] == 0
    refunds = [x for x in state["refunds"] if x["milestone_id"] == deposit]
    assert sum(x["amount"] for x in refunds) == m["refunded_amount"]
    assert state["held"] == state["funded"] - state["released"] - state["refunded"] >= 0


async def test_an_offer_sent_twice_with_one_idempotency_key_is_made_once(api: Api) -> None:
    order = await funded_order(api)
    oid, deposit = order["order_id"], order["milestones"][0]["milestone_id"]
    r = await api.post(
        f"/v1/orders/{oid}/milestones/{deposit}/disputes", {"reason": "x"}, api.platform
    )
    did = r.json()["disputes"][0]["dispute_id"]
    body = {"release_amount": 15_001, "refund_amount": 15_000}
    first = await api.post(f"/v1/orders/{oid}/disputes/{did}/offers", body, api.platform, "k-offer")
    again = await api.post(f"/v1/orders/{oid}/disputes/{did}/offers", body, api.platform, "k-offer")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json() and len(again.json()["offers"]) == 1
    other = await api.post(
        f"/v1/orders/{oid}/disputes/{did}/offers", {**body, "note": "x"}, api.platform, "k-offer"
    )
    assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_reused"


async def test_a_reinspection_that_passes_after_the_first_window_ended_auto_accepts(
    api: Api,
) -> None:
    """The first inspection window's timer fired (a no-op: the milestone was rejected) while
    the re-inspection ran; the window the passing report reopens must lapse all the same,
    else the money stays held until the buyer, who rejected the goods, chooses to accept."""
    order = await funded_order(api, order_body((30_000, 70_001), ("contract", "shipment")))
    oid, mid = order["order_id"], order["milestones"][1]["milestone_id"]
    path = f"/v1/orders/{oid}/milestones/{mid}"
    shipped = {"kind": "shipment", "document": "bill_of_lading", "number": "M1", "carrier": "C"}
    assert (await api.post(f"{path}/evidence", {"evidence": shipped}, api.platform)).is_success
    failed = {"kind": "inspection", "inspector": "SGS", "report_id": "R-1", "passed": False}
    assert (await api.post(f"{path}/evidence", {"evidence": failed}, api.platform)).is_success
    r = await api.post(f"{path}/reject", {"remedy": "return", "reasons": ["mould"]}, api.platform)
    assert r.json()["milestones"][1]["status"] == "rejected", r.text
    answer = {"remedy": "reinspection", "party": "supplier"}
    r = await api.post(f"{path}/rejection/answer", answer, api.platform)
    assert r.json()["milestones"][1]["status"] == "reinspection", r.text
    api.clock.advance(4 * DAY)  # past the first window's end: its timer fires, a no-op
    await api.fire_timers()
    passed = {"kind": "inspection", "inspector": "SGS", "report_id": "R-2", "passed": True}
    r = await api.post(f"{path}/evidence", {"evidence": passed}, api.platform)
    assert r.json()["milestones"][1]["status"] == "in_inspection", r.text
    api.clock.advance(3 * DAY + timedelta(seconds=1))  # the reopened window ends
    await api.fire_timers()  # auto-accepts and reserves the release ...
    await api.fire_timers()  # ... which the settlement timer pays
    got = (await api.client.get(f"/v1/orders/{oid}", headers=api.platform)).json()
    assert got["milestones"][1]["status"] == "released", got["milestones"][1]


async def test_the_buyers_key_does_not_take_the_suppliers_steps_of_a_return(api: Api) -> None:
    """A platform key speaks for the buyer unless it says ``"party": "supplier"``, as on
    every dispute step: answering a rejection or confirming the return's receipt (which
    refunds the buyer) as the buyer is ``403 wrong_party``, nothing changed."""
    order = await funded_order(api, order_body((30_000, 70_001), ("contract", "inspection")))
    oid, mid = order["order_id"], order["milestones"][1]["milestone_id"]
    path = f"/v1/orders/{oid}/milestones/{mid}"
    report = {"kind": "inspection", "inspector": "SGS", "report_id": "R-9", "passed": False}
    await api.post(f"{path}/evidence", {"evidence": report}, api.platform)
    await api.post(f"{path}/reject", {"remedy": "return", "reasons": ["mould"]}, api.platform)
    r = await api.post(f"{path}/rejection/answer", {"remedy": "return"}, api.platform)
    assert r.status_code == 403 and r.json()["error"]["code"] == "wrong_party", r.text
    r = await api.post(
        f"{path}/rejection/answer", {"remedy": "return", "party": "supplier"}, api.platform
    )
    assert r.json()["milestones"][1]["status"] == "returning", r.text
    await api.post(f"{path}/return-shipment", {"carrier": "DHL", "tracking": "J1"}, api.platform)
    r = await api.post(f"{path}/return-receipt", {}, api.platform)
    assert r.status_code == 403 and r.json()["error"]["code"] == "wrong_party", r.text
    got = (await api.client.get(f"/v1/orders/{oid}", headers=api.platform)).json()
    assert got["milestones"][1]["status"] == "return_shipped" and got["refunded"] == 0
    r = await api.post(f"{path}/return-receipt", {"party": "supplier"}, api.platform)
    assert r.json()["milestones"][1]["status"] == "refunded", r.text
