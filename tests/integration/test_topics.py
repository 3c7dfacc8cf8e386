"""Topic provisioning is idempotent and never touches an existing topic."""

from __future__ import annotations

import uuid

from aiokafka.admin import AIOKafkaAdminClient

from shared.settings import Settings
from shared.topics import ensure_topics, topic_names


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
