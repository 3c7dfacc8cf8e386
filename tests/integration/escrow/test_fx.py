"""FX on the real stack (issue 14): an order priced in USD, funded in EUR, paid out in CNY.

Rates imported by finance, quotes used once before they expire, the PaymentIntent in EUR, the
held balance in USD, the transfers in CNY, and a full refund that returns exactly the EUR paid.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from services.escrow.adapters.tables import timeline
from services.ledger.domain.chart import DISPUTED_FUNDS
from services.ledger.domain.escrow_rules import SC
from services.ledger.domain.rules import draft_for
from shared.db import outbox
from shared.events import Envelope
from tests.integration.escrow.conftest import Api, order_body, pi_event

pytestmark = pytest.mark.integration


async def setup_fx(api: Api) -> None:
    r = await api.client.put(
        "/v1/fx/settings",
        json={"markup_bps": 50, "policy": "order", "quote_ttl_seconds": 600},
        headers={**api.finance, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert r.status_code == 200, r.text
    at = (api.clock.now() - timedelta(hours=1)).isoformat()
    rates = {
        "rates": [
            {"from_currency": "EUR", "to_currency": "USD", "mid_rate": "1.0842",
             "effective_at": at, "source": "ECB reference"},
        ]
    }  # fmt: skip
    r = await api.post("/v1/fx/rates", rates, api.finance)
    assert r.status_code == 201, r.text
    csv = (
        "from_currency,to_currency,mid_rate,effective_at,source\n"
        f"USD,CNY,7.1185,{at},ECB reference\n"
    )
    r = await api.client.post(
        "/v1/fx/rates/csv",
        content=csv.encode(),
        headers={**api.finance, "Content-Type": "text/csv", "Idempotency-Key": str(uuid.uuid4())},
    )
    assert r.status_code == 201 and r.json()["imported"] == 1, r.text


async def fx_order(api: Api, amounts: tuple[int, ...] = (40_000, 60_000)) -> dict[str, Any]:
    body = order_body(amounts, ("contract",) * len(amounts))
    body |= {"funding_currency": "EUR", "payout_currency": "CNY"}
    r = await api.post("/v1/orders", body, api.platform)
    assert r.status_code == 201, r.text
    return r.json()


async def quote(
    api: Api, amount: int, side: str = "funding", pair: tuple[str, str] = ("EUR", "USD")
) -> dict[str, Any]:
    body = {"from_currency": pair[0], "to_currency": pair[1], "amount": amount, "side": side}
    r = await api.post("/v1/fx/quotes", body, api.platform)
    assert r.status_code == 201, r.text
    return r.json()


async def get(api: Api, order: dict[str, Any]) -> dict[str, Any]:
    return (await api.client.get(f"/v1/orders/{order['order_id']}", headers=api.finance)).json()


def eur_event(kind: str, order: dict[str, Any], funding: dict[str, Any]) -> dict[str, Any]:
    event = pi_event(kind, order, funding)
    event["data"]["object"]["currency"] = funding["currency"].lower()
    return event


async def test_funded_in_eur_priced_in_usd_paid_out_in_cny(api: Api) -> None:
    await setup_fx(api)
    order = await fx_order(api)
    oid = order["order_id"]
    assert (order["currency"], order["funding_currency"], order["payout_currency"]) == (
        "USD",
        "EUR",
        "CNY",
    )
    assert order["fx_policy"] == "order"

    # Without a quote, a payment in another currency is refused; so is a USD quote reused.
    r = await api.post(f"/v1/orders/{oid}/fund", {}, api.platform)
    assert r.status_code == 422 and r.json()["error"]["code"] == "fx_quote_required"

    q = await quote(api, 100_000)
    assert (q["mid_rate"], q["markup_bps"], q["rate"]) == ("1.0842", 50, "1.078779")
    assert q["converted_amount"] == q["from_amount"] == 92_698  # ceil(1000.00 / 1.078779)
    again = await api.client.get(f"/v1/fx/quotes/{q['id']}", headers=api.platform)
    assert again.status_code == 200 and again.json()["used"] is False

    wrong = await api.post(
        f"/v1/orders/{oid}/fund", {"amount": 40_000, "quote_id": q["id"]}, api.platform
    )
    assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "fx_quote_mismatch"

    r = await api.post(f"/v1/orders/{oid}/fund", {"quote_id": q["id"]}, api.platform)
    assert r.status_code == 201, r.text
    funding = r.json()
    assert (funding["amount"], funding["currency"], funding["credits"]) == (92_698, "EUR", 100_000)
    lock = funding["payout_lock"]
    assert (lock["from_currency"], lock["from_amount"], lock["to_currency"]) == (
        "USD",
        100_000,
        "CNY",
    )
    assert lock["rate"] == "7.0829075"  # 7.1185 * (1 - 50/10000)
    assert lock["to_amount"] == 708_290  # floor(1000.00 USD * 7.0829075) in fen

    # The quote is used: a second order cannot use it.
    other = await fx_order(api)
    reused = await api.post(
        f"/v1/orders/{other['order_id']}/fund", {"quote_id": q["id"]}, api.platform
    )
    assert reused.status_code == 409 and reused.json()["error"]["code"] == "fx_quote_used"
    assert (await get(api, other))["payments"] == []

    handled = await api.webhook(eur_event("payment_intent.succeeded", order, funding))
    assert handled.json()["handled"], handled.text
    funded = await get(api, order)
    assert (funded["status"], funded["held"], funded["currency"]) == ("funded", 100_000, "USD")
    assert funded["payments"][0]["fx"]["from_amount"] == 92_698

    # Both milestones released: CNY transfers from the locked conversion, allocated.
    first, second = (m["milestone_id"] for m in order["milestones"])
    for m in (first, second):
        r = await api.post(f"/v1/orders/{oid}/milestones/{m}/accept", {}, api.platform)
        assert r.status_code == 200, r.text
    done = await get(api, order)
    payouts = done["payouts"]
    assert [p["status"] for p in payouts] == ["done", "done"]
    nets = [p["supplier_net"] for p in payouts]
    cny = [p["payout_fx"]["to_amount"] for p in payouts]
    assert all(p["payout_fx"]["to_currency"] == "CNY" for p in payouts)
    assert cny[0] == 708_290 * nets[0] // 100_000  # floor of its share of the lock
    assert sum(cny) <= 708_290

    async with api.engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(timeline.c.event_type, timeline.c.data).where(timeline.c.order_id == oid)
            )
        ).all()
    events = {t: d for t, d in rows}
    assert events["escrow.funded"]["fx"]["from_amount"] == 92_698
    assert events["escrow.funded"]["payout_lock"]["to_amount"] == 708_290
    assert events["escrow.milestone_released"]["payout_fx"]["to_currency"] == "CNY"
    assert events["escrow.order_created"]["funding_currency"] == "EUR"


async def test_an_expired_quote_is_refused_and_nothing_changes(api: Api) -> None:
    await setup_fx(api)
    order = await fx_order(api)
    q = await quote(api, 100_000)
    api.clock.advance(timedelta(seconds=601))
    r = await api.post(f"/v1/orders/{order['order_id']}/fund", {"quote_id": q["id"]}, api.platform)
    assert r.status_code == 409 and r.json()["error"]["code"] == "fx_quote_expired"
    after = await get(api, order)
    assert after["payments"] == [] and after["version"] == order["version"]
    assert (await api.client.get(f"/v1/fx/quotes/{q['id']}", headers=api.platform)).json()[
        "used"
    ] is False


async def test_a_full_refund_returns_exactly_the_eur_paid(api: Api) -> None:
    await setup_fx(api)
    order = await fx_order(api, (33_333, 66_667))
    oid = order["order_id"]
    q = await quote(api, 100_000)
    funding = (await api.post(f"/v1/orders/{oid}/fund", {"quote_id": q["id"]}, api.platform)).json()
    await api.webhook(eur_event("payment_intent.succeeded", order, funding))
    r = await api.post(f"/v1/orders/{oid}/cancel", {"reason": "buyer withdrew"}, api.platform)
    assert r.status_code == 200, r.text
    cancelled = await get(api, order)
    (refund,) = cancelled["refunds"]
    assert refund["status"] == "done" and refund["amount"] == 100_000
    assert (refund["fx"]["to_currency"], refund["fx"]["to_amount"]) == ("EUR", funding["amount"])
    assert refund["fx"]["markup_amount"] < 0  # the markup goes back to the buyer
    assert cancelled["held"] == 0


async def test_a_wire_in_another_currency_and_bad_rates_are_refused(api: Api) -> None:
    await setup_fx(api)
    order = await fx_order(api)
    r = await api.post(
        f"/v1/orders/{order['order_id']}/wire-confirmations",
        {"amount": 100_000, "reference": "W-1", "currency": "EUR"},
        api.finance,
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "fx_wire_contract_currency_only"
    bad = {"rates": [{"from_currency": "EUR", "to_currency": "EUR", "mid_rate": "1",
                      "effective_at": api.clock.now().isoformat(), "source": "x"}]}  # fmt: skip
    r = await api.post("/v1/fx/rates", bad, api.finance)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_fx"
    r = await api.post(
        "/v1/fx/quotes",
        {"from_currency": "GBP", "to_currency": "JPY", "amount": 100, "side": "funding"},
        api.platform,
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "fx_rate_unavailable"


async def test_a_rate_too_small_to_quote_and_an_unreadable_csv_are_invalid_fx(api: Api) -> None:
    await setup_fx(api)  # 50 bps
    at = (api.clock.now() - timedelta(hours=1)).isoformat()
    tiny = {"rates": [{"from_currency": "JPY", "to_currency": "KWD", "mid_rate": "0.000000001",
                       "effective_at": at, "source": "x"}]}  # fmt: skip
    assert (await api.post("/v1/fx/rates", tiny, api.finance)).status_code == 201
    r = await api.post(
        "/v1/fx/quotes",
        {"from_currency": "JPY", "to_currency": "KWD", "amount": 100, "side": "payout"},
        api.platform,
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_fx", r.text
    huge = (
        "from_currency,to_currency,mid_rate,effective_at,source\n"
        f'EUR,USD,1.0842,{at},"{"x" * 200_000}"\n'
    )
    r = await api.client.post(
        "/v1/fx/rates/csv",
        content=huge.encode(),
        headers={**api.finance, "Content-Type": "text/csv", "Idempotency-Key": str(uuid.uuid4())},
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_fx", r.text


def charge_event(
    kind: str, order: dict[str, Any], funding: dict[str, Any], **obj: Any
) -> dict[str, Any]:
    """A Stripe-shaped charge.refunded / charge.dispute.* of the order's EUR charge."""
    return {
        "id": f"evt_{uuid.uuid4().hex}",
        "type": kind,
        "data": {
            "object": {
                "payment_intent": funding["stripe_payment_intent_id"],
                "currency": funding["currency"].lower(),
                "metadata": {"order_id": order["order_id"]},
                **obj,
            }
        },
    }


