"""Races on one escrow, with real concurrency against the real database and stripe-mock.

Contenders run as concurrent asyncio tasks, each on its own database connection: HTTP
requests in process, the signed Stripe webhook, and a real timer worker whose clock stands
at the end of the inspection window (or past the settlement grace), so it fires at the
same moment. Random start jitter (drawn by hypothesis, which also picks who runs) varies
the interleaving from one example to the next; a pause inside the Stripe gateway widens the
window between a reservation and its completion.

After every race: no 5xx; every loser refused with a typed 409; held = funded - released -
refunded >= 0 and nothing promised or frozen beyond what is held; exactly one decisive
outcome; every payout and refund moved money once (one Stripe idempotency key per
reservation, one event in the outbox per completed movement).
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from services.escrow.bootstrap import DEFINITION
from services.escrow.service_layer.gateway import PaymentGateway, PaymentIntent
from shared.clock import ManualClock
from shared.db import outbox
from shared.timers import TimerWorker
from tests.integration.escrow.conftest import Api, order_body, pi_event

pytestmark = pytest.mark.integration
Order = dict[str, Any]
REFUSALS = {"invalid_transition", "insufficient_funds", "concurrent_modification"}
EXAMPLES = settings(
    max_examples=20,
    deadline=None,
    phases=[
        Phase.explicit,
        Phase.reuse,
        Phase.generate,
    ],  # each example is a real race: no shrinking
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


class CountingGateway(PaymentGateway):
    """The real gateway (stripe-mock), counting money movements by idempotency key per order.

    Stripe moves money once per idempotency key (stripe-mock does not replay, so the calls
    themselves are counted by key); a random pause before each call widens the windows.
    """

    def __init__(self, real: PaymentGateway, pause: float = 0.03) -> None:
        self.real, self.pause = real, pause
        self.transfers: dict[str, Counter[str]] = defaultdict(Counter)
        self.refunds: dict[str, Counter[str]] = defaultdict(Counter)

    async def create_payment_intent(self, **kw: Any) -> PaymentIntent:
        return await self.real.create_payment_intent(**kw)

    async def transfer(self, **kw: Any) -> str:
        self.transfers[kw["metadata"]["order_id"]][kw["idempotency_key"]] += 1
        await asyncio.sleep(random.uniform(0, self.pause))
        return await self.real.transfer(**kw)

    async def refund(self, **kw: Any) -> str:
        self.refunds[kw["metadata"]["order_id"]][kw["idempotency_key"]] += 1
        await asyncio.sleep(random.uniform(0, self.pause))
        return await self.real.refund(**kw)

    def verify_webhook(self, payload: bytes, signature: str | None) -> Any:
        return self.real.verify_webhook(payload, signature)


@pytest.fixture(scope="module")
async def stripe(api: Api) -> AsyncIterator[CountingGateway]:
    real = api.container.gateway
    counting = CountingGateway(real)
    api.container.gateway = counting
    yield counting
    api.container.gateway = real


def worker(api: Api, at: datetime) -> TimerWorker:
    """A timer worker (the real handlers, our counting gateway) whose clock stands at ``at``."""
    return TimerWorker(api.engine, DEFINITION.timers(api.container), clock=ManualClock(at))


async def card_funded_order(api: Api, window: int = 600) -> tuple[Order, dict[str, Any]]:
    """One 100,000 contract milestone, paid by card (PaymentIntent + signed webhook): its
    inspection window is open from now until ``window`` seconds later."""
    body = order_body((100_000,), ("contract",), window=window)
    order = (await api.post("/v1/orders", body, api.platform)).json()
    funding = (await api.post(f"/v1/orders/{order['order_id']}/fund", {}, api.platform)).json()
    assert (await api.webhook(pi_event("payment_intent.succeeded", order, funding))).json()[
        "handled"
    ]
    return await state(api, order), funding


async def state(api: Api, order: Order) -> Order:
    r = await api.client.get(f"/v1/orders/{order['order_id']}", headers=api.finance)
    assert r.status_code == 200, r.text
    return dict(r.json())


def chargeback(funding: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"evt_{uuid.uuid4().hex}",
        "type": "charge.dispute.created",
        "data": {
            "object": {
                "id": f"dp_{uuid.uuid4().hex[:12]}",
                "object": "dispute",
                "amount": 100_000,
                "currency": "usd",
                "reason": "fraudulent",
                "payment_intent": funding["stripe_payment_intent_id"],
            }
        },
    }


async def deliver_until_acknowledged(api: Api, event: dict[str, Any]) -> httpx.Response:
    """Stripe's behaviour: an event not acknowledged with a 2xx is delivered again."""
    for _ in range(10):
        r = await api.webhook(event)
        assert r.status_code < 500, r.text
        if r.is_success:
            return r
        assert r.json()["error"]["code"] == "concurrent_modification", r.text
    raise AssertionError("the webhook was never acknowledged")


