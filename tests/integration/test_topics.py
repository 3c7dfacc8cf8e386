"""Topic provisioning is idempotent and never touches an existing topic."""

from __future__ import annotations

import uuid

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.outbox import OutboxRelay, add_to_outbox, make_producer
from shared.settings import Settings
from shared.topics import ensure_topics, partition_for, partitions_of, topic_names
from tests.conftest import create_topic
from tests.support.events import widget_event


async def test_topics_are_created_once_with_their_partitions(settings: Settings) -> None:
    own = settings.model_copy(update={"topic_prefix": f"topics-{uuid.uuid4().hex[:8]}"})
    first = await ensure_topics(own, partitions=4)
    assert set(first) == set(topic_names(own)) and set(first.values()) == {"created"}
    again = await ensure_topics(own, partitions=8)
    assert set(again.values()) == {"exists"}

    admin = AIOKafkaAdminClient(bootstrap_servers=own.kafka_bootstrap_servers)
    await admin.start()
    try:
        described = await admin.describe_topics([own.topic("escrow")])
    finally:
        await admin.close()
    assert len(described[0]["partitions"]) == 4


def test_a_tenant_has_one_partition_the_one_kafka_would_give_its_id_as_a_key() -> None:
    from aiokafka.partitioner import DefaultPartitioner

    partitions = [0, 1, 2, 3, 4, 5]
    for tenant in ("acme", "globex", "t-1f2e", "渠道"):
        expected = DefaultPartitioner()(tenant.encode(), partitions, partitions)
        assert partition_for(tenant, set(partitions)) == expected


async def test_the_relay_sends_a_tenants_events_to_its_partition_keyed_by_subject(
    settings: Settings, backbone_engine: AsyncEngine
) -> None:
    """Every event of a tenant lands on that tenant's partition (so one consumer of a group
    owns the tenant on every topic); its key stays the subject."""
    topic = f"{settings.topic_prefix}.part-{uuid.uuid4().hex[:8]}"
    await create_topic(settings.kafka_bootstrap_servers, topic, partitions=6)
    envs = [widget_event(f"w{n}", n, tenant=t) for n in range(12) for t in ("acme", "globex")]
    async with backbone_engine.begin() as conn:
        await add_to_outbox(conn, topic, *envs)
    producer = make_producer(settings.kafka_bootstrap_servers)
    await producer.start()
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers,
                                auto_offset_reset="earliest")  # fmt: skip
    await consumer.start()
    try:
        while await OutboxRelay(backbone_engine, producer).relay_once():
            pass
        parts = await partitions_of(consumer, topic)
        consumer.assign(parts)
        seen: dict[str, set[int]] = {}
        keys: set[bytes] = set()
        received = 0
        for _ in range(30):
            for tp, records in (await consumer.getmany(timeout_ms=1_000)).items():
                for r in records:
                    tenant = dict(r.headers)["ce_tftenant"].decode()
                    seen.setdefault(tenant, set()).add(tp.partition)
                    keys.add(r.key)
                    received += 1
            if received >= len(envs):
                break
        assert received == len(envs), "the relay's records did not all arrive"
    finally:
        await consumer.stop()
        await producer.stop()
    assert {t: len(p) for t, p in seen.items()} == {"acme": 1, "globex": 1}
    assert seen["acme"] == {partition_for("acme", range(6))}
    assert keys == {f"w{n}".encode() for n in range(12)}
