"""Fetching a consumer's next batch while the current one is applied.

The inbox consumer applies a batch in one database transaction; while that transaction runs,
the process has little to do but wait for PostgreSQL. ``fetch`` is what it does meanwhile for
the next batch: take records from Kafka, parse them into envelopes and, when the consumer has
a ``prepare`` function (the pure half of its batch handler: payload validation, posting
rules...), run it on each, in slices that hand the event loop back between them, so the
current transaction's statements are never held up for long.

Nothing here touches the database or commits an offset: a batch fetched ahead is applied only
after the one before it committed, in order, and offsets still follow each commit. Records a
batch took are given back (``rewind``: the consumer's position moves back to the batch's first
offset per partition) whenever the batch will not be applied: a fetch that fails or is
cancelled midway rewinds itself.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from uuid import UUID

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from shared.events.envelope import Envelope, EnvelopeError

Prepare = Callable[[Envelope], object]
SLICE = 250  # records parsed (and prepared) between two turns of the event loop
AHEAD_WAIT_MS = 10  # a fetch ahead looks again this often for more records

_PREPARED: ContextVar[Mapping[UUID, object] | None] = ContextVar("batch_prepared", default=None)


def prepared(env: Envelope) -> object | None:
    """What the consumer's ``prepare`` made of ``env`` while fetching the batch being applied
    (None if it had none, or it raised: the handler then does the work itself)."""
    values = _PREPARED.get()
    return None if values is None else values.get(env.id)


@dataclass
class Batch:
    records: dict[TopicPartition, list[ConsumerRecord]] = field(default_factory=dict)
    items: list[tuple[ConsumerRecord, Envelope]] = field(default_factory=list)
    poison: list[tuple[ConsumerRecord, EnvelopeError]] = field(default_factory=list)
    prepared: dict[UUID, object] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return sum(len(rs) for rs in self.records.values())

    @contextmanager
    def applying(self) -> Iterator[None]:
        """The context in which a handler finds this batch's ``prepared`` results."""
        token = _PREPARED.set(self.prepared)
        try:
            yield
        finally:
            _PREPARED.reset(token)

    def only(self, assigned: Collection[TopicPartition]) -> Batch:
        """The batch without the records of partitions this member no longer owns (a
        rebalance came between fetching and applying: their new owner applies them)."""
        if all(tp in assigned for tp in self.records):
            return self
        keep = {tp: rs for tp, rs in self.records.items() if tp in assigned}
        return Batch(
            keep,
            [(r, e) for r, e in self.items if _tp(r) in keep],
            [(r, x) for r, x in self.poison if _tp(r) in keep],
            self.prepared,
        )


def _tp(record: ConsumerRecord) -> TopicPartition:
    return TopicPartition(record.topic, record.partition)


def rewind(consumer: AIOKafkaConsumer, batch: Batch) -> None:
    """Move the consumer back to the batch's first record on each partition it still owns."""
    assigned = consumer.assignment()
    for tp, rs in batch.records.items():
        if rs and tp in assigned:
            consumer.seek(tp, rs[0].offset)


async def fetch(
    consumer: AIOKafkaConsumer,
    max_records: int,
    timeout_ms: int,
    prepare: Prepare | None = None,
    until: asyncio.Event | None = None,
) -> Batch:
    """The next batch. Without ``until``: what one ``getmany`` gives within ``timeout_ms``.
    With it (fetching ahead): records keep being added until ``max_records`` or until
    ``until`` is set with at least one record in (then, if none came, as without it)."""
    batch = Batch()
    try:
        while batch.count < max_records:
            if until is not None and until.is_set():
                if batch.count:
                    break
                until = None
            wait = timeout_ms if until is None else AHEAD_WAIT_MS
            got = await consumer.getmany(timeout_ms=wait, max_records=max_records - batch.count)
            await _parse(batch, got, prepare, yielding=until is not None)
            if until is None:
                break
    except BaseException:
        rewind(consumer, batch)
        raise
    return batch


async def _parse(
    batch: Batch,
    got: Mapping[TopicPartition, list[ConsumerRecord]],
    prepare: Prepare | None,
    yielding: bool,
) -> None:
    records = []
    for tp, rs in got.items():
        batch.records.setdefault(tp, []).extend(rs)
        records += rs
    for lo in range(0, len(records), SLICE):
        for record in records[lo : lo + SLICE]:
            try:
                env = Envelope.from_kafka(record.value, record.headers)
            except EnvelopeError as exc:
                batch.poison.append((record, exc))
                continue
            batch.items.append((record, env))
            if prepare is not None:
                # A failure is the handler's to meet again, in its transaction.
                with contextlib.suppress(Exception):
                    batch.prepared[env.id] = prepare(env)
        if yielding:
            await asyncio.sleep(0)