async def settle_everything(api: Api, order: Order) -> Order:
    """Let the settlement timers complete whatever the race left reserved."""
    late = worker(api, api.clock.now() + timedelta(hours=2))
    for _ in range(5):
        await late.fire_due()
        after = await state(api, order)
        if after["reserved"] == 0:
            return after
    raise AssertionError(f"still reserved after the settlement timers: {after['reserved']}")


async def outbox_types(api: Api, order: Order) -> Counter[str]:
    async with api.engine.connect() as conn:
        rows = await conn.execute(
            sa.select(outbox.c.envelope["type"].astext).where(outbox.c.key == order["order_id"])
        )
        return Counter(rows.scalars())


async def assert_consistent(
    api: Api, stripe: CountingGateway, after: Order, *, payments: int = 1
) -> None:
    """The invariants and the money-moved-once rule, on the settled escrow."""
    funded, released, refunded = after["funded"], after["released"], after["refunded"]
    assert after["held"] == funded - released - refunded >= 0, after
    assert after["reserved"] + after["frozen"] <= after["held"], after
    assert after["available"] >= 0, after
    oid = after["order_id"]
    done = [p for p in after["payouts"] if p["status"] == "done"]
    stripe_refunds = [r for r in after["refunds"] if r["via_stripe"] and r["status"] == "done"]
    # One Stripe idempotency key per reservation: however often a key was sent, money moved once.
    assert set(stripe.transfers[oid]) == {
        f"escrow-payout-{p['payout_id']}" for p in done if p["supplier_net"]
    }
    assert set(stripe.refunds[oid]) == {f"escrow-refund-{r['refund_id']}" for r in stripe_refunds}
    events = await outbox_types(api, after)
    assert events["escrow.milestone_released"] == len(done)
    assert events["escrow.refunded"] == len(after["refunds"])
    assert events["escrow.funded"] == payments == len(after["payments"])
    assert released == sum(p["gross"] for p in done)
    assert refunded == sum(r["amount"] for r in after["refunds"])


def decisive(timeline: list[dict[str, Any]]) -> list[str]:
    """What decided the milestone: an acceptance, a cancellation or the buyer's dispute."""
    return [
        e["type"]
        for e in timeline
        if e["type"] in ("escrow.milestone_accepted", "escrow.cancelled")
        or (e["type"] == "escrow.dispute_opened" and e["data"]["milestone_id"] is not None)
    ]


async def timeline(api: Api, order: Order) -> list[dict[str, Any]]:
    r = await api.client.get(
        f"/v1/orders/{order['order_id']}/timeline?limit=100", headers=api.finance
    )
    return list(r.json()["data"])


Contender = Callable[[], Awaitable[Any]]


async def race(contenders: dict[str, Contender], jitter: dict[str, float]) -> dict[str, Any]:
    async def run(name: str) -> Any:
        await asyncio.sleep(jitter.get(name, 0.0))
        return await contenders[name]()

    results = await asyncio.gather(*(run(n) for n in contenders))
    return dict(zip(contenders, results, strict=True))


def jitters(names: list[str]) -> st.SearchStrategy[dict[str, float]]:
    return st.fixed_dictionaries({n: st.floats(0, 0.02) for n in names})


COMMANDS = ["accept", "accept_again", "release", "cancel", "dispute", "chargeback", "window"]


