"""Races on one advance, with real concurrency against the real database.

Contenders run as concurrent asyncio tasks, each in its own transaction: API requests in
process (each with its own Idempotency-Key, as two clients would send them), escrow's
events applied by financing's handler the way the inbox consumer applies them, and a real
timer worker whose clock stands at the offer's expiry. Every race is repeated with random
start jitter.

After every race: no 5xx; the losers refused with a typed 409; exactly one valid outcome;
balance >= 0 and principal = repayments + early payoff + rebate + write-off + balance, with
the one documented exception (a release repaying an advance already settled: ``unapplied``,
due back to the supplier, and the statement's balance below zero by as much); no money
event twice (one lien request per acceptance, one early payoff, one write-off, recoveries
never beyond the loss).
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from services.financing.bootstrap import timers
from shared.clock import ManualClock
from shared.db import outbox
from shared.events import escrow as ev
from shared.timers import TimerWorker
from tests.integration.financing.conftest import (
    Harness,
    escrow_event,
    feed,
    funded_order,
    released,
)
from tests.support.keys import bearer, new_key

pytestmark = pytest.mark.integration
ROUNDS = 20
AMOUNT = 4_900_000  # 70 % of the 70,000.00 still held: repaid by two releases


@dataclass
class Book:
    """A tenant of its own (no policy: no limit binds) with a bound supplier key."""

    client: httpx.AsyncClient
    h: Harness
    tenant: str
    supplier: dict[str, str]
    finance: dict[str, str]

    async def post(self, path: str, body: dict[str, Any], who: dict[str, str]) -> httpx.Response:
        headers = {**who, "Idempotency-Key": uuid.uuid4().hex}
        return await self.client.post(path, json=body, headers=headers)

    async def advance(self, aid: str) -> dict[str, Any]:
        r = await self.client.get(f"/v1/advances/{aid}", headers=self.finance)
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def offered(self) -> tuple[str, str, datetime]:
        oid = await funded_order(self.h, tenant=self.tenant)
        r = await self.post("/v1/quotes", {"order_id": oid, "amount": AMOUNT}, self.supplier)
        assert r.status_code == 201, r.text
        return oid, r.json()["advance_id"], datetime.fromisoformat(r.json()["expires_at"])

    async def disbursed(self) -> tuple[str, str]:
        oid, aid, _ = await self.offered()
        r = await self.post(f"/v1/advances/{aid}/accept", {}, self.supplier)
        assert r.status_code == 200, r.text
        placed = ev.LienPlaced(order_id=oid, advance_id=aid, amount=AMOUNT, currency="USD")
        await feed(self.h, escrow_event(placed, oid, self.tenant))
        assert (await self.advance(aid))["state"] == "disbursed"
        return oid, aid

    async def defaulted(self) -> tuple[str, str]:
        oid, aid = await self.disbursed()
        r = await self.post(f"/v1/advances/{aid}/default", {"reason": "gone"}, self.finance)
        assert r.status_code == 200, r.text
        return oid, aid

    async def written_off(self) -> tuple[str, str, int]:
        oid, aid = await self.defaulted()
        r = await self.post(f"/v1/advances/{aid}/write-off", {"reason": "lost"}, self.finance)
        assert r.status_code == 200, r.text
        return oid, aid, int(r.json()["written_off"])

    def escrow_says(self, oid: str, payload: ev.EventModel) -> Callable[[], Awaitable[None]]:
        """An escrow event on the order, applied the way financing's consumer applies it."""
        return partial(feed, self.h, escrow_event(payload, oid, self.tenant))

    def release(self, oid: str, aid: str, repayment: int) -> Callable[[], Awaitable[None]]:
        """escrow.milestone_released repaying ``repayment`` of the lien."""
        payload = released(oid, "m2", 4_000_000, lien=repayment, advance_id=aid)
        return self.escrow_says(oid, payload)

    async def events(self, oid: str) -> Counter[str]:
        async with self.h.engine.connect() as conn:
            rows = await conn.execute(
                sa.select(outbox.c.envelope["type"].astext).where(outbox.c.key == oid)
            )
            return Counter(rows.scalars())

    async def check(self, aid: str) -> dict[str, Any]:
        """The balance rules, and the statement agreeing with the advance."""
        a = await self.advance(aid)
        r = await self.client.get(f"/v1/advances/{aid}/statement", headers=self.finance)
        statement = r.json()
        t = statement["totals"]
        assert a["balance"] >= 0, a
        if a["disbursed_at"] is not None:
            assert t["principal"] == a["principal"], statement
            settled = t["repaid"] + t["repaid_early"] + t["fee_rebated"] + t["written_off"]
            assert a["principal"] == settled + a["balance"], (a, t)
        assert t["unapplied"] == a["unapplied"], (a, t)
        if a["unapplied"]:  # the documented case: repaid beyond what was owed
            assert a["state"] in ("repaid", "written_off", "recovered", "cancelled"), a
        assert statement["balance"] == a["balance"] - a["unapplied"], statement
        return a


