"""Financing's consumer as it runs (its ServiceDefinition's batch handler) on real Kafka and
PostgreSQL: whole batches of escrow's events, each order's in order, a failing order parked
alone, and no second effect after a crash, mid-batch or before the offsets."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import httpx
import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaProducer

from services.financing.adapters.orders import OrderRepository
from services.financing.bootstrap import consumers
from shared.db import outbox, parked_subjects
from shared.events import Envelope
from shared.events import escrow as ev
from shared.inbox import BatchHandler, InboxConsumer
from shared.outbox import publish
from shared.parking import read_dead_letters
from tests.conftest import create_topic
from tests.integration.financing.conftest import (
    Harness,
    escrow_event,
    funded,
    funded_order,
    new_order,
    released,
)
from tests.support.consumers import (
    Crash,
    DiesBeforeOffsetCommit,
    Recorded,
    consumer_of,
    dies_mid_batch,
    run_to_end,
)

pytestmark = pytest.mark.integration


def lifecycle(order_id: str, tenant: str = "t1") -> list[Envelope]:
    """Created, funded, deposit released, a dispute on the shipment opened and resolved for
    the supplier, the rest released, completed: a state that only this order gives."""
    payloads = [
        new_order(order_id),
        funded(order_id),
        released(order_id, "m1", 3_000_000, held_after=7_000_000),
        ev.DisputeOpened(order_id=order_id, dispute_id=f"d-{order_id}", milestone_id="m2",
                         amount=4_000_000, currency="USD", reason="late"),
        ev.DisputeResolved(order_id=order_id, dispute_id=f"d-{order_id}", milestone_id="m2",
                           outcome="release", release_amount=4_000_000, refund_amount=0,
                           currency="USD"),
        released(order_id, "m2", 4_000_000, held_after=3_000_000),
        released(order_id, "m3", 3_000_000, held_after=0),
        ev.Completed(order_id=order_id, currency="USD", released_total=10_000_000,
                     refunded_total=0, held_after=0),
    ]  # fmt: skip
    return [escrow_event(p, order_id, tenant) for p in payloads]


def interleaved(*lifecycles: list[Envelope]) -> list[Envelope]:
    """Every order's first event, then every order's second, ...: batches mix the orders."""
    width = max(len(lc) for lc in lifecycles)
    return [lc[i] for i in range(width) for lc in lifecycles if i < len(lc)]


class Stream:
    """A topic of this test's own, read by financing's consumer as the service runs it."""

    def __init__(self, harness: Harness, topic: str) -> None:
        self.h, self.topic = harness, topic
        (self.spec,) = consumers(harness.container)
        self.name = f"financing-batches-{uuid.uuid4().hex[:8]}"

    @property
    def producer(self) -> AIOKafkaProducer:
        return self.h.container.runtime.producer

    @property
    def batch_handler(self) -> BatchHandler:
        assert self.spec.batch_handler is not None
        return self.spec.batch_handler

    async def send(self, envs: Sequence[Envelope]) -> None:
        await publish(self.producer, self.topic, envs)

    async def run(
        self,
        expected: int,
        batch: BatchHandler | None = None,
        cls: type[InboxConsumer] = InboxConsumer,
    ) -> int:
        consumer = consumer_of(
            self.spec, self.h.engine, self.h.settings.kafka_bootstrap_servers, self.producer,
            self.topic, name=self.name, batch=batch, cls=cls,
        )  # fmt: skip
        return await run_to_end(consumer, expected)

    async def letters(self) -> list[dict[str, bytes]]:
        found = await read_dead_letters(
            self.h.settings.kafka_bootstrap_servers, f"{self.topic}.dlq", self.name, within=10
        )
        return [d.headers for d in found]


@pytest.fixture
async def stream(harness: Harness) -> Stream:
    topic = f"{harness.settings.topic_prefix}.escrow-batches-{uuid.uuid4().hex[:8]}"
    # One partition: everything sent before the consumer starts comes in as few batches.
    await create_topic(harness.settings.kafka_bootstrap_servers, topic, partitions=1)
    return Stream(harness, topic)


async def order_of(harness: Harness, order_id: str, tenant: str = "t1") -> dict | None:
    async with harness.engine.begin() as conn:
        found = await OrderRepository(conn).get(tenant, order_id)
    if found is None:
        return None
    order, disputes = found
    return {
        "funded": order.funded_total,
        "released": order.released_total,
        "disputed": order.disputed_total,
        "disputes": disputes,
        "status": order.status,
        "milestones": [(m.released, m.disputed) for m in order.milestones],
    }


DONE = {
    "funded": 10_000_000,
    "released": 10_000_000,
    "disputed": 0,
    "disputes": {},
    "status": "completed",
    "milestones": [(True, False)] * 3,
}


async def test_a_batch_applies_each_orders_events_in_their_order(
    stream: Stream, harness: Harness
) -> None:
    orders = [f"ord_{uuid.uuid4().hex[:12]}" for _ in range(12)]
    envs = interleaved(*(lifecycle(o) for o in orders))
    recorded = Recorded(stream.batch_handler)
    await stream.send(envs)
    assert await stream.run(len(envs), batch=recorded) == len(envs)
    for o in orders:  # a dispute resolved before it was opened would still freeze m2
        assert await order_of(harness, o) == DONE, o
    assert max(len(b) for b in recorded.handed) > len(orders)  # several of an order per batch
    assert await stream.letters() == []


async def test_an_event_that_fails_parks_its_order_alone(stream: Stream, harness: Harness) -> None:
    healthy, ghost, broken, stray = (f"ord_{uuid.uuid4().hex[:12]}" for _ in range(4))
    ghost_events = lifecycle(ghost)[1:]  # financing never saw it created
    bad_funding = escrow_event(funded(broken), broken)
    bad_funding = bad_funding.model_copy(update={"data": {**bad_funding.data, "amount": "1"}})
    broken_events = [lifecycle(broken)[0], bad_funding, *lifecycle(broken)[2:]]
    # A release repaying an advance financing does not know: its step fails after the order
    # was written in its savepoint, which must leave nothing of it.
    stray_release = released(stray, "m1", 3_000_000, lien=1, advance_id="adv_nope")
    stray_events = [*lifecycle(stray)[:2], escrow_event(stray_release, stray)]
    envs = interleaved(lifecycle(healthy), ghost_events, broken_events, stray_events)
    recorded = Recorded(stream.batch_handler)
    await stream.send(envs)
    assert await stream.run(len(envs), batch=recorded) == len(envs)

    assert await order_of(harness, healthy) == DONE
    assert await order_of(harness, ghost) is None
    created_only = await order_of(harness, broken)
    assert created_only is not None and created_only["funded"] == created_only["released"] == 0
    funded_only = await order_of(harness, stray)
    assert funded_only is not None and funded_only["funded"] == 10_000_000
    assert funded_only["released"] == 0 and funded_only["milestones"][0] == (False, False)
    async with harness.engine.connect() as conn:
        parked = await conn.execute(
            sa.select(parked_subjects.c.subject).where(parked_subjects.c.consumer == stream.name)
        )
        assert set(parked.scalars()) == {ghost, broken, stray}
    letters = {h["ce_id"].decode(): h["dlq_error_type"] for h in await stream.letters()}
    assert letters[str(ghost_events[0].id)] == b"PermanentFailure"
    assert letters[str(bad_funding.id)] == b"ValidationError"
    assert letters[str(stray_events[2].id)] == b"PermanentFailure"
    behind = [*ghost_events[1:], *broken_events[2:]]
    assert {letters[str(e.id)] for e in behind} == {b"SubjectParked"}
    assert len(letters) == len(ghost_events) + len(broken_events) - 1 + 1
    # Dead letters cost no batch of their own: no event was handed over twice.
    handed = [e.id for b in recorded.handed for e in b]
    assert len(handed) == len(set(handed))
    assert {e.id for e in envs} - set(handed) <= {e.id for e in behind}


async def test_a_crash_mid_batch_or_before_the_offsets_has_no_second_effect(
    stream: Stream, harness: Harness, client: httpx.AsyncClient
) -> None:
    oid = await funded_order(harness)
    keys = harness.keys["t1-supplier"]
    quote = await client.post(
        "/v1/quotes", json={"order_id": oid, "supplier_id": "s1", "amount": 4_900_000},
        headers={**keys, "Idempotency-Key": uuid.uuid4().hex},
    )  # fmt: skip
    aid = quote.json()["advance_id"]
    accepted = await client.post(
        f"/v1/advances/{aid}/accept", json={"supplier_id": "s1"},
        headers={**keys, "Idempotency-Key": uuid.uuid4().hex},
    )  # fmt: skip
    assert accepted.json()["state"] == "accepted", accepted.text
    placed = ev.LienPlaced(order_id=oid, advance_id=aid, amount=4_900_000, currency="USD")
    repaid = released(oid, "m2", 4_000_000, lien=1_000_000, advance_id=aid, held_after=3_000_000)
    others = [f"ord_{uuid.uuid4().hex[:12]}" for _ in range(3)]
    envs = interleaved(
        [escrow_event(placed, oid), escrow_event(repaid, oid)], *(lifecycle(o) for o in others)
    )
    await stream.send(envs)

    with pytest.raises(Crash):  # the batch's transaction never commits
        await stream.run(len(envs), batch=dies_mid_batch(stream.batch_handler))
    with pytest.raises(Crash):  # the transaction commits, the offsets do not
        await stream.run(len(envs), cls=DiesBeforeOffsetCommit)
    assert await stream.run(len(envs)) == len(envs)  # redelivered: the inbox drops it all

    for o in others:
        assert await order_of(harness, o) == DONE
    order = await order_of(harness, oid)
    assert order is not None and order["released"] == 7_000_000
    advance = (await client.get(f"/v1/advances/{aid}", headers=harness.keys["t1-platform"])).json()
    assert advance["state"] == "partially_repaid"
    async with harness.engine.connect() as conn:
        types = (
            await conn.execute(
                sa.select(outbox.c.envelope["type"].astext).where(
                    outbox.c.envelope["data"]["advance_id"].astext == aid
                )
            )
        ).scalars()
        kinds = list(types)
    assert kinds.count("financing.advance_disbursed") == 1
    assert kinds.count("financing.repayment_applied") == 1
    # Stripe was asked again only by the attempt that died before committing, with the same
    # idempotency key: it answers that with the first transfer.
    calls = [c for c in harness.gateway.calls if c["metadata"]["advance_id"] == aid]
    assert len(calls) == 2 and len({c["idempotency_key"] for c in calls}) == 1
