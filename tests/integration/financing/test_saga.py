"""The lien saga on real Kafka: escrow's answers arrive through financing's inbox consumer,
financing's commands leave through the outbox relay; Stripe transfers go to stripe-mock."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import TopicAlreadyExistsError

from services.financing.entrypoints.consumers import escrow_event_handler
from shared.db import outbox
from shared.events import Envelope
from shared.events import escrow as ev
from shared.inbox import InboxConsumer, RetryPolicy
from shared.outbox import OutboxRelay
from shared.settings import Settings
from tests.conftest import create_topic
from tests.integration.financing.conftest import (
    Harness,
    escrow_event,
    funded,
    new_order,
    released,
)
from tests.unit.financing.builders import T0

pytestmark = pytest.mark.integration


class Escrow:
    """Plays escrow's side: publishes its events to a topic financing consumes."""

    def __init__(self, harness: Harness, settings: Settings, topic: str) -> None:
        self.h = harness
        self.topic = topic
        self.consumer = InboxConsumer(
            name=f"financing-test-{uuid.uuid4().hex[:8]}",
            topics=[topic],
            engine=harness.engine,
            bootstrap_servers=settings.kafka_bootstrap_servers,
            handler=escrow_event_handler(harness.container),
            dlq_producer=harness.container.runtime.producer,
            dlq_topic=f"{topic}.dlq",
            retry=RetryPolicy(attempts=2, initial_wait=0.01, max_wait=0.02),
        )

    async def send(self, *envelopes: Envelope, raw_repeat: bool = False) -> None:
        producer = self.h.container.runtime.producer
        for env in envelopes:
            key, value, headers = env.to_kafka()
            for _ in range(2 if raw_repeat else 1):
                await producer.send_and_wait(self.topic, value, key=key, headers=headers)
        expected = len(envelopes) * (2 if raw_repeat else 1)
        seen = 0
        deadline = asyncio.get_running_loop().time() + 30
        while seen < expected and asyncio.get_running_loop().time() < deadline:
            seen += await self.consumer.poll_once(timeout_ms=300)
        assert seen == expected


@pytest.fixture
async def escrow(harness: Harness) -> AsyncIterator[Escrow]:
    settings = harness.settings
    topic = f"{settings.topic_prefix}.escrow-{uuid.uuid4().hex[:8]}"
    await create_topic(settings.kafka_bootstrap_servers, topic, partitions=3)
    e = Escrow(harness, settings, topic)
    await e.consumer.start()
    yield e
    await e.consumer.stop()


async def financing_commands(
    settings: Settings, harness: Harness, order_id: str, want: int
) -> list[Envelope]:
    """Relay financing's outbox and read this order's events back from Kafka."""
    topic = settings.topic("financing")
    with contextlib.suppress(TopicAlreadyExistsError):
        await create_topic(settings.kafka_bootstrap_servers, topic)
    while await OutboxRelay(harness.engine, harness.container.runtime.producer).relay_once():
        pass
    reader = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        group_id=None,
    )
    await reader.start()
    found: list[Envelope] = []
    try:
        deadline = asyncio.get_running_loop().time() + 20
        while len(found) < want and asyncio.get_running_loop().time() < deadline:
            batch = await reader.getmany(timeout_ms=300)
            for records in batch.values():
                for r in records:
                    if r.key == order_id.encode():
                        found.append(Envelope.from_kafka(r.value, r.headers))
    finally:
        await reader.stop()
    return found


