"""The inbox's offset commit after a batch, against a rebalance that took its partitions away."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from shared.inbox import InboxConsumer

TP = TopicPartition("tradeflow.escrow", 0)


def record(offset: int) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(TP.topic, TP.partition, offset, 0, 0, None, b"{}", None, 0, 2, [])


class RebalancedAway:
    """A Kafka consumer that hands out a batch and then loses every partition before it commits."""

    def __init__(self, assigned: set[TopicPartition]) -> None:
        self.assigned = assigned
        self.commits: list[dict[TopicPartition, int]] = []

    async def getmany(self, **_: Any) -> dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]:
        return {TP: [record(7), record(8)]}

    def assignment(self) -> set[TopicPartition]:
        return self.assigned

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        if not offsets:  # what aiokafka does with an empty map
            raise ValueError(offsets)
        self.commits.append(offsets)


@pytest.fixture
async def inbox(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[InboxConsumer]:
    consumer = InboxConsumer(
        name="test",
        topics=["tradeflow.escrow"],
        bootstrap_servers="127.0.0.1:1",
        engine=None,  # type: ignore[arg-type]
        handler=None,  # type: ignore[arg-type]
        dlq_producer=None,
    )

    async def processed(records: Sequence[ConsumerRecord[bytes, bytes]]) -> None:
        return None

    monkeypatch.setattr(consumer, "process", processed)
    kafka = consumer.consumer
    yield consumer
    await kafka.stop()


async def test_a_batch_whose_partitions_were_all_taken_away_commits_nothing(
    inbox: InboxConsumer,
) -> None:
    kafka = RebalancedAway(assigned=set())
    inbox.consumer = kafka
    assert await inbox.poll_once() == 2
    assert kafka.commits == []


async def test_a_batch_still_owned_commits_past_its_last_record(inbox: InboxConsumer) -> None:
    kafka = RebalancedAway(assigned={TP})
    inbox.consumer = kafka
    assert await inbox.poll_once() == 2
    assert kafka.commits == [{TP: 9}]
