"""Reading the chain checkpoints back from Kafka, against a stand-in consumer."""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from services.ledger.adapters import checkpoints
from shared.events import Envelope
from shared.events.ledger import ChainCheckpoint

TOPIC = "tradeflow.ledger.events"
LIVE, EXPIRED = TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)


def _record(env: Envelope, offset: int) -> ConsumerRecord[bytes, bytes]:
    key, value, headers = env.to_kafka()
    return ConsumerRecord(TOPIC, 0, offset, 0, 0, key, value, None, len(key), len(value), headers)


class _Partitions:
    """A topic of two partitions: one holds a checkpoint, the other's records all expired
    (its log starts where it ends, at offset 7)."""

    def __init__(self, *_: Any, **__: Any) -> None:
        cp = ChainCheckpoint(book="tenant:t1", seq=3, hash="a" * 64)
        env = Envelope.wrap(cp, source="ledger", tenant_id="t1", subject="tenant:t1")
        self.records = {LIVE: [_record(env, 0)], EXPIRED: []}
        self.positions = {LIVE: 0, EXPIRED: 7}

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    def assign(self, partitions: list[TopicPartition]) -> None: ...
    async def seek_to_beginning(self, *partitions: TopicPartition) -> None: ...

    async def end_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {LIVE: 1, EXPIRED: 7}

    async def position(self, tp: TopicPartition) -> int:
        return self.positions[tp]

    async def getmany(
        self, *partitions: TopicPartition, timeout_ms: int = 0
    ) -> dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]:
        out = {tp: self.records[tp] for tp in partitions if self.records[tp]}
        for tp, records in out.items():
            self.positions[tp] = records[-1].offset + 1
            self.records[tp] = []
        return out


async def test_a_partition_emptied_by_retention_is_read_to_its_end_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No record will ever reach the end of a partition whose records expired: the reader
    waited for one until its deadline, and verify called every checkpoint unreadable."""

    async def partitions_of(consumer: Any, topic: str) -> list[TopicPartition]:
        return [LIVE, EXPIRED]

    monkeypatch.setattr(checkpoints, "AIOKafkaConsumer", _Partitions)
    monkeypatch.setattr(checkpoints, "partitions_of", partitions_of)
    published = await checkpoints.read_published("kafka:9092", TOPIC, within=1.5)
    assert {b: p.seq for b, p in published.items()} == {"tenant:t1": 3}
