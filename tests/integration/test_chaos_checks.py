"""The chaos run's own checks, against the real broker: a check that cannot fail proves
nothing, so each one is shown failing on a state it must catch."""

from __future__ import annotations

import uuid

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from shared.outbox import make_producer
from shared.settings import Settings
from tests.chaos import quiet
from tests.conftest import create_topic

pytestmark = pytest.mark.integration


async def test_consumer_lag_counts_what_a_group_has_not_committed(settings: Settings) -> None:
    """The quiet check's lag: records a group has not committed, over every partition of its
    topics. It once read partitions from a consumer that knew no topic, found none and summed
    an empty list: every group was always 0 behind, so the run was declared quiet while
    consumers were still catching up (checks then failed at random, or passed on a ledger
    that was not done posting)."""
    bootstrap = settings.kafka_bootstrap_servers
    prefix = f"{settings.topic_prefix}.lag-{uuid.uuid4().hex[:6]}"
    first, second = f"{prefix}.first", f"{prefix}.second"
    await create_topic(bootstrap, first, partitions=2)
    await create_topic(bootstrap, second, partitions=2)
    producer = make_producer(bootstrap)
    await producer.start()
    try:
        for i in range(5):
            await producer.send_and_wait(first, b"x", key=f"k{i}".encode())
        for i in range(3):
            await producer.send_and_wait(second, b"y", key=f"k{i}".encode())
    finally:
        await producer.stop()
    # A group that read all of ``first`` and committed it; ``second`` it never read.
    group = f"{prefix}.caught-up-on-first"
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await reader.start()
    try:
        tps = [TopicPartition(first, p) for p in (0, 1)]
        reader.assign(tps)
        ends = await reader.end_offsets(tps)
        await reader.commit({tp: ends[tp] for tp in tps})
    finally:
        await reader.stop()

    behind = await quiet.lag(
        bootstrap, {group: [first, second], f"{prefix}.never-read": [first, second]}
    )
    assert behind == {group: 3, f"{prefix}.never-read": 8}
