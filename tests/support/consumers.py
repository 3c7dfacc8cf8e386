"""A service's consumer, as its ServiceDefinition declares it, on a topic of a test's own, and
the ways to kill it: in the middle of a batch, or after the database commit and before the
Kafka offsets (a ``Crash`` is a BaseException: the consumer cannot catch it, as it cannot
catch a SIGKILL)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer, TopicPartition
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.runner import ConsumerSpec
from shared.events import Envelope
from shared.inbox import BatchHandler, Failures, InboxConsumer, RetryPolicy


class Crash(BaseException):
    """The process dies here."""


class DiesBeforeOffsetCommit(InboxConsumer):
    async def _commit_offsets(self, offsets: dict[TopicPartition, int]) -> None:
        raise Crash("killed after the database commit, before the offset commit")


def dies_mid_batch(batch: BatchHandler) -> BatchHandler:
    """The batch handler, then death before the batch's transaction commits."""

    async def handle(conn: AsyncConnection, envelopes: Sequence[Envelope]) -> Failures:
        await batch(conn, envelopes)
        raise Crash("killed in the middle of a batch")

    return handle


class Recorded:
    """Wraps a batch handler, recording the ids of the events it was handed, in order."""

    def __init__(self, batch: BatchHandler) -> None:
        self.batch = batch
        self.handed: list[list[Envelope]] = []

    async def __call__(self, conn: AsyncConnection, envelopes: Sequence[Envelope]) -> Failures:
        self.handed.append(list(envelopes))
        return await self.batch(conn, envelopes) or {}


def consumer_of(
    spec: ConsumerSpec,
    engine: AsyncEngine,
    bootstrap_servers: str,
    producer: AIOKafkaProducer,
    topic: str,
    *,
    name: str,
    batch: BatchHandler | None = None,
    cls: type[InboxConsumer] = InboxConsumer,
) -> InboxConsumer:
    """The spec's consumer (its handlers, its batch size) reading ``topic`` as ``name``."""
    assert spec.batch_handler is not None, f"{spec.name} has no batch handler"
    return cls(
        name=name, topics=[topic], engine=engine, bootstrap_servers=bootstrap_servers,
        handler=spec.handler, batch_handler=batch or spec.batch_handler, dlq_producer=producer,
        dlq_topic=f"{topic}.dlq", max_records=spec.max_records,
        retry=RetryPolicy(attempts=2, initial_wait=0.01, max_wait=0.02),
    )  # fmt: skip


async def run_to_end(consumer: InboxConsumer, expected: int, within: float = 30) -> int:
    """Start ``consumer``, poll until ``expected`` records were covered, stop it. A ``Crash``
    stops it too, and goes on up."""
    await consumer.start()
    try:
        seen, loop = 0, asyncio.get_running_loop()
        deadline = loop.time() + within
        while seen < expected and loop.time() < deadline:
            seen += await consumer.poll_once(timeout_ms=500)
        return seen
    finally:
        await consumer.stop()
