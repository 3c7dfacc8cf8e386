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
(tenacity). One that still fails is parked on the dead-letter topic with the reason in its
headers, and so is every later event of the same subject (shared.parking), so an aggregate's
events are never applied with a gap; other subjects go on.
When the *infrastructure* fails (database unreachable, an event newer than this code), no
event is to blame: nothing is dead-lettered, the batch is rewound and retried after a pause.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import pydantic
import structlog
from aiokafka import (
    AIOKafkaConsumer,
    AIOKafkaProducer,
    ConsumerRebalanceListener,
    ConsumerRecord,
    TopicPartition,
)
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from tenacity import (
    AsyncRetrying,
    retry_if_not_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from shared.db import inbox
from shared.db import is_unavailable as database_unavailable
from shared.events.envelope import Envelope, EnvelopeError
from shared.events.registry import NewerEventVersion, UnknownEventType
from shared.logging import bind_event
from shared.metrics import EVENTS_CONSUMED, EVENTS_DEAD_LETTERED, EVENTS_REDELIVERED
from shared.parking import park, parked
from shared.redaction import redact

log = structlog.get_logger(__name__)

Handler = Callable[[AsyncConnection, Envelope], Awaitable[None]]
BatchHandler = Callable[[AsyncConnection, Sequence[Envelope]], Awaitable[None]]
Item = tuple[ConsumerRecord, Envelope]

DEFAULT_DLQ_TOPIC = "tradeflow.dead-letter"


class PermanentFailure(Exception):
    """An event that can never succeed (invalid, or refused by the domain): no retries."""


class Stalled(Exception):
    """Nothing can be processed now (the infrastructure is down): rewind and pause."""


PERMANENT = (PermanentFailure, EnvelopeError, UnknownEventType, pydantic.ValidationError)


def is_unavailable(exc: BaseException) -> bool:
    """Failures that say nothing about the event: every event would fail the same way now
    (the database cannot be used, see ``shared.db.is_unavailable``, or the event is of a
    version newer than this code)."""
    return isinstance(exc, NewerEventVersion) or database_unavailable(exc)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    initial_wait: float = 0.1
    max_wait: float = 5.0
    stall_max_wait: float = 30.0


class _LogRebalances(ConsumerRebalanceListener):
    """Partitions moving between a group's members, in the log (operators and the chaos run
    read it to see that a rebalance happened and that nothing stayed behind it)."""

    def __init__(self, consumer: str) -> None:
        self.consumer = consumer

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        log.info("inbox.partitions_revoked", consumer=self.consumer, partitions=_names(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        log.info("inbox.partitions_assigned", consumer=self.consumer, partitions=_names(assigned))


def _names(partitions: set[TopicPartition]) -> list[str]:
    return sorted(f"{tp.topic}:{tp.partition}" for tp in partitions)


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
        group_id: str | None = None,
    ) -> None:
        # ``name`` keys the inbox rows; ``group_id`` (default: the name) is the Kafka consumer
        # group, which deployments sharing a broker must keep apart (services/runner.py
        # prefixes it with the topic prefix).
        self.name = name
        self.topics = list(topics)
        self.engine = engine
        self.handler = handler
        self.batch_handler = batch_handler
        self.dlq_producer = dlq_producer
        self.dlq_topic = dlq_topic
        self.retry = retry or RetryPolicy()
        self.max_records = max_records
        self._stalls = 0
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers,
            group_id=group_id or name,
            # By range: a member gets the same partition numbers of every topic, and so
            # (events being partitioned by tenant, shared/topics.py) whole tenants.
            partition_assignment_strategy=(RangePartitionAssignor,),
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
        )
        self.consumer.subscribe(self.topics, listener=_LogRebalances(name))

    async def start(self) -> None:
        await self.consumer.start()

    async def stop(self) -> None:
        await self.consumer.stop()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.poll_once(timeout_ms=500)
            except KafkaError as exc:  # the broker went away: the next poll reconnects
                log.warning("inbox.kafka_error", consumer=self.name, error=repr(exc))
                await asyncio.sleep(1.0)

    async def poll_once(self, timeout_ms: int = 500) -> int:
        """Fetch, process and commit one batch; returns how many records it covered."""
        fetched = await self.consumer.getmany(timeout_ms=timeout_ms, max_records=self.max_records)
        records = [r for batch in fetched.values() for r in batch]
        if not records:
            return 0
        try:
            await self.process(records)
        except Stalled as exc:
            self._stalls += 1
            pause = min(self.retry.initial_wait * 2**self._stalls, self.retry.stall_max_wait)
            log.warning("inbox.stalled", consumer=self.name, error=repr(exc.__cause__), pause=pause)
            for tp, batch in fetched.items():
                self.consumer.seek(tp, batch[0].offset)
            await asyncio.sleep(pause)
            return 0
        self._stalls = 0
        assigned = self.consumer.assignment()
        offsets = {tp: b[-1].offset + 1 for tp, b in fetched.items() if b and tp in assigned}
        try:
            await self._commit_offsets(offsets)
        except (CommitFailedError, IllegalStateError) as exc:
            # A rebalance took partitions away mid-batch; their new owner gets the records
            # again and the inbox makes that harmless.
            log.warning("inbox.commit_skipped", consumer=self.name, error=repr(exc))
        return len(records)

    async def _commit_offsets(self, offsets: dict[TopicPartition, int]) -> None:
        await self.consumer.commit(offsets)

    async def process(self, records: Sequence[ConsumerRecord]) -> None:
        items: list[Item] = []
        for record in records:
            try:
                items.append((record, Envelope.from_kafka(record.value, record.headers)))
            except EnvelopeError as exc:
                await self._dead_letter(record, None, exc, attempts=1)
        if not items:
            return
        try:
            await self._apply(items, use_batch=self.batch_handler is not None)
        except Exception as exc:
            if is_unavailable(exc):
                raise Stalled() from exc
            log.warning("inbox.batch_failed_retrying_singly", consumer=self.name, error=repr(exc))
            for item in items:
                await self._apply_one_with_retry(item)

    async def _apply(self, items: Sequence[Item], *, use_batch: bool) -> None:
        """Claim, skip what was seen, divert what is parked, apply the rest: one transaction."""
        async with self.engine.begin() as conn:
            fresh = await self._claim(conn, items)
            blocked = await parked(conn, self.name, {env.subject for _, env in fresh})
            ready = [env for _, env in fresh if env.subject not in blocked]
            for record, env in fresh:
                if env.subject in blocked:
                    await self._send_dead_letter(record, blocked[env.subject], "SubjectParked", 0)
            if use_batch and self.batch_handler is not None:
                if ready:
                    await self.batch_handler(conn, ready)
            else:
                for env in ready:
                    with bind_event(env):
                        await self.handler(conn, env)
        EVENTS_CONSUMED.labels(self.name).inc(len(ready))
        if len(fresh) < len(items):  # counted once the transaction that dropped them committed
            self._absorbed(len(items) - len(fresh))

    def _absorbed(self, count: int) -> None:
        """Redelivered events the inbox dropped: the cost of at-least-once, made visible."""
        EVENTS_REDELIVERED.labels(self.name).inc(count)
        log.info("inbox.redelivered_absorbed", consumer=self.name, count=count)

    async def _claim(self, conn: AsyncConnection, items: Sequence[Item]) -> list[Item]:
        """Insert inbox rows; return the items not seen before, in their original order."""
        unique = {env.id: env for _, env in items}
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
        fresh = []
        for record, env in items:
            if env.id in new_ids:
                new_ids.discard(env.id)
                fresh.append((record, env))
        return fresh

    async def _apply_one_with_retry(self, item: Item) -> None:
        record, env = item
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
                    await self._apply([item], use_batch=False)
        except Exception as exc:
            if is_unavailable(exc):
                raise Stalled() from exc
            await self._dead_letter(record, env, exc, attempts=attempts)

    async def _dead_letter(
        self, record: ConsumerRecord, env: Envelope | None, exc: BaseException, attempts: int
    ) -> None:
        """Park the record's subject and send it to the dead-letter topic, atomically enough:
        the letter is sent before the parking commits, so a crash can only duplicate it."""
        # Kept in a Kafka header and the parked subject's row: no secret an error echoed.
        reason = redact(f"{type(exc).__name__}: {exc}")[:2000]
        subject = (
            env.subject if env else (record.key.decode(errors="replace") if record.key else None)
        )
        log.error("inbox.dead_lettered", consumer=self.name, topic=record.topic,
                  partition=record.partition, offset=record.offset, reason=reason)  # fmt: skip
        async with self.engine.begin() as conn:
            if env is not None:
                await conn.execute(
                    pg_insert(inbox)
                    .values(consumer=self.name, event_id=env.id, event_type=env.type)
                    .on_conflict_do_nothing()
                )
            if subject is not None:
                await park(conn, self.name, subject, env.id if env else None,
                           f"event {env.id if env else f'at offset {record.offset}'} failed: {reason}")  # fmt: skip
            await self._send_dead_letter(record, reason, type(exc).__name__, attempts)

    async def _send_dead_letter(
        self, record: ConsumerRecord, reason: str, error_type: str, attempts: int
    ) -> None:
        EVENTS_DEAD_LETTERED.labels(self.name).inc()
        headers = [
            *[(k, v) for k, v in (record.headers or ()) if not k.startswith("dlq_")],
            ("dlq_reason", reason.encode()),
            ("dlq_error_type", error_type.encode()),
            ("dlq_consumer", self.name.encode()),
            ("dlq_topic", record.topic.encode()),
            ("dlq_partition", str(record.partition).encode()),
            ("dlq_offset", str(record.offset).encode()),
            ("dlq_attempts", str(attempts).encode()),
        ]
        await self.dlq_producer.send_and_wait(
            self.dlq_topic, value=record.value, key=record.key, headers=headers
        )
