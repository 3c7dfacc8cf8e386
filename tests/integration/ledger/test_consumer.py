"""Events from Kafka to journal: batches, redelivery, and a poison event parked aside."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaProducer
from sqlalchemy.ext.asyncio import AsyncEngine

from services.ledger.entrypoints.consumers import post_event, post_events
from shared.events import Envelope
from shared.inbox import InboxConsumer, RetryPolicy
from shared.outbox import publish
from shared.settings import Settings
from tests.conftest import create_topic
from tests.integration.ledger.helpers import funded, natural, released


async def test_consumes_batches_once_and_parks_the_unpostable(
    ledger: AsyncEngine,
    tenant: str,
    settings: Settings,
    unique_topic: str,
    producer: AIOKafkaProducer,
) -> None:
    await create_topic(settings.kafka_bootstrap_servers, unique_topic, partitions=2)
    good = [funded(tenant, f"o{i}", 1_000 + i, 1_000 + i) for i in range(50)]
    # gross != fee + lien + net: the escrow would never send it, the ledger must not post it
    bad = released(tenant, "o0", 1_000, 10, 0, held_after=0)
    bad = Envelope(**{**bad.model_dump(), "data": {**bad.data, "supplier_net": 1}})
    await publish(producer, unique_topic, [*good[:25], bad, *good[25:], good[0]])  # good[0] twice
    consumer = InboxConsumer(
        name=f"ledger-test-{tenant}", topics=[unique_topic], engine=ledger,
        bootstrap_servers=settings.kafka_bootstrap_servers, handler=post_event,
        batch_handler=post_events, dlq_producer=producer, dlq_topic=f"{unique_topic}.dlq",
        retry=RetryPolicy(attempts=2, initial_wait=0.01, max_wait=0.02),
    )  # fmt: skip
    await consumer.start()
    try:
        seen, deadline = 0, asyncio.get_running_loop().time() + 30
        while seen < 52 and asyncio.get_running_loop().time() < deadline:
            seen += await consumer.poll_once(timeout_ms=500)
    finally:
        await consumer.stop()
    assert seen == 52
    total = sum([await natural(ledger, tenant, "escrow_held", f"o{i}") for i in range(50)])
    assert total == sum(1_000 + i for i in range(50))
    assert await natural(ledger, tenant, "platform_fee_revenue") == 0