@EXAMPLES
@given(jitter=jitters(COMMANDS), who=st.sets(st.sampled_from(COMMANDS[1:]), min_size=2))
async def test_conflicting_commands_on_one_escrow_end_in_one_outcome(
    api: Api, stripe: CountingGateway, jitter: dict[str, float], who: set[str]
) -> None:
    order, funding = await card_funded_order(api)
    oid, mid = order["order_id"], order["milestones"][0]["milestone_id"]
    ends_at = datetime.fromisoformat(order["milestones"][0]["inspection_ends_at"])
    m = f"/v1/orders/{oid}/milestones/{mid}"
    every: dict[str, Contender] = {
        "accept": lambda: api.post(f"{m}/accept", {}, api.platform),
        "accept_again": lambda: api.post(f"{m}/accept", {}, api.platform),
        "release": lambda: api.post(f"{m}/release", {}, api.finance),
        "cancel": lambda: api.post(f"/v1/orders/{oid}/cancel", {"reason": "race"}, api.finance),
        "dispute": lambda: api.post(f"{m}/disputes", {"reason": "race"}, api.platform),
        "chargeback": lambda: api.webhook(chargeback(funding)),
        # The inspection window's timer, firing at the very moment the window ends.
        "window": lambda: worker(api, ends_at).fire_due(),
    }
    # The buyer's acceptance always runs; hypothesis picks who else does.
    contenders = {name: every[name] for name in COMMANDS if name == "accept" or name in who}
    results = await race(contenders, jitter)

    for name, r in results.items():
        if isinstance(r, httpx.Response) and not r.is_success:
            assert r.status_code == 409, f"{name}: {r.status_code} {r.text}"
            assert r.json()["error"]["code"] in REFUSALS, f"{name}: {r.text}"
    if "chargeback" in results and not results["chargeback"].is_success:
        await deliver_until_acknowledged(api, chargeback(funding))
    after = await settle_everything(api, order)
    await assert_consistent(api, stripe, after)
    events = await timeline(api, order)
    assert len(decisive(events)) == 1, [e["type"] for e in events]
    status = after["milestones"][0]["status"]
    if decisive(events) == ["escrow.cancelled"]:
        assert (after["status"], after["refunded"], after["held"]) == ("cancelled", 100_000, 0)
    elif decisive(events) == ["escrow.dispute_opened"]:
        assert (status, after["frozen"], after["released"]) == ("disputed", 100_000, 0)
    elif after["released"]:  # accepted (buyer or window) and paid out
        assert (status, after["status"], after["held"]) == ("released", "completed", 0)
    else:  # accepted while a chargeback froze the escrow: nothing left it
        assert (status, after["frozen"], after["held"]) == ("accepted", 100_000, 100_000)


RESOLUTIONS = ["release", "refund", "split", "split_again", "cancel", "chargeback"]


@EXAMPLES
@given(jitter=jitters(RESOLUTIONS), who=st.sets(st.sampled_from(RESOLUTIONS), min_size=2))
async def test_competing_resolutions_of_one_dispute_resolve_it_once(
    api: Api, stripe: CountingGateway, jitter: dict[str, float], who: set[str]
) -> None:
    order, funding = await card_funded_order(api)
    oid, mid = order["order_id"], order["milestones"][0]["milestone_id"]
    dispute = {"reason": "short shipment"}
    disputed = await api.post(f"/v1/orders/{oid}/milestones/{mid}/disputes", dispute, api.platform)
    assert disputed.status_code == 201, disputed.text
    did = disputed.json()["disputes"][0]["dispute_id"]
    resolve = f"/v1/orders/{oid}/disputes/{did}/resolve"
    every: dict[str, Contender] = {
        "release": lambda: api.post(resolve, {"outcome": "release"}, api.finance),
        "refund": lambda: api.post(resolve, {"outcome": "refund"}, api.finance),
        "split": lambda: api.post(
            resolve, {"outcome": "split", "release_amount": 40_000}, api.finance
        ),
        "split_again": lambda: api.post(
            resolve, {"outcome": "split", "release_amount": 70_000}, api.finance
        ),
        "cancel": lambda: api.post(f"/v1/orders/{oid}/cancel", {"reason": "race"}, api.finance),
        "chargeback": lambda: api.webhook(chargeback(funding)),
    }
    results = await race({n: every[n] for n in RESOLUTIONS if n in who}, jitter)

    for name, r in results.items():
        if not r.is_success:
            assert r.status_code == 409, f"{name}: {r.status_code} {r.text}"
            assert r.json()["error"]["code"] in REFUSALS, f"{name}: {r.text}"
    assert not results.get("cancel") or not results["cancel"].is_success  # never while disputed
    if "chargeback" in results and not results["chargeback"].is_success:
        await deliver_until_acknowledged(api, chargeback(funding))
    after = await settle_everything(api, order)
    await assert_consistent(api, stripe, after)
    won = [n for n, r in results.items() if r.is_success and n not in ("chargeback",)]
    resolved = [e for e in await timeline(api, order) if e["type"] == "escrow.dispute_resolved"]
    assert len(resolved) == len(won) <= 1, (won, resolved)
    status = after["milestones"][0]["status"]
    if won:
        assert after["released"] + after["refunded"] == 100_000
        assert status in ("released", "refunded"), status
    else:  # e.g. a chargeback first: it freezes the escrow, so a release cannot resolve it
        assert (status, after["released"], after["refunded"]) == ("disputed", 0, 0)


