"""Kafka topic provisioning: every service's event topic and the dead-letter topic.

Brokers in production usually refuse to auto-create topics; ``ensure_topics`` creates the
missing ones with the given partition count and leaves existing ones alone (a partition
count is never changed behind the operator's back: it would move keys between partitions
and break per-subject ordering).

Partitioning: every event goes to the partition of its **tenant** (Kafka's default
partitioner applied to the tenant id), while its key stays the subject. One subject's events
therefore still share a partition (a subject belongs to one tenant), so they stay in order,
and one tenant's events share one partition on every topic. The topics are created with the
same partition count and the consumers assign partitions by range, so one member of a
consumer group owns a tenant on all its topics: the ledger's consumers post different
tenants' books in parallel and never wait on each other's locks (docs/operations.md).
"""

from __future__ import annotations

from collections.abc import Collection

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.partitioner import murmur2

from shared.settings import ALL_SERVICES, Settings


def topic_names(settings: Settings) -> list[str]:
    return [settings.topic(s) for s in ALL_SERVICES] + [settings.dlq_topic]


async def ensure_topics(
    settings: Settings, partitions: int = 6, replication: int = 1
) -> dict[str, str]:
    """Create what is missing; returns each topic with 'created' or 'exists'."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = topic_names(settings)
        missing = [t for t in wanted if t not in existing]
        if missing:
            await admin.create_topics([NewTopic(t, partitions, replication) for t in missing])
        return {t: "created" if t in missing else "exists" for t in wanted}
    finally:
        await admin.close()


def partition_for(tenant_id: str, partitions: Collection[int]) -> int:
    """The tenant's partition among ``partitions``: Kafka's default partitioner on the
    tenant id, as if it were the key (murmur2, positive, modulo the partition count)."""
    ordered = sorted(partitions)
    return ordered[(int(murmur2(tenant_id.encode())) & 0x7FFFFFFF) % len(ordered)]


async def tenant_partition(producer: AIOKafkaProducer, topic: str, tenant_id: str) -> int:
    return partition_for(tenant_id, await producer.partitions_for(topic))


async def partitions_of(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    """Every partition of ``topic``, asked of the broker (a consumer that subscribed to
    nothing knows none: ``partitions_for_topic`` answers None for a topic it never asked
    about). An unknown topic has none."""
    metadata = await consumer._client.fetch_all_metadata()
    return [TopicPartition(topic, p) for p in sorted(metadata.partitions_for_topic(topic) or ())]