async def ledger_drafts(api: Api, order_id: str) -> list[Any]:
    """What the ledger's posting rules make of what escrow published for the order."""
    async with api.engine.connect() as conn:
        rows = await conn.execute(
            sa.select(outbox.c.envelope)
            .where(outbox.c.envelope["subject"].astext == order_id)
            .order_by(outbox.c.seq)
        )
        envelopes = [Envelope.model_validate(r.envelope) for r in rows]
    return [d for d in (draft_for(e) for e in envelopes) if d is not None]


async def test_a_lost_eur_chargeback_clears_exactly_the_eur_the_bank_took(api: Api) -> None:
    await setup_fx(api)
    order = await fx_order(api, (33_333, 66_667))
    oid = order["order_id"]
    q = await quote(api, 100_000)
    funding = (await api.post(f"/v1/orders/{oid}/fund", {"quote_id": q["id"]}, api.platform)).json()
    assert (funding["currency"], funding["amount"]) == ("EUR", 92_698)
    await api.webhook(eur_event("payment_intent.succeeded", order, funding))
    dp = {"id": f"dp_{uuid.uuid4().hex[:10]}", "object": "dispute", "amount": 40_002}
    opened = await api.webhook(charge_event("charge.dispute.created", order, funding, **dp))
    assert opened.json().get("handled"), opened.text
    assert (await get(api, order))["frozen"] == 43_153  # EUR 40,002 at the locked rate
    lost = await api.webhook(
        charge_event("charge.dispute.closed", order, funding, **dp, status="lost")
    )
    assert lost.json().get("handled"), lost.text
    after = await get(api, order)
    assert (after["frozen"], after["refunded"], after["held"]) == (0, 43_153, 56_847)
    assert sum(r["fx"]["to_amount"] for r in after["refunds"]) == 40_002
    # The ledger: escrow's chargeback refunds credit disputed funds EUR 40,002, what
    # Stripe's dispute debit put there (Dr disputed_funds / Cr Stripe clearing).
    disputed = Counter[str]()
    for draft in await ledger_drafts(api, oid):
        for line in draft.lines:
            if line.code == DISPUTED_FUNDS.code:
                disputed[line.currency] += line.amount
    assert disputed == Counter({"EUR": -40_002})


