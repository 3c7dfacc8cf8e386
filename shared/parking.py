"""Parked subjects and dead-letter replay.

When a consumer dead-letters an event, the event's subject (aggregate) is *parked* for that
consumer: its later events go to the dead-letter topic too instead of being applied after a
gap (a ledger must not post a release whose funding it never saw). Other subjects flow on.
An operator fixes the cause, then ``replay`` puts the subject's dead-lettered events back on
their original topic, in their original order, and unparks it.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from uuid import UUID

import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.db import inbox, parked_subjects
from shared.events.envelope import HEADERS
from shared.topics import tenant_partition

TENANT_HEADER = HEADERS["tenant_id"]
# How shared.inbox names a record that was no event in the reason it parks a subject for.
_POISON_AT = re.compile(r"event at offset (\d+) failed")


async def parked(conn: AsyncConnection, consumer: str, subjects: Collection[str]) -> dict[str, str]:
    """Which of ``subjects`` are parked for ``consumer``, with the reason."""
    if not subjects:
        return {}
    t = parked_subjects
    rows = await conn.execute(
        sa.select(t.c.subject, t.c.reason).where(
            t.c.consumer == consumer,
            t.c.subject == sa.any_(sa.bindparam("subjects", list(subjects), ARRAY(sa.Text))),
        )
    )
    return {r.subject: r.reason for r in rows}


@dataclass(frozen=True)
class Parking:
    """A subject to park, behind the event that failed (None: a record that was no event)."""

    subject: str
    event_id: UUID | None
    reason: str


async def park_all(conn: AsyncConnection, consumer: str, parkings: Sequence[Parking]) -> None:
    """Park the subjects for ``consumer`` (one statement); a parked subject stays as it was."""
    if not parkings:
        return
    rows = {
        p.subject: {
            "consumer": consumer,
            "subject": p.subject,
            "event_id": p.event_id,
            "reason": p.reason[:2000],
        }
        for p in reversed(parkings)  # the first reason given for a subject is kept
    }
    ordered = [rows[s] for s in sorted(rows)]  # in subject order, as two members agree on
    await conn.execute(pg_insert(parked_subjects).on_conflict_do_nothing(), ordered)


@dataclass(frozen=True)
class Letter:
    """A record to send to the dead-letter topic, and why."""

    record: ConsumerRecord
    reason: str
    error_type: str  # the exception's name, or SubjectParked
    attempts: int


async def send_letters(
    producer: AIOKafkaProducer, dlq_topic: str, consumer: str, letters: Sequence[Letter]
) -> None:
    """Send the letters and wait for Kafka's acknowledgements, all at once. Each keeps its
    record's key, value and headers, plus ``dlq_*`` headers saying what happened."""
    pending = []
    for letter in letters:
        record = letter.record
        headers = [
            *[(k, v) for k, v in (record.headers or ()) if not k.startswith("dlq_")],
            ("dlq_reason", letter.reason.encode()),
            ("dlq_error_type", letter.error_type.encode()),
            ("dlq_consumer", consumer.encode()),
            ("dlq_topic", record.topic.encode()),
            ("dlq_partition", str(record.partition).encode()),
            ("dlq_offset", str(record.offset).encode()),
            ("dlq_attempts", str(letter.attempts).encode()),
        ]
        send = producer.send(dlq_topic, value=record.value, key=record.key, headers=headers)
        pending.append(await send)
    await asyncio.gather(*pending)


@dataclass(frozen=True)
class DeadLetter:
    record: ConsumerRecord
    headers: dict[str, bytes]

    @property
    def subject(self) -> str | None:
        return self.record.key.decode(errors="replace") if self.record.key else None

    @property
    def event_id(self) -> UUID | None:
        try:
            return UUID(self.headers["ce_id"].decode())
        except (KeyError, ValueError):
            return None