@pytest.fixture
async def book(client: httpx.AsyncClient, harness: Harness) -> Book:
    tenant = f"race-{uuid.uuid4().hex[:6]}"
    supplier = await new_key(harness.identity, tenant, ["supplier"], "s1", party_id="s1")
    finance = await new_key(harness.identity, tenant, ["finance"], "finance")
    return Book(client, harness, tenant, bearer(supplier), bearer(finance))


async def race(*contenders: Callable[[], Awaitable[Any]]) -> list[Any]:
    async def run(contender: Callable[[], Awaitable[Any]]) -> Any:
        await asyncio.sleep(random.uniform(0, 0.02))
        return await contender()

    return list(await asyncio.gather(*(run(c) for c in contenders)))


def refused(r: httpx.Response, *codes: str) -> bool:
    """A loser: refused with a typed 409 (or the typed 422 of a limit), never a 5xx."""
    assert r.status_code in (409, 422), f"{r.status_code} {r.text}"
    code = r.json()["error"]["code"]
    assert code in (*codes, "concurrent_modification"), r.text
    return True


async def test_concurrent_acceptances_of_one_offer_accept_it_once(book: Book) -> None:
    for _ in range(ROUNDS):
        oid, aid, _ = await book.offered()
        accept = partial(book.post, f"/v1/advances/{aid}/accept", {}, book.supplier)
        results = await race(*[accept] * 5)
        assert sum(r.status_code == 200 for r in results) == 1, [r.text for r in results]
        assert all(refused(r, "offer_not_open") for r in results if r.status_code != 200)
        assert (await book.check(aid))["state"] == "accepted"
        assert (await book.events(oid))["financing.lien_requested"] == 1


async def test_two_offers_on_one_order_accepted_at_once_leave_one_live_advance(
    book: Book,
) -> None:
    for _ in range(ROUNDS):
        oid, first, _ = await book.offered()
        again = await book.post("/v1/quotes", {"order_id": oid, "amount": AMOUNT}, book.supplier)
        second = again.json()["advance_id"]
        results = await race(
            partial(book.post, f"/v1/advances/{first}/accept", {}, book.supplier),
            partial(book.post, f"/v1/advances/{second}/accept", {}, book.supplier),
        )
        assert sum(r.status_code == 200 for r in results) == 1, [r.text for r in results]
        assert all(
            refused(r, "advance_refused", "conflict") for r in results if r.status_code != 200
        )
        states = sorted([(await book.advance(a))["state"] for a in (first, second)])
        assert states == ["accepted", "offered"]
        assert (await book.events(oid))["financing.lien_requested"] == 1


async def test_a_second_acceptance_racing_escrows_answers_on_the_order_is_refused(
    book: Book,
) -> None:
    # The supplier's double click: a second accept of an accepted advance arrives while
    # escrow's lien_placed (and a dispute opened on the order) are being applied.
    for _ in range(ROUNDS):
        oid, aid, _ = await book.offered()
        accept = partial(book.post, f"/v1/advances/{aid}/accept", {}, book.supplier)
        assert (await accept()).status_code == 200
        placed = ev.LienPlaced(order_id=oid, advance_id=aid, amount=AMOUNT, currency="USD")
        disputed = ev.DisputeOpened(
            order_id=oid,
            dispute_id=f"d-{aid}",
            milestone_id="m2",
            amount=4_000_000,
            currency="USD",
            reason="short shipment",
        )
        results = await race(
            accept, accept, book.escrow_says(oid, placed), book.escrow_says(oid, disputed)
        )
        assert all(refused(r, "offer_not_open") for r in results[:2])
        a = await book.check(aid)
        assert a["state"] in ("disbursed", "frozen") and a["disbursed_at"] is not None, a
        assert len([c for c in book.h.gateway.calls if c["metadata"]["advance_id"] == aid]) == 1