async def test_dashboard_refunds_of_an_eur_charge_book_their_share_and_empty_it(
    api: Api,
) -> None:
    await setup_fx(api)
    order = await fx_order(api, (33_333, 66_667))
    oid = order["order_id"]
    q = await quote(api, 100_000)
    funding = (await api.post(f"/v1/orders/{oid}/fund", {"quote_id": q["id"]}, api.platform)).json()
    await api.webhook(eur_event("payment_intent.succeeded", order, funding))
    first = {"id": f"re_{uuid.uuid4().hex[:10]}", "object": "refund", "amount": 10_000}
    ch = {"id": f"ch_{uuid.uuid4().hex[:10]}", "object": "charge"}
    answer = await api.webhook(
        charge_event("charge.refunded", order, funding, **ch, refunds={"data": [first]})
    )
    assert answer.json().get("handled"), answer.text
    assert (await get(api, order))["refunded"] == 10_788
    usd = {**first, "id": "re_usd", "currency": "usd"}
    refused = await api.webhook(
        charge_event("charge.refunded", order, funding, **ch, refunds={"data": [first, usd]})
    )
    assert refused.json()["error"] == "currency_mismatch", refused.text
    rest = {"id": f"re_{uuid.uuid4().hex[:10]}", "object": "refund", "amount": 82_698}
    answer = await api.webhook(
        charge_event("charge.refunded", order, funding, **ch, refunds={"data": [first, rest]})
    )
    assert answer.json().get("handled"), answer.text
    after = await get(api, order)
    assert (after["refunded"], after["held"]) == (100_000, 0)
    assert [r["fx"]["to_amount"] for r in after["refunds"]] == [10_000, 82_698]
    clearing = Counter[str]()
    for draft in await ledger_drafts(api, oid):
        for line in draft.lines:
            if line.code == SC:
                clearing[line.currency] += line.amount
    assert clearing["EUR"] == 0  # in 92,698, back out 10,000 + 82,698