async def read_dead_letters(
    bootstrap_servers: str, dlq_topic: str, consumer: str, within: float = 30
) -> list[DeadLetter]:
    """Every dead letter of ``consumer`` on the topic, oldest first (read to the current end)."""
    reader = AIOKafkaConsumer(
        dlq_topic,
        bootstrap_servers=bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await reader.start()
    found: list[DeadLetter] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        tps = reader.assignment()
        while not tps and loop.time() < min(deadline, loop.time() + 5):
            await asyncio.sleep(0.1)  # metadata for the subscription is still on its way
            tps = reader.assignment()
        if not tps:
            return []
        ends = await reader.end_offsets(list(tps))
        while [tp for tp in tps if await reader.position(tp) < ends[tp]]:
            if loop.time() > deadline:
                raise TimeoutError(f"could not read {dlq_topic} to its end in {within}s")
            batch = await reader.getmany(timeout_ms=500)
            for record in (r for rs in batch.values() for r in rs):
                headers = dict(record.headers or ())
                if headers.get("dlq_consumer") == consumer.encode():
                    found.append(DeadLetter(record, headers))
    finally:
        await reader.stop()
    return sorted(found, key=lambda d: d.record.timestamp)


async def replay(
    engine: AsyncEngine,
    producer: AIOKafkaProducer,
    *,
    bootstrap_servers: str,
    dlq_topic: str,
    consumer: str,
    subject: str,
) -> int:
    """Unpark ``subject`` for ``consumer`` and republish the dead letters its parking held
    back; returns how many. A subject that is not parked has nothing held back: 0.

    Only the letters from the one that parked the subject on are replayed. The topic still
    holds the letters of earlier parkings of the subject, which an earlier replay applied:
    sent again, with their inbox claims deleted, they would apply a second time, after the
    subject's later events.

    The letters are republished inside the transaction that unparks the subject and deletes
    their inbox claims, before it commits: should the replay die before the commit, the
    subject stays parked (a copy that went out meets its claim and is dropped as a
    redelivery) and the replay can be run again; a consumer that fetches a copy before the
    commit waits for it on the claim it is deleting. (Published after the commit, as it was,
    a replay that died in between left the subject unparked and its letters unapplied.)
    """
    # A subject's letters share its key, so one partition: their offsets are their order
    # (the timestamps are the clocks of whichever consumer processes sent them).
    letters = sorted(
        (
            d
            for d in await read_dead_letters(bootstrap_servers, dlq_topic, consumer)
            if d.subject == subject
        ),
        key=lambda d: (d.record.partition, d.record.offset),
    )
    where = sa.and_(parked_subjects.c.consumer == consumer, parked_subjects.c.subject == subject)
    async with engine.begin() as conn:
        parking = (
            await conn.execute(
                sa.select(parked_subjects.c.event_id, parked_subjects.c.reason)
                .where(where)
                .with_for_update()
            )
        ).first()
        if parking is None:
            return 0
        letters = held_back(letters, parking.event_id, parking.reason)
        await conn.execute(parked_subjects.delete().where(where))
        ids = [i for i in (d.event_id for d in letters) if i is not None]
        if ids:  # their inbox claims were the parking; the replayed copies must apply
            await conn.execute(
                inbox.delete().where(inbox.c.consumer == consumer, inbox.c.event_id.in_(ids))
            )
        seen: set[UUID | None] = set()
        for letter in letters:
            if letter.event_id is not None and letter.event_id in seen:
                continue  # the same event dead-lettered twice (a rewound batch)
            seen.add(letter.event_id)
            original = [(k, v) for k, v in letter.record.headers if not k.startswith("dlq_")]
            topic = letter.headers["dlq_topic"].decode()
            tenant = dict(original).get(TENANT_HEADER)
            # Back to the partition its subject's later events go to (its tenant's).
            partition = await tenant_partition(producer, topic, tenant.decode()) if tenant else None
            await producer.send_and_wait(
                topic,
                value=letter.record.value,
                key=letter.record.key,
                headers=original,
                partition=partition,
            )
    return len(seen)


def held_back(letters: Sequence[DeadLetter], cause: UUID | None, reason: str) -> list[DeadLetter]:
    """The letters of the subject's current parking: from the last letter of its cause on.

    The cause is the event that parked the subject, or for a record that was no event, the
    record at the offset the parking's reason names. The letters before it belong to
    parkings replayed already; a rewound batch may have sent the cause twice."""
    offset = _POISON_AT.match(reason)

    def is_cause(d: DeadLetter) -> bool:
        if d.headers.get("dlq_error_type") == b"SubjectParked" or d.event_id != cause:
            return False
        return (
            cause is not None or offset is None or d.headers.get("dlq_offset") == offset[1].encode()
        )

    causes = [at for at, d in enumerate(letters) if is_cause(d)]
    if not causes:
        raise LookupError(
            f"the dead letter that parked the subject ({cause or reason}) is not on the"
            " dead-letter topic (expired with its retention?): nothing was replayed and the"
            " subject stays parked"
        )
    return list(letters[causes[-1] :])
