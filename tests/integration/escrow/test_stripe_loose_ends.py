"""Stripe loose ends on real PostgreSQL and stripe-mock, through Stripe-signed webhooks: an
overpayment refunded in the same webhook handling (and what the ledger posts for it), and
``charge.dispute.closed`` won and lost."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from services.escrow.adapters.stripe_gateway import StripeGateway
from services.escrow.service_layer.decisions import SETTLEMENT_TIMER
from services.escrow.service_layer.gateway import GatewayRefused, PaymentGateway
from services.escrow.service_layer.stripe_events import excess_refund_id
from services.ledger.domain.escrow_rules import EH, SC
from services.ledger.domain.rules import draft_for
from shared.db import outbox, timers
from shared.events import Envelope
from tests.integration.escrow.conftest import Api, order_body, pi_event

pytestmark = pytest.mark.integration


async def order_and_two_intents(api: Api) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    order = (await api.post("/v1/orders", order_body(), api.platform)).json()
    oid = order["order_id"]
    first, second = [
        (await api.post(f"/v1/orders/{oid}/fund", {}, api.platform)).json() for _ in range(2)
    ]
    return order, first, second


async def state(api: Api, order: dict[str, Any]) -> dict[str, Any]:
    r = await api.client.get(f"/v1/orders/{order['order_id']}", headers=api.finance)
    return r.json()


async def envelopes_of(api: Api, order_id: str) -> list[Envelope]:
    async with api.engine.connect() as conn:
        rows = await conn.execute(
            sa.select(outbox.c.envelope)
            .where(outbox.c.envelope["subject"].astext == order_id)
            .order_by(outbox.c.seq)
        )
        return [Envelope.model_validate(r.envelope) for r in rows]


async def test_a_payment_beyond_the_total_is_refunded_before_the_webhook_is_answered(
    api: Api,
) -> None:
    order, first, second = await order_and_two_intents(api)
    assert (await api.webhook(pi_event("payment_intent.succeeded", order, first))).json()["handled"]
    event = pi_event("payment_intent.succeeded", order, second)
    answer = await api.webhook(event)
    assert answer.status_code == 200 and answer.json()["handled"]
    # No timer fired: the webhook's own handling refunded the excess at stripe-mock.
    after = await state(api, order)
    assert (after["funded"], after["refunded"], after["held"]) == (200_000, 100_000, 100_000)
    assert after["reserved"] == 0 and after["available"] == 100_000
    (refund,) = after["refunds"]
    assert refund["refund_id"] == excess_refund_id(event["id"])
    assert refund["stripe_refund_id"].startswith("re_")
    async with api.engine.connect() as conn:
        settlement = (
            await conn.execute(
                sa.select(timers.c.cancelled_at).where(
                    timers.c.kind == SETTLEMENT_TIMER, timers.c.key == refund["refund_id"]
                )
            )
        ).scalar_one()
    assert settlement is not None  # the fallback timer was cancelled by the inline booking
    # The ledger's posting rules on what escrow published: the second payment comes into
    # Stripe clearing and goes straight back out; escrow held ends at the contract total.
    envs = [
        e for e in await envelopes_of(api, order["order_id"]) if e.type != "escrow.order_created"
    ]
    drafts = [d for d in (draft_for(e) for e in envs) if d is not None]
    assert [d.source_type for d in drafts] == ["escrow.funded"] * 2 + ["escrow.refunded"]
    balances: Counter[tuple[str, str]] = Counter()
    for draft in drafts:
        for line in draft.lines:
            balances[(line.code, line.subledger)] += line.amount
    assert balances[(EH, order["order_id"])] == -100_000  # held: the contract total
    assert balances[(SC, "")] == 100_000  # the second payment came in and went back out
    refunded = drafts[-1]
    assert str(refunded.source_event_id) == refund["refund_id"]
    assert refund["stripe_refund_id"] in {line.external_ref for line in refunded.lines}


def dispute_event(
    kind: str, order: dict[str, Any], funding: dict[str, Any], dispute_id: str, **obj: Any
) -> dict[str, Any]:
    return {
        "id": f"evt_{uuid.uuid4().hex}",
        "type": kind,
        "data": {
            "object": {
                "id": dispute_id,
                "object": "dispute",
                "amount": 40_000,
                "currency": "usd",
                "reason": "fraudulent",
                "payment_intent": funding["stripe_payment_intent_id"],
                "metadata": {"order_id": order["order_id"]},
                **obj,
            }
        },
    }


async def charged_back(api: Api) -> tuple[dict[str, Any], dict[str, Any], str]:
    order = (await api.post("/v1/orders", order_body(), api.platform)).json()
    funding = (await api.post(f"/v1/orders/{order['order_id']}/fund", {}, api.platform)).json()
    await api.webhook(pi_event("payment_intent.succeeded", order, funding))
    dp = f"dp_{uuid.uuid4().hex[:10]}"
    opened = await api.webhook(dispute_event("charge.dispute.created", order, funding, dp))
    assert opened.json()["handled"] and (await state(api, order))["frozen"] == 40_000
    return order, funding, dp


async def test_a_won_chargeback_unfreezes_the_escrow(api: Api) -> None:
    order, funding, dp = await charged_back(api)
    closed = dispute_event("charge.dispute.closed", order, funding, dp, status="won")
    assert (await api.webhook(closed)).json()["handled"]
    assert (await api.webhook(closed)).json()["duplicate"]
    again = dispute_event("charge.dispute.closed", order, funding, dp, status="won")
    assert (await api.webhook(again)).json()["handled"]
    after = await state(api, order)
    assert (after["frozen"], after["held"], after["refunded"]) == (0, 100_000, 0)
    assert [d["outcome"] for d in after["disputes"]] == ["release"]
    r = await api.client.get(
        f"/v1/orders/{order['order_id']}/timeline", params={"limit": 100}, headers=api.finance
    )
    resolved = [e for e in r.json()["data"] if e["type"] == "escrow.dispute_resolved"]
    assert [e["actor"] for e in resolved] == ["stripe:webhook"]


async def test_a_lost_chargeback_books_what_the_bank_kept(api: Api) -> None:
    order, funding, dp = await charged_back(api)
    closed = dispute_event("charge.dispute.closed", order, funding, dp, status="lost")
    assert (await api.webhook(closed)).json()["handled"]
    after = await state(api, order)
    assert (after["frozen"], after["refunded"], after["held"]) == (0, 40_000, 60_000)
    (refund,) = after["refunds"]
    assert refund["stripe_refund_id"] is None and refund["reason"] == "chargeback"


async def test_a_chargeback_closed_before_it_was_seen_opened_is_delivered_again(api: Api) -> None:
    order = (await api.post("/v1/orders", order_body(), api.platform)).json()
    funding = (await api.post(f"/v1/orders/{order['order_id']}/fund", {}, api.platform)).json()
    await api.webhook(pi_event("payment_intent.succeeded", order, funding))
    closed = dispute_event("charge.dispute.closed", order, funding, "dp_unseen", status="won")
    early = await api.webhook(closed)
    assert early.status_code == 409 and early.json()["error"]["code"] == "chargeback_not_opened"
    await api.webhook(dispute_event("charge.dispute.created", order, funding, "dp_unseen"))
    assert (await api.webhook(closed)).json()["handled"]
    assert (await state(api, order))["frozen"] == 0


async def test_a_payout_is_transferred_from_the_funding_charge_at_stripe_mock(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway = api.container.gateway
    assert isinstance(gateway, StripeGateway)
    answered: list[Any] = []
    real_call = gateway._stripe.call

    async def recording(request: Any) -> Any:
        answer = await real_call(request)
        answered.append(answer)
        return answer

    monkeypatch.setattr(gateway._stripe, "call", recording)
    order = (await api.post("/v1/orders", order_body(), api.platform)).json()
    oid = order["order_id"]
    funding = (await api.post(f"/v1/orders/{oid}/fund", {}, api.platform)).json()
    await api.webhook(pi_event("payment_intent.succeeded", order, funding, latest_charge="ch_fund"))
    mid = order["milestones"][0]["milestone_id"]
    accepted = await api.post(f"/v1/orders/{oid}/milestones/{mid}/accept", {}, api.platform)
    assert accepted.status_code == 200, accepted.text
    transfers = [d for d in (a.to_dict() for a in answered) if d.get("object") == "transfer"]
    assert [t["source_transaction"] for t in transfers] == ["ch_fund"]
    assert transfers[0]["id"] == accepted.json()["payouts"][0]["stripe_transfer_id"]


class RefusingRefunds(PaymentGateway):
    """The real gateway (stripe-mock), except that Stripe refuses every refund.
    (stripe-mock accepts every well-formed refund, so the refusal is simulated.)"""

    def __init__(self, real: PaymentGateway) -> None:
        self.real = real

    async def create_payment_intent(self, **kw: Any) -> Any:
        return await self.real.create_payment_intent(**kw)

    async def transfer(self, **kw: Any) -> str:
        return await self.real.transfer(**kw)

    async def refund(self, **kw: Any) -> str:
        raise GatewayRefused("charge_already_refunded: Charge ch_x has already been refunded.")

    def verify_webhook(self, payload: bytes, signature: str | None) -> Any:
        return self.real.verify_webhook(payload, signature)


async def test_a_refund_stripe_keeps_refusing_is_alerted_once_and_listed_for_finance(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    order = (await api.post("/v1/orders", order_body(), api.platform)).json()
    oid = order["order_id"]
    funding = (await api.post(f"/v1/orders/{oid}/fund", {}, api.platform)).json()
    await api.webhook(pi_event("payment_intent.succeeded", order, funding))
    monkeypatch.setattr(api.container, "gateway", RefusingRefunds(api.container.gateway))
    cancelled = await api.post(f"/v1/orders/{oid}/cancel", {"reason": "buyer left"}, api.platform)
    assert cancelled.status_code == 200, cancelled.text
    (refund,) = cancelled.json()["refunds"]
    assert refund["status"] == "pending"
    stuck_after = api.settings.escrow_refund_stuck_after_attempts
    for _ in range(stuck_after + 1):  # the timer's attempts, each past the backoff
        api.clock.advance(timedelta(hours=1))
        await api.fire_timers()
    listed = await api.client.get("/v1/operations/stuck-refunds", headers=api.finance)
    assert listed.status_code == 200, listed.text
    mine = [s for s in listed.json()["data"] if s["order_id"] == oid]
    assert [(s["refund_id"], s["amount"], s["attempts"]) for s in mine] == [
        (refund["refund_id"], 100_000, stuck_after + 1)
    ]
    assert "charge_already_refunded" in mine[0]["last_error"]
    alerts = [e for e in await envelopes_of(api, oid) if e.type == "escrow.refund_stuck"]
    assert [a.data["attempts"] for a in alerts] == [stuck_after]
    assert alerts[0].correlation_id == next(
        e.correlation_id for e in await envelopes_of(api, oid) if e.type == "escrow.cancelled"
    )  # the refund's conversation: the cancellation that reserved it
    other = await api.client.get("/v1/operations/stuck-refunds", headers=api.other_tenant)
    assert oid not in {s["order_id"] for s in other.json()["data"]}
    forbidden = await api.client.get("/v1/operations/stuck-refunds", headers=api.platform)
    assert forbidden.status_code == 403
    # Stripe takes it at last: booked by the next attempt, gone from the list.
    monkeypatch.undo()
    api.clock.advance(timedelta(hours=1))
    await api.fire_timers()
    assert (await state(api, order))["refunded"] == 100_000
    again = await api.client.get("/v1/operations/stuck-refunds", headers=api.finance)
    assert oid not in {s["order_id"] for s in again.json()["data"]}


async def test_an_external_refund_escrow_cannot_book_is_a_break_finance_sees(api: Api) -> None:
    order, funding, dp = await charged_back(api)  # 40,000 frozen: 60,000 free
    dashboard = {
        "id": f"evt_{uuid.uuid4().hex}",
        "type": "charge.refunded",
        "data": {
            "object": {
                "id": "ch_1",
                "object": "charge",
                "payment_intent": funding["stripe_payment_intent_id"],
                "metadata": {"order_id": order["order_id"]},
                "refunds": {"data": [{"id": f"re_{dp}", "amount": 70_000, "metadata": {}}]},
            }
        },
    }
    answer = await api.webhook(dashboard)
    assert answer.status_code == 200 and answer.json()["error"] == "insufficient_funds"
    assert (await state(api, order))["refunded"] == 0
    listed = await api.client.get("/v1/operations/refund-breaks", headers=api.finance)
    mine = [b for b in listed.json()["data"] if b["order_id"] == order["order_id"]]
    assert [(b["stripe_refund_id"], b["amount"], b["bookable"], b["reason"]) for b in mine] == [
        (f"re_{dp}", 70_000, 60_000, "insufficient_funds")
    ]
    assert mine[0]["stripe_event_id"] == dashboard["id"]
    unbooked = [
        e for e in await envelopes_of(api, order["order_id"])
        if e.type == "escrow.external_refund_unbooked"
    ]  # fmt: skip
    assert [e.data["stripe_refund_id"] for e in unbooked] == [f"re_{dp}"]
    r = await api.client.get(
        f"/v1/orders/{order['order_id']}/timeline", params={"limit": 100}, headers=api.finance
    )
    actors = {e["type"]: e["actor"] for e in r.json()["data"]}
    assert actors["escrow.external_refund_unbooked"] == "stripe:webhook"


async def test_a_lost_chargeback_over_a_disputed_milestone_takes_its_money_and_posts_once(
    api: Api,
) -> None:
    """The buyer disputed the 40,000 shipment milestone, then charged the whole 100,000
    back; the chargeback could freeze only the 60,000 left free. Lost: all 100,000 are
    booked as refunded (the milestone dispute resolved by the chargeback), nothing is left
    to release, and the ledger posts the 100,000 out of escrow held against disputed_funds
    (where Stripe's dispute debit is booked), never against the bank."""
    order = (await api.post("/v1/orders", order_body(), api.platform)).json()
    oid, mid = order["order_id"], order["milestones"][1]["milestone_id"]
    funding = (await api.post(f"/v1/orders/{oid}/fund", {}, api.platform)).json()
    await api.webhook(pi_event("payment_intent.succeeded", order, funding))
    shipped = {"kind": "shipment", "document": "bill_of_lading", "number": "M1", "carrier": "C"}
    path = f"/v1/orders/{oid}/milestones/{mid}"
    assert (await api.post(f"{path}/evidence", {"evidence": shipped}, api.platform)).is_success
    r = await api.post(f"{path}/disputes", {"reason": "wet"}, api.platform)
    did = r.json()["disputes"][-1]["dispute_id"]
    dp = f"dp_{uuid.uuid4().hex[:10]}"
    opened = dispute_event("charge.dispute.created", order, funding, dp, amount=100_000)
    assert (await api.webhook(opened)).json()["handled"]
    closed = dispute_event(
        "charge.dispute.closed", order, funding, dp, amount=100_000, status="lost"
    )
    assert (await api.webhook(closed)).json()["handled"]
    after = await state(api, order)
    assert (after["refunded"], after["held"], after["frozen"]) == (100_000, 0, 0)
    d = next(x for x in after["disputes"] if x["dispute_id"] == did)
    assert (d["status"], d["resolved_by"], d["refund_amount"]) == ("resolved", "chargeback", 40_000)
    r = await api.post(
        f"/v1/orders/{oid}/disputes/{did}/resolve", {"outcome": "release"}, api.finance
    )
    assert r.status_code == 409
    drafts = [x for x in (draft_for(e) for e in await envelopes_of(api, oid)) if x is not None]
    refunds = [line for x in drafts if x.source_type == "escrow.refunded" for line in x.lines]
    assert sum(line.amount for line in refunds if line.code == EH) == 100_000
    assert sum(line.amount for line in refunds if line.code == "disputed_funds") == -100_000
    assert not any(line.code in ("bank", SC) for line in refunds)
