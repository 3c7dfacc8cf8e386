"""Inbox consumer: exactly-once effects on top of Kafka's at-least-once delivery.

For each batch fetched from Kafka, in ONE database transaction:
1. every record is parsed into an ``Envelope``; one that cannot be parsed is poison and is
   dead-lettered (retrying cannot fix it);
2. the event ids are inserted into ``inbox`` (ON CONFLICT DO NOTHING) and only the new ones
   go on, so a redelivered event has no second effect; the new events of a parked subject
   (shared.parking) follow it to the dead-letter topic;
3. the rest are handed to the handler, all at once;
4. the batch's dead letters are sent, then the transaction commits, then the Kafka offsets.
   A crash in between redelivers the batch, which step 2 turns into a no-op (a dead letter
   may then be sent twice, never lost).

A failure does not send the batch back event by event. A batch handler may name the events
it could not apply (by id, with the error) and apply the rest: that costs nothing more. If
the handler raises instead, the batch is split by subject and applied again in savepoints of
the same transaction, halving the part that failed until each failure is pinned to one
event. An event that failed
- for good (``PermanentFailure``, an invalid event) is dead-lettered with this batch, and
  its subject is parked: its later events go to the dead-letter topic behind it, never
  applied after a gap, while other subjects go on;
- for a reason that may pass is retried: the rest of the batch commits first, then the
  failed subjects (each from its failed event on) are retried together with exponential
  backoff, ``RetryPolicy.attempts`` tries in all, and dead-lettered if they still fail.
When the *infrastructure* fails (database unreachable, an event newer than this code, the
dead-letter topic refusing a letter), no event is to blame: nothing is dead-lettered, the
batch is rewound and retried after a pause.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import pydantic
import sqlalchemy as sa
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
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.db import is_unavailable as database_unavailable
from shared.events.envelope import Envelope, EnvelopeError
from shared.events.registry import NewerEventVersion, UnknownEventType
from shared.logging import bind_event
from shared.metrics import EVENTS_CONSUMED, EVENTS_DEAD_LETTERED, EVENTS_REDELIVERED
from shared.outages import DependencyUnavailable
from shared.parking import Letter, Parking, park_all, parked, send_letters
from shared.pinning import Failures as Failures  # part of the batch handler's signature
from shared.pinning import Item, apply_pinned
from shared.redaction import redact

log = structlog.get_logger(__name__)

Handler = Callable[[AsyncConnection, Envelope], Awaitable[None]]
# Applies a batch in the caller's transaction, in order per subject. Instead of raising it
# may return the events it could not apply: it must then have left no effect of them (a
# savepoint of its own, or a check before writing) and applied no later event of their
# subjects. Raising fails the batch, which the consumer then splits to find the culprits.
BatchHandler = Callable[[AsyncConnection, Sequence[Envelope]], Awaitable[Failures | None]]
DEFAULT_DLQ_TOPIC = "tradeflow.dead-letter"


class PermanentFailure(Exception):
    """An event that can never succeed (invalid, or refused by the domain): no retries."""


class Stalled(Exception):
    """Nothing can be processed now (the infrastructure is down): rewind and pause."""


PERMANENT = (PermanentFailure, EnvelopeError, UnknownEventType, pydantic.ValidationError)


def is_unavailable(exc: BaseException) -> bool:
    """Failures that say nothing about the event: every event would fail the same way now
    (the database cannot be used, see ``shared.db.is_unavailable``, another dependency such
    as Stripe cannot be reached, ``shared.outages``, or the event is of a version newer than
    this code)."""
    return isinstance(exc, NewerEventVersion | DependencyUnavailable) or database_unavailable(exc)


def is_permanent(exc: BaseException) -> bool:
    return isinstance(exc, PERMANENT) and not is_unavailable(exc)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    initial_wait: float = 0.1
    max_wait: float = 5.0
    stall_max_wait: float = 30.0

    def wait(self, tries: int) -> float:
        """The pause after ``tries`` failed tries (0.1, 0.2, 0.4, ... at most ``max_wait``)."""
        return min(self.initial_wait * 2.0 ** (tries - 1), self.max_wait)


class _LogRebalances(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka: untyped
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


# One statement whatever the batch size (a multi-row VALUES would be compiled per size).
# In id order: two members of the group applying the same records at once (a rebalance
# mid-batch), each in the order its fetch listed the partitions, waited on each other's
# claims in a circle otherwise (a deadlock, which is no outage: the consumer exited).
_CLAIM = sa.text(
    "INSERT INTO inbox (consumer, event_id, event_type)"
    " SELECT :consumer, e.id, e.type"
    " FROM unnest(CAST(:ids AS uuid[]), CAST(:types AS text[])) AS e(id, type)"
    " ORDER BY e.id ON CONFLICT DO NOTHING RETURNING event_id"
)
_UNCLAIM = sa.text("DELETE FROM inbox WHERE consumer = :consumer AND event_id = ANY(:ids)")


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
            # Room for a whole batch from one partition (one busy tenant) in one fetch: a
            # Tradeflow record, headers included, is well under 1 KiB.
            max_partition_fetch_bytes=max(1 << 20, max_records * 1024),
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
        if not offsets:  # a rebalance took every partition of the batch away (and aiokafka
            return len(records)  # refuses an empty map): their new owner commits them
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
        """Apply the records; raises ``Stalled`` (nothing committed since) when it cannot."""
        items: list[Item] = []
        poison: list[tuple[ConsumerRecord, EnvelopeError]] = []
        for record in records:
            try:
                items.append((record, Envelope.from_kafka(record.value, record.headers)))
            except EnvelopeError as exc:
                poison.append((record, exc))
        try:
            retry = await self._settle(items, poison, tries=1)
            tries = 1
            while retry:  # events that failed for a reason that may pass; the rest committed
                log.warning("inbox.retrying", consumer=self.name, events=len(retry), tries=tries)
                await asyncio.sleep(self.retry.wait(tries))
                tries += 1
                retry = await self._settle(retry, [], tries)
        except Exception as exc:
            if is_unavailable(exc) or isinstance(exc, KafkaError):
                raise Stalled() from exc
            raise

    async def _settle(
        self,
        items: Sequence[Item],
        poison: Sequence[tuple[ConsumerRecord, EnvelopeError]],
        tries: int,
    ) -> list[Item]:
        """One transaction: claim, divert what is parked, apply the rest, dead-letter what
        failed for good; returns the items to try again (their claims withdrawn)."""
        letters: list[Letter] = []
        parking: list[Parking] = []
        async with self.engine.begin() as conn:
            fresh = await self._claim(conn, items)
            blocked = await parked(conn, self.name, {env.subject for _, env in fresh})
            ready = []
            for record, env in fresh:
                if env.subject in blocked:
                    letters.append(Letter(record, blocked[env.subject], "SubjectParked", 0))
                else:
                    ready.append((record, env))
            for record, exc in poison:
                self._condemn(record, None, exc, 1, letters, parking)
            failed = await apply_pinned(conn, ready, self._handle, is_unavailable) if ready else []
            retry: list[Item] = []
            for f in failed:
                if is_unavailable(f.error):
                    raise f.error
                if is_permanent(f.error) or tries >= self.retry.attempts:
                    record, env = f.items[0]
                    reason = self._condemn(record, env, f.error, tries, letters, parking)
                    letters += [Letter(r, reason, "SubjectParked", 0) for r, _ in f.items[1:]]
                else:
                    retry += f.items
            if retry:
                ids = [env.id for _, env in retry]
                await conn.execute(_UNCLAIM, {"consumer": self.name, "ids": ids})
            await park_all(conn, self.name, parking)
            await send_letters(self.dlq_producer, self.dlq_topic, self.name, letters)
        EVENTS_CONSUMED.labels(self.name).inc(len(ready) - sum(len(f.items) for f in failed))
        EVENTS_DEAD_LETTERED.labels(self.name).inc(len(letters))
        if len(fresh) < len(items):  # counted once the transaction that dropped them committed
            self._absorbed(len(items) - len(fresh))
        return retry

    async def _handle(self, conn: AsyncConnection, envelopes: Sequence[Envelope]) -> Failures:
        if self.batch_handler is not None:
            return await self.batch_handler(conn, envelopes) or {}
        for env in envelopes:
            with bind_event(env):
                await self.handler(conn, env)
        return {}

    def _absorbed(self, count: int) -> None:
        """Redelivered events the inbox dropped: the cost of at-least-once, made visible."""
        EVENTS_REDELIVERED.labels(self.name).inc(count)
        log.info("inbox.redelivered_absorbed", consumer=self.name, count=count)

    async def _claim(self, conn: AsyncConnection, items: Sequence[Item]) -> list[Item]:
        """Insert inbox rows; return the items not seen before, in their original order."""
        if not items:
            return []
        unique = {env.id: env.type for _, env in items}
        new_ids = set(
            (
                await conn.execute(
                    _CLAIM,
                    {"consumer": self.name, "ids": list(unique), "types": list(unique.values())},
                )
            ).scalars()
        )
        fresh = []
        for record, env in items:
            if env.id in new_ids:
                new_ids.discard(env.id)
                fresh.append((record, env))
        return fresh

    def _condemn(
        self,
        record: ConsumerRecord,
        env: Envelope | None,
        exc: BaseException,
        attempts: int,
        letters: list[Letter],
        parking: list[Parking],
    ) -> str:
        """Dead-letter the record and park its subject (with the batch); returns the reason
        the subject's later events are parked for."""
        # Kept in a Kafka header and the parked subject's row: no secret an error echoed.
        reason = redact(f"{type(exc).__name__}: {exc}")[:2000]
        subject = (
            env.subject if env else (record.key.decode(errors="replace") if record.key else None)
        )
        log.error("inbox.dead_lettered", consumer=self.name, topic=record.topic,
                  partition=record.partition, offset=record.offset, reason=reason)  # fmt: skip
        letters.append(Letter(record, reason, type(exc).__name__, attempts))
        why = f"event {env.id if env else f'at offset {record.offset}'} failed: {reason}"
        if subject is not None:
            parking.append(Parking(subject, env.id if env else None, why))
        return why
