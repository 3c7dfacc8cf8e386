"""Inbox consumer: exactly-once effects on top of Kafka's at-least-once delivery.

For each batch fetched from Kafka:
1. every record is parsed into an ``Envelope``; one that cannot be parsed is poison and goes
   straight to the dead-letter topic (retrying cannot fix it);
2. in ONE database transaction the event ids are inserted into ``inbox`` (ON CONFLICT DO
   NOTHING) and only the new ones are handed to the handler, so a redelivered event has no
   second effect;
3. only after that transaction commits are the Kafka offsets committed. A crash in between
   redelivers the batch, which step 2 turns into a no-op.
If the batch transaction fails, each event is retried on its own with exponential backoff
(tenacity); one that still fails is parked on the dead-letter topic with the reason in its
headers, and the consumer goes on with the next one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import pydantic
import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from tenacity import (
    AsyncRetrying,
    retry_if_not_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from shared.db import inbox
from shared.events.envelope import Envelope, EnvelopeError
from shared.events.registry import UnknownEventType
from shared.logging import bind_event
from shared.metrics import EVENTS_CONSUMED, EVENTS_DEAD_LETTERED

log = structlog.get_logger(__name__)

Handler = Callable[[AsyncConnection, Envelope], Awaitable[None]]
BatchHandler = Callable[[AsyncConnection, Sequence[Envelope]], Awaitable[None]]

DEFAULT_DLQ_TOPIC = "tradeflow.dead-letter"


class PermanentFailure(Exception):
    """An event that can never succeed (invalid, or refused by the domain): no retries."""


PERMANENT = (PermanentFailure, EnvelopeError, UnknownEventType, pydantic.ValidationError)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    initial_wait: float = 0.1
    max_wait: float = 5.0


class InboxConsumer:
    def __init__(
        self,
        *,
        name: str,
        topics: Sequence[str],
        engine: AsyncEngine,
        bootstrap_servers: str,
        handler: Handler,
        dlq_producer: AIOKafkaProducer,
        batch_handler: BatchHandler | None = None,
        dlq_topic: str = DEFAULT_DLQ_TOPIC,
        retry: RetryPolicy | None = None,
        max_records: int = 500,
    ) -> None:
        self.name = name
        self.topics = list(topics)
        self.engine = engine
        self.handler = handler
        self.batch_handler = batch_handler
        self.dlq_producer = dlq_producer
        self.dlq_topic = dlq_topic
        self.retry = retry or RetryPolicy()
        self.max_records = max_records
        self.consumer = AIOKafkaConsumer(
            *self.topics,
            bootstrap_servers=bootstrap_servers,
            group_id=name,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
        )

    async def start(self) -> None:
        await self.consumer.start()

    async def stop(self) -> None:
        await self.consumer.stop()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.poll_once(timeout_ms=500)

    async def poll_once(self, timeout_ms: int = 500) -> int:
        """Fetch, process and commit one batch; returns how many records it covered."""
        fetched = await self.consumer.getmany(timeout_ms=timeout_ms, max_records=self.max_records)
        records = [r for batch in fetched.values() for r in batch]
        if not records:
            return 0
        await self.process(records)
        offsets = {tp: batch[-1].offset + 1 for tp, batch in fetched.items() if batch}
        await self._commit_offsets(offsets)
        return len(records)

    async def _commit_offsets(self, offsets: dict[TopicPartition, int]) -> None:
        await self.consumer.commit(offsets)

    async def process(self, records: Sequence[ConsumerRecord]) -> None:
        parsed: list[tuple[ConsumerRecord, Envelope]] = []
        for record in records:
            try:
                parsed.append((record, Envelope.from_kafka(record.value, record.headers)))
            except EnvelopeError as exc:
                await self._dead_letter(record, exc, attempts=1)
        if not parsed:
            return
        try:
            await self._apply([env for _, env in parsed], use_batch=self.batch_handler is not None)
        except Exception as exc:
            log.warning("inbox.batch_failed_retrying_singly", consumer=self.name, error=repr(exc))
            for record, env in parsed:
                await self._apply_one_with_retry(record, env)

    async def _apply(self, envelopes: Sequence[Envelope], *, use_batch: bool) -> None:
        async with self.engine.begin() as conn:
            fresh = await self._claim(conn, envelopes)
            if use_batch and self.batch_handler is not None:
                if fresh:
                    await self.batch_handler(conn, fresh)
            else:
                for env in fresh:
                    with bind_event(env):
                        await self.handler(conn, env)
        EVENTS_CONSUMED.labels(self.name).inc(len(fresh))

    async def _claim(self, conn: AsyncConnection, envelopes: Sequence[Envelope]) -> list[Envelope]:
        """Insert inbox rows; return the envelopes not seen before, in their original order."""
        unique = {env.id: env for env in envelopes}
        stmt = (
            pg_insert(inbox)
            .values(
                [
                    {"consumer": self.name, "event_id": env.id, "event_type": env.type}
                    for env in unique.values()
                ]
            )
            .on_conflict_do_nothing()
            .returning(inbox.c.event_id)
        )
        new_ids = set((await conn.execute(stmt)).scalars())
        seen: set[object] = set()
        fresh = []
        for env in envelopes:
            if env.id in new_ids and env.id not in seen:
                seen.add(env.id)
                fresh.append(env)
        return fresh

    async def _apply_one_with_retry(self, record: ConsumerRecord, env: Envelope) -> None:
        attempts = 0
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(self.retry.attempts),
                wait=wait_exponential(multiplier=self.retry.initial_wait, max=self.retry.max_wait),
                retry=retry_if_not_exception_type(PERMANENT),
                reraise=True,
            ):
                with attempt:
                    attempts += 1
                    await self._apply([env], use_batch=False)
        except Exception as exc:
            await self._dead_letter(record, exc, attempts=attempts)

    async def _dead_letter(self, record: ConsumerRecord, exc: BaseException, attempts: int) -> None:
        reason = f"{type(exc).__name__}: {exc}"[:2000]
        EVENTS_DEAD_LETTERED.labels(self.name).inc()
        log.error(
            "inbox.dead_lettered",
            consumer=self.name,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            reason=reason,
        )
        headers = [
            *list(record.headers or ()),
            ("dlq_reason", reason.encode()),
            ("dlq_error_type", type(exc).__name__.encode()),
            ("dlq_consumer", self.name.encode()),
            ("dlq_topic", record.topic.encode()),
            ("dlq_partition", str(record.partition).encode()),
            ("dlq_offset", str(record.offset).encode()),
            ("dlq_attempts", str(attempts).encode()),
        ]
        await self.dlq_producer.send_and_wait(
            self.dlq_topic, value=record.value, key=record.key, headers=headers
        )
