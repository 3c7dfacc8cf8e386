"""Kafka topic provisioning: every service's event topic and the dead-letter topic.

Brokers in production usually refuse to auto-create topics; ``ensure_topics`` creates the
missing ones with the given partition count and leaves existing ones alone (a partition
count is never changed behind the operator's back: it would move keys between partitions
and break per-subject ordering).
"""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from shared.settings import SERVICES, Settings


def topic_names(settings: Settings) -> list[str]:
    return [settings.topic(s) for s in SERVICES] + [settings.dlq_topic]


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
