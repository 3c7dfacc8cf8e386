"""Financing's statement agrees with the ledger, to the cent.

The worked example of the issue: a 70 % advance on a funded 30/40/30 order of USD 100,000.00
(1 % platform fee). Every escrow event and every financing event is posted by the ledger's
own consumer handler, in the order they happened; the ledger is read over its HTTP API.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from services.financing.bootstrap import timers
from services.ledger.bootstrap import DEFINITION as LEDGER
from services.ledger.entrypoints.consumers import post_events
from shared.db import outbox
from shared.events import Envelope
from shared.events import escrow as ev
from shared.http.app import create_service_app
from shared.settings import Settings
from shared.timers import TimerWorker
from tests.integration.financing.conftest import (
    Harness,
    escrow_event,
    feed,
    funded,
    new_order,
    released,
)
from tests.support.keys import bearer, new_key
from tests.unit.financing.builders import T0

pytestmark = pytest.mark.integration
DAY = timedelta(days=1)


class Books:
    """Posts events to the ledger as they happen and reads balances back over its API."""

    def __init__(
        self, h: Harness, ledger: httpx.AsyncClient, engine: AsyncEngine, tenant: str, order_id: str
    ) -> None:
        self.h, self.ledger, self.engine, self.tenant, self.order_id = (
            h,
            ledger,
            engine,
            tenant,
            order_id,
        )
        self.seq = 0
        self.headers: dict[str, str] = {}
        self.financing_keys: dict[str, dict[str, str]] = {}

    async def escrow(self, *payloads: Any, **kw: Any) -> None:
        envs = [escrow_event(p, self.order_id, self.tenant, **kw) for p in payloads]
        await feed(self.h, *envs)
        await self.post(envs)
        await self.financing_happened()

    async def financing_happened(self) -> None:
        async with self.h.engine.connect() as conn:
            rows = (
                await conn.execute(
                    sa.select(outbox.c.seq, outbox.c.envelope)
                    .where(outbox.c.key == self.order_id, outbox.c.seq > self.seq)
                    .order_by(outbox.c.seq)
                )
            ).all()
        if rows:
            self.seq = rows[-1].seq
            await self.post([Envelope.model_validate(r.envelope) for r in rows])

    async def post(self, envs: list[Envelope]) -> None:
        for env in envs:
            async with self.engine.begin() as conn:
                await post_events(conn, [env])

    async def balance(self, code: str, subledger: str) -> int:
        accounts = (
            await self.ledger.get(
                f"/v1/ledger/accounts?code={code}&currency=USD", headers=self.headers
            )
        ).json()
        match = [a for a in accounts if a["subledger"] == subledger]
        if not match:
            return 0
        r = await self.ledger.get(
            f"/v1/ledger/accounts/{match[0]['id']}/balance", headers=self.headers
        )
        return int(r.json()["balance"])


@pytest.fixture
async def ledger_client(migrated: Settings, harness: Harness) -> AsyncIterator[httpx.AsyncClient]:
    app = create_service_app(
        service="ledger", bootstrap=lambda: LEDGER.bootstrap(migrated), routers=LEDGER.routers()
    )
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ledger") as c,
    ):
        yield c


async def test_a_70_percent_advance_repaid_by_releases_agrees_with_the_ledger(
    harness: Harness,
    client: httpx.AsyncClient,
    ledger_client: httpx.AsyncClient,
    service_engines: dict[str, AsyncEngine],
) -> None:
    tenant = f"tl-{uuid.uuid4().hex[:8]}"
    order = new_order()
    oid = order.order_id
    books = Books(harness, ledger_client, service_engines["ledger"], tenant, oid)
    books.headers = bearer(await new_key(harness.identity, tenant, ["finance"], "auditor"))
    sup = await new_key(harness.identity, tenant, ["supplier"], "supplier-portal")
    fin = await new_key(harness.identity, tenant, ["finance"], "finance-desk")

    def h(raw: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {raw}", "Idempotency-Key": uuid.uuid4().hex}

    harness.clock.set(T0)
    await books.escrow(order, occurred_at=T0)
    await books.escrow(funded(oid), released(oid, "m1", 3_000_000, held_after=7_000_000))
    harness.clock.set(T0 + 10 * DAY)
    r = await client.put("/v1/policies/USD", json={"advance_rate_bps": 7_000}, headers=h(fin))
    assert r.status_code == 200, r.text

    offer = (
        await client.post("/v1/quotes", json={"order_id": oid, "supplier_id": "s1"}, headers=h(sup))
    ).json()
    # 70 % of 69,300.00 (held 70,000.00 less the 1 % platform fee on both releases)
    assert (offer["principal"], offer["term_days"], offer["fee"]) == (4_851_000, 60, 145_530)
    aid = offer["advance_id"]
    await client.post(f"/v1/advances/{aid}/accept", json={"supplier_id": "s1"}, headers=h(sup))
    await books.financing_happened()
    await books.escrow(
        ev.LienPlaced(order_id=oid, advance_id=aid, amount=4_851_000, currency="USD")
    )
    assert await books.balance("advance_receivable", aid) == 4_851_000
    assert await books.balance("deferred_fee_income", aid) == 145_530

    worker = TimerWorker(harness.engine, timers(harness.container), clock=harness.clock)
    for _ in range(20):  # twenty daily ticks: 20/60 of the fee earned
        harness.clock.advance(DAY)
        await worker.fire_due()
    await books.financing_happened()
    # 1,455.30 over 60 days is 24.255 a day: largest remainder gives the first 30 days 24.26
    assert await books.balance("deferred_fee_income", aid) == 145_530 - 20 * 2_426

    # shipment: 40,000.00 less 400.00 fee; all 39,600.00 repays the advance
    await books.escrow(
        released(oid, "m2", 4_000_000, lien=3_960_000, advance_id=aid, held_after=3_000_000)
    )
    statement = (await client.get(f"/v1/advances/{aid}/statement", headers=h(fin))).json()
    assert statement["balance"] == 891_000 == await books.balance("advance_receivable", aid)

    # inspection: 30,000.00 less 300.00 fee; 8,910.00 closes the advance, 20,790.00 to the supplier
    harness.clock.advance(40 * DAY)
    m3 = released(oid, "m3", 3_000_000, lien=891_000, advance_id=aid, held_after=0)
    assert m3.supplier_net == 2_079_000
    await books.escrow(m3)
    statement = (await client.get(f"/v1/advances/{aid}/statement", headers=h(fin))).json()
    assert statement["balance"] == 0 == await books.balance("advance_receivable", aid)
    assert await books.balance("deferred_fee_income", aid) == 0
    assert statement["totals"]["fee_earned"] == 145_530
    assert await books.balance("escrow_held", oid) == 0

    # the supplier received everything but the platform's fees and the advance fee, to the cent
    supplier_cash = 2_970_000 + statement["totals"]["net_disbursed"] + m3.supplier_net
    assert supplier_cash == 10_000_000 - 100_000 - 145_530
    trial = (await ledger_client.get("/v1/ledger/trial-balance", headers=books.headers)).json()
    (usd,) = [c for c in trial["currencies"] if c["currency"] == "USD"]
    assert usd["difference"] == 0 and usd["total_debit"] == usd["total_credit"] > 0


async def _books_for_new_order(
    harness: Harness,
    ledger_client: httpx.AsyncClient,
    service_engines: dict[str, AsyncEngine],
) -> tuple[Books, dict[str, str], dict[str, str]]:
    """A funded 30/40/30 order with its deposit released, posted to the ledger; day 10.
    Returns the books and the financing supplier and finance keys of a fresh tenant."""
    tenant = f"tl-{uuid.uuid4().hex[:8]}"
    order = new_order()
    oid = order.order_id
    books = Books(harness, ledger_client, service_engines["ledger"], tenant, oid)
    books.headers = bearer(await new_key(harness.identity, tenant, ["finance"], "auditor"))
    sup = await new_key(harness.identity, tenant, ["supplier"], "supplier-portal")
    fin = await new_key(harness.identity, tenant, ["finance"], "finance-desk")
    harness.clock.set(T0)
    await books.escrow(order, occurred_at=T0)
    await books.escrow(funded(oid), released(oid, "m1", 3_000_000, held_after=7_000_000))
    harness.clock.set(T0 + 10 * DAY)
    return books, {"Authorization": f"Bearer {sup}"}, {"Authorization": f"Bearer {fin}"}


def _idem(keys: dict[str, str]) -> dict[str, str]:
    return {**keys, "Idempotency-Key": uuid.uuid4().hex}


async def _accepted(client: httpx.AsyncClient, books: Books, sup: dict[str, str]) -> str:
    body = {"order_id": books.order_id, "supplier_id": "s1", "amount": 4_851_000}
    aid: str = (await client.post("/v1/quotes", json=body, headers=_idem(sup))).json()["advance_id"]
    r = await client.post(
        f"/v1/advances/{aid}/accept", json={"supplier_id": "s1"}, headers=_idem(sup)
    )
    assert r.status_code == 200, r.text
    await books.financing_happened()
    return aid


async def test_a_release_before_the_disbursement_agrees_with_the_ledger(
    harness: Harness,
    client: httpx.AsyncClient,
    ledger_client: httpx.AsyncClient,
    service_engines: dict[str, AsyncEngine],
) -> None:
    """escrow.lien_placed was parked (Stripe refused the platform's key) while escrow went on: the shipment
    release repaid the lien before financing paid out; the parked lien_placed replays later."""
    books, sup, fin = await _books_for_new_order(harness, ledger_client, service_engines)
    oid = books.order_id
    aid = await _accepted(client, books, sup)
    placed = ev.LienPlaced(order_id=oid, advance_id=aid, amount=4_851_000, currency="USD")
    await books.escrow(
        released(oid, "m2", 4_000_000, lien=3_960_000, advance_id=aid, held_after=3_000_000)
    )
    await books.escrow(placed)  # replayed from the dead letters
    a = (await client.get(f"/v1/advances/{aid}", headers=fin)).json()
    assert (a["state"], a["balance"]) == ("partially_repaid", 891_000)
    statement = (await client.get(f"/v1/advances/{aid}/statement", headers=fin)).json()
    assert statement["balance"] == 891_000 == await books.balance("advance_receivable", aid)


async def test_a_release_after_early_payoff_agrees_with_the_ledger(
    harness: Harness,
    client: httpx.AsyncClient,
    ledger_client: httpx.AsyncClient,
    service_engines: dict[str, AsyncEngine],
) -> None:
    """The supplier paid off early; escrow released the shipment before it saw the lien
    release: the overpayment is due back to the supplier, in the statement as in the ledger."""
    books, sup, fin = await _books_for_new_order(harness, ledger_client, service_engines)
    oid = books.order_id
    aid = await _accepted(client, books, sup)
    await books.escrow(
        ev.LienPlaced(order_id=oid, advance_id=aid, amount=4_851_000, currency="USD")
    )
    r = await client.post(
        f"/v1/advances/{aid}/repay-early", json={"supplier_id": "s1"}, headers=_idem(sup)
    )
    assert r.status_code == 200, r.text
    await books.financing_happened()
    await books.escrow(
        released(oid, "m2", 4_000_000, lien=3_960_000, advance_id=aid, held_after=3_000_000)
    )
    a = (await client.get(f"/v1/advances/{aid}", headers=fin)).json()
    assert (a["state"], a["unapplied"]) == ("repaid", 3_960_000)
    statement = (await client.get(f"/v1/advances/{aid}/statement", headers=fin)).json()
    assert statement["balance"] == -3_960_000 == await books.balance("advance_receivable", aid)