async def request_racing_the_settlement_timer(
    api: Api, order: Order, command: str
) -> httpx.Response:
    """``command`` (which settles inline) while a timer worker past the grace fires and fires."""
    oid, mid = order["order_id"], order["milestones"][0]["milestone_id"]
    timer = worker(api, api.clock.now() + timedelta(seconds=31))
    done = asyncio.Event()

    async def fire_while_settling() -> None:
        while not done.is_set():
            await timer.fire_due()
            await asyncio.sleep(random.uniform(0, 0.005))

    async def stripe_echoes_the_refund() -> None:
        # charge.refunded for our refund, as soon as it exists: a third party completing it.
        for _ in range(200):
            refunds = (await state(api, order))["refunds"]
            if refunds:
                echo = charge_refunded(order, refunds[0])
                await deliver_until_acknowledged(api, echo)
                return
            await asyncio.sleep(0.002)

    async def request() -> httpx.Response:
        await asyncio.sleep(random.uniform(0, 0.01))
        try:
            if command == "accept":
                return await api.post(f"/v1/orders/{oid}/milestones/{mid}/accept", {}, api.platform)
            return await api.post(f"/v1/orders/{oid}/cancel", {"reason": "race"}, api.platform)
        finally:
            done.set()

    others = [fire_while_settling()] + ([stripe_echoes_the_refund()] if command == "cancel" else [])
    r, *_ = await asyncio.gather(request(), *others)
    return r


def charge_refunded(order: Order, refund: dict[str, Any]) -> dict[str, Any]:
    payment = next(p for p in order["payments"] if p["payment_id"] == refund["payment_id"])
    ours = {"id": f"re_{uuid.uuid4().hex[:12]}", "amount": refund["amount"], "currency": "usd"}
    return {
        "id": f"evt_{uuid.uuid4().hex}",
        "type": "charge.refunded",
        "data": {
            "object": {
                "id": payment["stripe_charge_id"] or "ch_1",
                "object": "charge",
                "currency": "usd",
                "payment_intent": payment["stripe_payment_intent_id"],
                "refunds": {"data": [{**ours, "metadata": {"refund_id": refund["refund_id"]}}]},
            }
        },
    }


@pytest.mark.parametrize("command", ["accept", "cancel"])
async def test_a_settlement_timer_firing_while_the_request_settles_moves_money_once(
    api: Api, stripe: CountingGateway, command: str
) -> None:
    # The request reserves the payout (accept) or refund (cancel) and settles it inline; the
    # settlement timer, due after the grace period, fires at the same moment on a worker
    # whose clock is past it (and, for a refund, Stripe's charge.refunded echo arrives too).
    # Both make the same Stripe call (one idempotency key); one books it. Before the fix the
    # request deadlocked with the worker and answered 500.
    for _ in range(20):
        order, _ = await card_funded_order(api)
        r = await request_racing_the_settlement_timer(api, order, command)
        assert r.status_code == 200, r.text
        after = await settle_everything(api, order)
        await assert_consistent(api, stripe, after)
        if command == "accept":
            assert (after["released"], after["status"]) == (100_000, "completed")
        else:
            assert (after["refunded"], after["status"]) == (100_000, "cancelled")


async def test_payment_intents_reported_at_once_under_many_event_ids_fund_once_each(
    api: Api, stripe: CountingGateway
) -> None:
    # Two PaymentIntents for the whole amount (the buyer paid twice), each reported five
    # times under different event ids, all at once: each counts once, and the second
    # payment, beyond the contract total, goes back to the buyer once.
    for _ in range(10):
        body = order_body((100_000,), ("contract",))
        order = (await api.post("/v1/orders", body, api.platform)).json()
        oid = order["order_id"]
        first, second = [
            (await api.post(f"/v1/orders/{oid}/fund", {}, api.platform)).json() for _ in range(2)
        ]
        events = [pi_event("payment_intent.succeeded", order, f) for f in (first, second) * 5]
        random.shuffle(events)
        responses = await asyncio.gather(*(deliver_until_acknowledged(api, e) for e in events))
        assert sum(bool(r.json().get("handled")) for r in responses) == 10
        after = await settle_everything(api, order)
        await assert_consistent(api, stripe, after, payments=2)
        assert (after["funded"], after["refunded"], after["held"]) == (200_000, 100_000, 100_000)
        assert [r["reason"] for r in after["refunds"]] == ["paid beyond the contract total"]