async def accepted_advance(
    escrow: Escrow, client: httpx.AsyncClient, supplier: str = "s1"
) -> tuple[str, str]:
    h = escrow.h
    order = new_order(supplier=supplier)
    oid = order.order_id
    h.clock.set(T0)
    await escrow.send(
        escrow_event(order, oid, occurred_at=T0),
        escrow_event(funded(oid), oid),
        escrow_event(released(oid, "m1", 3_000_000, held_after=7_000_000), oid),
    )
    keys = h.keys["t1-supplier"]
    q = await client.post(
        "/v1/quotes",
        json={"order_id": oid, "supplier_id": supplier, "amount": 4_900_000},
        headers={**keys, "Idempotency-Key": uuid.uuid4().hex},
    )
    aid = q.json()["advance_id"]
    a = await client.post(
        f"/v1/advances/{aid}/accept",
        json={"supplier_id": supplier},
        headers={**keys, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert a.json()["state"] == "accepted", a.text
    return oid, aid


async def state(client: httpx.AsyncClient, h: Harness, aid: str) -> dict:
    return (await client.get(f"/v1/advances/{aid}", headers=h.keys["t1-platform"])).json()


async def outbox_types(h: Harness, aid: str) -> list[str]:
    async with h.engine.connect() as conn:
        rows = await conn.execute(
            sa.select(outbox.c.envelope["type"].astext)
            .where(outbox.c.envelope["data"]["advance_id"].astext == aid)
            .order_by(outbox.c.seq)
        )
        return [r[0] for r in rows]


async def test_lien_placed_disburses_once_despite_duplicates(
    escrow: Escrow, client: httpx.AsyncClient, harness: Harness
) -> None:
    settings = harness.settings
    oid, aid = await accepted_advance(escrow, client)
    lien = await financing_commands(settings, harness, oid, want=1)
    requested = [e for e in lien if e.type == "financing.lien_requested"]
    assert requested and requested[0].data["amount"] == 4_900_000 and requested[0].subject == oid
    placed = ev.LienPlaced(order_id=oid, advance_id=aid, amount=4_900_000, currency="USD")
    first = escrow_event(placed, oid, **requested[0].caused())
    # the same event redelivered, and escrow answering a second time under a new id
    await escrow.send(first, raw_repeat=True)
    await escrow.send(escrow_event(placed, oid))
    got = await state(client, harness, aid)
    assert got["state"] == "disbursed" and got["stripe_transfer_id"].startswith("tr_")
    calls = [c for c in harness.gateway.calls if c["metadata"]["advance_id"] == aid]
    assert len(calls) == 1
    assert calls[0]["amount"] == got["net"] and calls[0]["destination"] == "acct_s1"
    assert calls[0]["idempotency_key"] == f"financing-disburse-{first.id}"
    assert (await outbox_types(harness, aid)).count("financing.advance_disbursed") == 1


async def test_lien_refused_cancels_and_a_late_placement_is_given_back(
    escrow: Escrow, client: httpx.AsyncClient, harness: Harness
) -> None:
    oid, aid = await accepted_advance(escrow, client)
    await escrow.send(
        escrow_event(ev.LienRefused(order_id=oid, advance_id=aid, reasons=["lien_exists"]), oid)
    )
    got = await state(client, harness, aid)
    assert got["state"] == "cancelled"
    # a lien_placed that overtook nothing but arrives late must not disburse: release it
    await escrow.send(
        escrow_event(
            ev.LienPlaced(order_id=oid, advance_id=aid, amount=4_900_000, currency="USD"), oid
        )
    )
    assert (await state(client, harness, aid))["state"] == "cancelled"
    assert not [c for c in harness.gateway.calls if c["metadata"]["advance_id"] == aid]
    assert (await outbox_types(harness, aid))[-1] == "financing.lien_release_requested"


async def test_a_refused_transfer_cancels_and_releases_the_lien(
    escrow: Escrow, client: httpx.AsyncClient, harness: Harness
) -> None:
    settings = harness.settings
    harness.gateway.refuse.add("acct_s-broken")
    oid, aid = await accepted_advance(escrow, client, supplier="s-broken")
    await escrow.send(
        escrow_event(
            ev.LienPlaced(order_id=oid, advance_id=aid, amount=4_900_000, currency="USD"), oid
        )
    )
    got = await state(client, harness, aid)
    assert got["state"] == "cancelled" and got["balance"] == 0
    commands = await financing_commands(settings, harness, oid, want=4)
    release = [e for e in commands if e.type == "financing.lien_release_requested"]
    assert release and release[0].data["reason"] == "transfer_failed:account_invalid"
    # the supplier may ask again once the advance is cancelled
    keys = {**harness.keys["t1-supplier"], "Idempotency-Key": uuid.uuid4().hex}
    again = await client.post(
        "/v1/quotes", json={"order_id": oid, "supplier_id": "s-broken"}, headers=keys
    )
    assert again.status_code == 201
