"""Fetching the next batch while the current one is applied (shared/batches.py), against a
stand-in for the Kafka consumer: what it takes it parses, prepares and, when it will not be
applied, gives back."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from aiokafka import ConsumerRecord, TopicPartition

from shared.batches import Batch, fetch, prepared
from shared.events import Envelope, EventModel, event

TP0, TP1 = TopicPartition("t", 0), TopicPartition("t", 1)
Chunk = Mapping[TopicPartition, list[ConsumerRecord]]


@event("test.batch_tick")
class Tick(EventModel):
    n: int


def record(tp: TopicPartition, offset: int, value: bytes | None = None) -> ConsumerRecord:
    env = Envelope.wrap(Tick(n=offset), source="test", tenant_id="t", subject=f"s{offset}")
    key, body, headers = env.to_kafka()
    return ConsumerRecord(tp.topic, tp.partition, offset, 0, 0, key, value or body, None,
                          len(key), len(body), headers)  # fmt: skip


class Kafka:
    """Hands out the chunks in order, then nothing; records seeks."""

    def __init__(self, *chunks: Chunk) -> None:
        self.chunks = list(chunks)
        self.seeks: dict[TopicPartition, int] = {}
        self.assigned = {TP0, TP1}

    async def getmany(self, timeout_ms: int, max_records: int) -> Chunk:
        if self.chunks:
            return self.chunks.pop(0)
        await asyncio.sleep(timeout_ms / 1000)
        return {}

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks[tp] = offset

    def assignment(self) -> set[TopicPartition]:
        return self.assigned


def _fetch(kafka: Kafka, *args: Any, **kw: Any) -> Any:
    return fetch(kafka, *args, **kw)  # type: ignore[arg-type]


async def test_a_plain_fetch_parses_one_getmany_and_prepares_what_it_can() -> None:
    kafka = Kafka({TP0: [record(TP0, 0), record(TP0, 1, b"{not json")], TP1: [record(TP1, 7)]})

    def prepare(env: Envelope) -> object:
        if env.payload().n == 7:  # type: ignore[attr-defined]
            raise ValueError("the handler will meet this one again")
        return ("ready", env.id)

    batch = await _fetch(kafka, 100, 10, prepare)
    assert batch.count == 3 and len(batch.items) == 2 and len(batch.poison) == 1
    first, seventh = batch.items[0][1], batch.items[1][1]
    assert batch.prepared == {first.id: ("ready", first.id)}
    with batch.applying():
        assert prepared(first) == ("ready", first.id) and prepared(seventh) is None
    assert prepared(first) is None  # only while its batch is applied


async def test_a_fetch_ahead_gathers_until_full_or_until_the_batch_before_is_done() -> None:
    full = await _fetch(Kafka(*[{TP0: [record(TP0, i)]} for i in range(5)]), 3, 10,
                        until=asyncio.Event())  # fmt: skip
    assert [r.offset for r in full.records[TP0]] == [0, 1, 2]

    done = asyncio.Event()
    kafka = Kafka({TP0: [record(TP0, 0)]}, {TP1: [record(TP1, 0)]})
    task = asyncio.create_task(_fetch(kafka, 100, 10, until=done))
    await asyncio.sleep(0.05)
    done.set()
    batch: Batch = await task
    assert batch.count == 2  # both chunks, then it stopped waiting for more


async def test_a_cancelled_fetch_ahead_gives_back_what_it_took() -> None:
    kafka = Kafka({TP0: [record(TP0, 4), record(TP0, 5)], TP1: [record(TP1, 9)]})
    task = asyncio.create_task(_fetch(kafka, 100, 10, until=asyncio.Event()))
    await asyncio.sleep(0.05)  # it took the records and waits for more
    task.cancel()
    await asyncio.wait([task])
    assert task.cancelled() and kafka.seeks == {TP0: 4, TP1: 9}


async def test_records_of_partitions_taken_away_by_a_rebalance_are_not_applied() -> None:
    batch = await _fetch(Kafka({TP0: [record(TP0, 0)], TP1: [record(TP1, 0)]}), 100, 10)
    kept = batch.only({TP1})
    assert list(kept.records) == [TP1] and [r.partition for r, _ in kept.items] == [1]
    assert batch.only({TP0, TP1}) is batch
