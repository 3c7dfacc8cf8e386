"""After disbursement: releases repay (fee first), the fee amortises daily, early payoff
rebates, disputes freeze, refunds create recourse, finance defaults and writes off."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from services.financing.bootstrap import timers
from shared.db import outbox
from shared.events import escrow as ev
from shared.timers import TimerWorker
from tests.integration.financing.conftest import Harness, escrow_event, feed, funded_order, released

pytestmark = pytest.mark.integration
DAY = timedelta(days=1)


async def call(
    client: httpx.AsyncClient, h: Harness, who: str, path: str, body: dict[str, Any]
) -> dict[str, Any]:
    r = await client.post(
        path, json=body, headers={**h.keys[who], "Idempotency-Key": uuid.uuid4().hex}
    )
    assert r.status_code < 300, r.text
    return r.json()


async def disbursed(
    client: httpx.AsyncClient, h: Harness, amount: int = 4_900_000
) -> tuple[str, str]:
    """A 70 % advance (49,000.00 of the 70,000.00 held) on a 30/40/30 order, paid out on day 10."""
    oid = await funded_order(h)
    q = await call(
        client,
        h,
        "t1-supplier",
        "/v1/quotes",
        {"order_id": oid, "supplier_id": "s1", "amount": amount},
    )
    aid = q["advance_id"]
    await call(client, h, "t1-supplier", f"/v1/advances/{aid}/accept", {"supplier_id": "s1"})
    await feed(
        h,
        escrow_event(
            ev.LienPlaced(order_id=oid, advance_id=aid, amount=amount, currency="USD"), oid
        ),
    )
    return oid, aid


async def get(client: httpx.AsyncClient, h: Harness, path: str) -> dict[str, Any]:
    return (await client.get(path, headers=h.keys["t1-finance"])).json()


async def test_releases_repay_fee_first_and_the_statement_agrees(
    client: httpx.AsyncClient, harness: Harness
) -> None:
    oid, aid = await disbursed(client, harness)
    a = await get(client, harness, f"/v1/advances/{aid}")
    # 49,000.00 needs both releases (shipment nets 39,600.00): repaid day 70, 60 days from 10
    assert (a["state"], a["term_days"], a["fee"], a["balance"]) == (
        "disbursed",
        60,
        147_000,
        4_900_000,
    )
    harness.clock.advance(20 * DAY)
    await feed(
        harness,
        escrow_event(
            released(oid, "m2", 4_000_000, lien=3_960_000, advance_id=aid, held_after=3_000_000),
            oid,
        ),
    )
    a = await get(client, harness, f"/v1/advances/{aid}")
    assert (a["state"], a["balance"], a["fee_due"]) == ("partially_repaid", 940_000, 0)
    harness.clock.advance(40 * DAY)
    await feed(
        harness, escrow_event(released(oid, "m3", 3_000_000, lien=940_000, advance_id=aid), oid)
    )
    a = await get(client, harness, f"/v1/advances/{aid}")
    assert (a["state"], a["balance"], a["fee_earned"]) == ("repaid", 0, 147_000)
    s = await get(client, harness, f"/v1/advances/{aid}/statement")
    assert [line["kind"] for line in s["lines"]] == [
        "disbursed",
        "repayment",
        "repayment",
        "fee_earned",  # the deferred fee, earned in full at repayment (no tick ran here)
    ]
    assert s["lines"][1]["detail"] == {"to_fee": 147_000, "to_principal": 3_813_000}
    assert s["totals"]["principal"] == s["totals"]["repaid"] == 4_900_000
    assert s["totals"]["net_disbursed"] == 4_753_000 and s["balance"] == 0


async def test_the_daily_timer_amortises_and_early_payoff_rebates(
    client: httpx.AsyncClient, harness: Harness
) -> None:
    _, aid = await disbursed(client, harness)
    worker = TimerWorker(harness.engine, timers(harness.container), clock=harness.clock)
    for _ in range(3):
        harness.clock.advance(DAY)
        await worker.fire_due()
    a = await get(client, harness, f"/v1/advances/{aid}")
    assert a["fee_earned"] == 3 * 2_450  # 1,470.00 over 60 days
    assert a["payoff_now"] == {"amount": 4_900_000 - 147_000 + 7_350, "fee_rebate": 147_000 - 7_350}
    paid = await call(
        client,
        harness,
        "t1-supplier",
        f"/v1/advances/{aid}/repay-early",
        {"supplier_id": "s1", "payment_reference": "pi_payoff"},
    )
    assert (paid["state"], paid["balance"]) == ("repaid", 0)
    s = await get(client, harness, f"/v1/advances/{aid}/statement")
    assert s["totals"]["fee_rebated"] == 139_650 and s["totals"]["repaid_early"] == 4_760_350
    assert s["totals"]["fee_earned"] + s["totals"]["fee_rebated"] == s["totals"]["fee"]
    harness.clock.advance(5 * DAY)
    await worker.fire_due()  # the next tick finds nothing left to earn
    assert (await get(client, harness, f"/v1/advances/{aid}"))["fee_earned"] == 7_350


async def test_dispute_freezes_refund_claims_recourse_then_default_write_off_recovery(
    client: httpx.AsyncClient, harness: Harness
) -> None:
    oid, aid = await disbursed(client, harness)
    opened = ev.DisputeOpened(
        order_id=oid,
        dispute_id="d1",
        milestone_id="m2",
        amount=4_000_000,
        currency="USD",
        reason="damaged",
    )
    await feed(harness, escrow_event(opened, oid))
    assert (await get(client, harness, f"/v1/advances/{aid}"))["state"] == "frozen"
    resolved = ev.DisputeResolved(
        order_id=oid,
        dispute_id="d1",
        milestone_id="m2",
        outcome="refund",
        release_amount=0,
        refund_amount=4_000_000,
        currency="USD",
    )
    refund = ev.Refunded(
        order_id=oid,
        refund_id="r1",
        payment_id=None,
        amount=4_000_000,
        currency="USD",
        stripe_refund_id="re_1",
        reason="dispute",
        held_after=3_000_000,
    )
    await feed(harness, escrow_event(resolved, oid), escrow_event(refund, oid))
    a = await get(client, harness, f"/v1/advances/{aid}")
    # only the 30,000.00 inspection release is left: it can repay 29,700.00 of 49,000.00
    assert (a["state"], a["recourse"]) == ("recourse", 4_900_000 - 2_970_000)
    fin = "t1-finance"
    await call(
        client, harness, fin, f"/v1/advances/{aid}/default", {"reason": "supplier unreachable"}
    )
    a = await call(
        client, harness, fin, f"/v1/advances/{aid}/write-off", {"reason": "uncollectable"}
    )
    assert (a["state"], a["written_off"], a["balance"]) == ("written_off", 4_900_000, 0)
    a = await call(client, harness, fin, f"/v1/advances/{aid}/recoveries", {"amount": 1_000_000})
    assert a["recovered"] == 1_000_000
    r = await client.post(
        f"/v1/advances/{aid}/recoveries",
        json={"amount": 3_900_001},
        headers={**harness.keys[fin], "Idempotency-Key": "x" + aid},
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "recovery_exceeds_loss"
    s = await get(client, harness, f"/v1/advances/{aid}/statement")
    assert s["balance"] == 0 and s["totals"]["written_off"] == 4_900_000
    assert s["totals"]["recovered"] == 1_000_000 and s["totals"]["fee_earned"] == s["totals"]["fee"]


async def test_an_order_cancelled_while_the_lien_is_pending_cancels_and_releases(
    client: httpx.AsyncClient, harness: Harness
) -> None:
    oid = await funded_order(harness)
    q = await call(
        client, harness, "t1-supplier", "/v1/quotes", {"order_id": oid, "supplier_id": "s1"}
    )
    aid = q["advance_id"]
    await call(client, harness, "t1-supplier", f"/v1/advances/{aid}/accept", {"supplier_id": "s1"})
    cancelled = ev.Cancelled(
        order_id=oid, reason="buyer withdrew", refund_amount=7_000_000, currency="USD"
    )
    await feed(harness, escrow_event(cancelled, oid))
    a = await get(client, harness, f"/v1/advances/{aid}")
    assert (a["state"], a["balance"]) == ("cancelled", 0)
    async with harness.engine.connect() as conn:
        last = (
            await conn.execute(
                select(outbox.c.envelope)
                .where(outbox.c.key == oid)
                .order_by(outbox.c.seq.desc())
                .limit(1)
            )
        ).scalar_one()
    assert last["type"] == "financing.lien_release_requested"
    assert last["data"]["reason"] == "order_cancelled"


async def test_an_order_completed_with_a_balance_left_claims_recourse(
    client: httpx.AsyncClient, harness: Harness
) -> None:
    oid, aid = await disbursed(client, harness)
    completed = ev.Completed(
        order_id=oid, currency="USD", released_total=3_000_000, refunded_total=7_000_000,
        held_after=0,
    )  # fmt: skip
    await feed(harness, escrow_event(completed, oid))
    a = await get(client, harness, f"/v1/advances/{aid}")
    assert (a["state"], a["recourse"], a["balance"]) == ("recourse", 4_900_000, 4_900_000)


async def test_a_dispute_opened_before_the_payout_freezes_the_advance_once_paid_out(
    client: httpx.AsyncClient, harness: Harness
) -> None:
    oid = await funded_order(harness)
    q = await call(
        client,
        harness,
        "t1-supplier",
        "/v1/quotes",
        {"order_id": oid, "supplier_id": "s1", "amount": 4_900_000},
    )
    aid = q["advance_id"]
    await call(client, harness, "t1-supplier", f"/v1/advances/{aid}/accept", {"supplier_id": "s1"})
    opened = ev.DisputeOpened(
        order_id=oid, dispute_id="d1", milestone_id="m2", amount=4_000_000, currency="USD",
        reason="damaged",
    )  # fmt: skip
    placed = ev.LienPlaced(order_id=oid, advance_id=aid, amount=4_900_000, currency="USD")
    await feed(harness, escrow_event(opened, oid), escrow_event(placed, oid))
    a = await get(client, harness, f"/v1/advances/{aid}")
    assert (a["state"], a["balance"]) == ("frozen", 4_900_000)
    resolved = ev.DisputeResolved(
        order_id=oid, dispute_id="d1", milestone_id="m2", outcome="release",
        release_amount=4_000_000, refund_amount=0, currency="USD",
    )  # fmt: skip
    await feed(harness, escrow_event(resolved, oid))
    assert (await get(client, harness, f"/v1/advances/{aid}"))["state"] == "disbursed"
