"""escrow.milestone_released v1, v2 and v3 side by side on Kafka, through the ledger's consumer.

Until every older event has aged off the topic (and while old ones are replayed), the ledger
reads them all: a v1 or v2 release is upcast and posts exactly as it did before the next
version existed, a v3 release without a payout conversion posts the same lines, and each is
idempotent on its event id, the payout's id.
"""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import uuid4

from aiokafka import AIOKafkaProducer
from sqlalchemy.ext.asyncio import AsyncEngine

from services.ledger.entrypoints.consumers import post_event, post_events
from shared.events import Envelope
from shared.events.escrow import MilestoneReleased, MilestoneReleasedV1, MilestoneReleasedV2
from shared.inbox import InboxConsumer, RetryPolicy
from shared.outbox import publish
from shared.settings import Settings
from tests.conftest import create_topic
from tests.integration.ledger.helpers import funded, lines, natural

RELEASE: dict[str, Any] = {
    "milestone_id": "m1", "currency": "USD", "gross": 10_000, "platform_fee": 100,
    "lien_repayment": 0, "supplier_net": 9_900, "advance_id": None, "held_after": 0,
}  # fmt: skip


def v1(tenant: str, order: str) -> Envelope:
    payload = MilestoneReleasedV1(order_id=order, stripe_transfer_id=f"tr_{order}", **RELEASE)
    return Envelope.wrap(payload, source="escrow", tenant_id=tenant, subject=order)


def v2(
    tenant: str,
    order: str,
    model: type[MilestoneReleasedV2 | MilestoneReleased] = MilestoneReleasedV2,
) -> Envelope:
    """As escrow publishes it: the event's id is the payout's."""
    payload = model(
        order_id=order, payout_id=str(uuid4()), stripe_transfer_id=f"tr_{order}", **RELEASE
    )
    return Envelope.wrap(
        payload, source="escrow", tenant_id=tenant, subject=order,
        event_id=payload.envelope_id(),
    )  # fmt: skip


def posted(order: str) -> list[tuple[Any, ...]]:
    """What a 10,000 release with a 100 fee and a transfer has always posted."""
    return [
        ("escrow_held", order, 10_000, None),
        ("platform_fee_revenue", "", -100, None),
        ("supplier_payable", "", -9_900, None),
        ("supplier_payable", "", 9_900, None),
        ("stripe_clearing", "", -9_900, f"tr_{order}"),
    ]


async def consume(consumer: InboxConsumer, expected: int) -> int:
    seen, deadline = 0, asyncio.get_running_loop().time() + 30
    while seen < expected and asyncio.get_running_loop().time() < deadline:
        seen += await consumer.poll_once(timeout_ms=500)
    return seen


async def test_v1_and_v2_releases_on_kafka_post_alike_and_once(
    ledger: AsyncEngine,
    tenant: str,
    settings: Settings,
    unique_topic: str,
    producer: AIOKafkaProducer,
) -> None:
    await create_topic(settings.kafka_bootstrap_servers, unique_topic, partitions=2)
    old, new = v1(tenant, "o-old"), v2(tenant, "o-new")
    current = v2(tenant, "o-v3", MilestoneReleased)  # v3 (payout_fx None): the same lines
    assert (old.version, new.version, current.version) == (1, 2, 3)
    envs = [funded(tenant, o, 10_000, 10_000) for o in ("o-old", "o-new", "o-v3")]
    consumer = InboxConsumer(
        name=f"ledger-versions-{tenant}", topics=[unique_topic], engine=ledger,
        bootstrap_servers=settings.kafka_bootstrap_servers, handler=post_event,
        batch_handler=post_events, dlq_producer=producer, dlq_topic=f"{unique_topic}.dlq",
        retry=RetryPolicy(attempts=2, initial_wait=0.01, max_wait=0.02),
    )  # fmt: skip
    await consumer.start()
    try:
        await publish(producer, unique_topic, [*envs, old, new, current])
        assert await consume(consumer, 6) == 6
        await publish(producer, unique_topic, [old, new, current])  # redelivered: no second posting
        assert await consume(consumer, 3) == 3
    finally:
        await consumer.stop()
    assert await lines(ledger, tenant, old.id) == posted("o-old")
    assert await lines(ledger, tenant, new.id) == posted("o-new")
    assert await lines(ledger, tenant, current.id) == posted("o-v3")
    for order in ("o-old", "o-new", "o-v3"):
        assert await natural(ledger, tenant, "escrow_held", order) == 0
    assert await natural(ledger, tenant, "platform_fee_revenue") == 300  # each posted once
    assert await natural(ledger, tenant, "supplier_payable") == 0