async def test_an_acceptance_racing_the_offer_expiry_timer_ends_in_one_state(
    book: Book,
) -> None:
    outcomes: Counter[str] = Counter()
    for _ in range(ROUNDS):
        oid, aid, expires_at = await book.offered()
        # The supplier accepts a moment before the expiry; the timer fires at the expiry.
        book.h.clock.set(expires_at - timedelta(milliseconds=1))
        worker = TimerWorker(book.h.engine, timers(book.h.container), clock=ManualClock(expires_at))
        accepted, _ = await race(
            partial(book.post, f"/v1/advances/{aid}/accept", {}, book.supplier), worker.fire_due
        )
        await worker.fire_due()  # a timer pushed back by a conflict fires again
        state = (await book.check(aid))["state"]
        events = await book.events(oid)
        if accepted.status_code == 200:
            assert state == "accepted" and events["financing.lien_requested"] == 1
        else:
            assert refused(accepted, "offer_not_open")
            assert state == "expired" and events["financing.lien_requested"] == 0
        outcomes[state] += 1
    assert set(outcomes) <= {"accepted", "expired"}


async def test_an_early_payoff_racing_a_release_repayment_settles_the_advance_once(
    book: Book,
) -> None:
    for _ in range(ROUNDS):
        oid, aid = await book.disbursed()
        book.h.clock.advance(timedelta(days=random.randint(0, 30)))
        repay = partial(book.post, f"/v1/advances/{aid}/repay-early", {}, book.supplier)
        paid, _ = await race(repay, book.release(oid, aid, 3_960_000))
        a = await book.check(aid)
        events = await book.events(oid)
        if paid.status_code == 200:
            assert (a["state"], a["balance"]) == ("repaid", 0), a
            assert events["financing.advance_repaid_early"] == 1
            # The release arrived after the payoff: its repayment is unapplied, not lost.
            assert a["unapplied"] in (0, 3_960_000), a
        else:
            assert refused(paid, "nothing_to_repay")
        assert events["financing.repayment_applied"] == 1
        assert events["financing.lien_release_requested"] <= 1


async def test_a_write_off_racing_an_early_payoff_leaves_one_of_them(book: Book) -> None:
    for _ in range(ROUNDS):
        oid, aid = await book.defaulted()
        write_off, repay = await race(
            partial(book.post, f"/v1/advances/{aid}/write-off", {"reason": "lost"}, book.finance),
            partial(book.post, f"/v1/advances/{aid}/repay-early", {}, book.supplier),
        )
        assert (write_off.status_code == 200) != (repay.status_code == 200), (
            write_off.text,
            repay.text,
        )
        a = await book.check(aid)
        events = await book.events(oid)
        if write_off.status_code == 200:
            assert refused(repay, "nothing_to_repay")
            assert (a["state"], events["financing.advance_written_off"]) == ("written_off", 1)
            assert events["financing.advance_repaid_early"] == 0
        else:
            assert refused(write_off, "not_defaulted")
            assert (a["state"], events["financing.advance_repaid_early"]) == ("repaid", 1)
            assert events["financing.advance_written_off"] == 0
        assert events["financing.lien_release_requested"] == 1


async def test_a_default_racing_a_write_off_never_writes_off_what_was_not_defaulted(
    book: Book,
) -> None:
    for _ in range(ROUNDS):
        oid, aid = await book.disbursed()
        default, write_off = await race(
            partial(book.post, f"/v1/advances/{aid}/default", {"reason": "gone"}, book.finance),
            partial(book.post, f"/v1/advances/{aid}/write-off", {"reason": "lost"}, book.finance),
        )
        assert default.status_code == 200, default.text
        a = await book.check(aid)
        events = await book.events(oid)
        if write_off.status_code == 200:  # it came second: default, then write-off
            assert (a["state"], a["written_off"], a["balance"]) == ("written_off", AMOUNT, 0)
            assert events["financing.advance_written_off"] == 1
        else:
            assert refused(write_off, "not_defaulted")
            assert (a["state"], a["written_off"]) == ("defaulted", 0)
            assert events["financing.advance_written_off"] == 0


async def test_concurrent_recoveries_never_recover_more_than_the_loss(book: Book) -> None:
    for _ in range(ROUNDS):
        oid, aid, lost = await book.written_off()
        part = lost // 3 + 1  # three of them would exceed the loss by up to three units
        recover = partial(
            book.post, f"/v1/advances/{aid}/recoveries", {"amount": part}, book.finance
        )
        results = await race(*[recover] * 4)
        won = [r for r in results if r.status_code == 201]
        assert len(won) == 2, [r.text for r in results]
        assert all(refused(r, "recovery_exceeds_loss") for r in results if r.status_code != 201)
        a = await book.check(aid)
        assert (a["recovered"], a["state"]) == (2 * part, "written_off")
        assert (await book.events(oid))["financing.recovery_recorded"] == 2
