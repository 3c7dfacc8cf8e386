"""Chain checkpoints: the heads due one (``due``, ``record``; published by the timer in
``service_layer/timers.py``), and reading them back from Kafka for ``tradeflow ledger verify``.

Whoever owns the database can rewrite a chain end to end, head rows included, and every link
would verify. What they cannot rewrite is what Kafka already holds: at a fixed interval the
timer worker publishes a ``ledger.chain_checkpoint`` (book, seq, hash) for every book whose
head moved, and ``verify`` checks each book against the latest checkpoint it can read back.
A book that no longer reaches a checkpointed position was cut off; one whose transaction
at that position hashes differently was rewritten.
"""

from __future__ import annotations

import time
from datetime import UTC
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer
from sqlalchemy.ext.asyncio import AsyncConnection

from services.ledger.domain.chain import LEGACY_BOOK, BookHead, Published
from shared.events import Envelope
from shared.events.envelope import EnvelopeError
from shared.events.ledger import ChainCheckpoint
from shared.topics import partitions_of

_DUE = sa.text("""
SELECT 'tenant:' || b.tenant_id AS book, b.tenant_id, b.head_seq AS seq, b.head_hash AS hash
FROM books b
WHERE b.head_seq > coalesce(
    (SELECT max(c.seq) FROM chain_checkpoints c WHERE c.book = 'tenant:' || b.tenant_id), 0)
UNION ALL
SELECT :legacy, NULL, l.head_seq, l.head_hash FROM legacy_chain l
WHERE NOT EXISTS (SELECT 1 FROM chain_checkpoints c WHERE c.book = :legacy)
ORDER BY book
""")
_RECORD = sa.text(
    "INSERT INTO chain_checkpoints (book, seq, hash, event_id) VALUES (:b, :s, :h, :e)"
)


async def due(conn: AsyncConnection) -> list[BookHead]:
    """The head of every book that moved since its last checkpoint, by book."""
    rows = (await conn.execute(_DUE, {"legacy": LEGACY_BOOK})).all()
    return [BookHead(r.book, r.tenant_id, r.seq, r.hash) for r in rows]


async def record(conn: AsyncConnection, head: BookHead, event_id: UUID) -> None:
    await conn.execute(_RECORD, {"b": head.book, "s": head.seq, "h": head.hash, "e": event_id})


# --- reading them back -------------------------------------------------------------------
class CheckpointsUnreadable(RuntimeError):
    """Kafka could not be read to the end: nothing can be said about the checkpoints."""


async def read_published(
    bootstrap_servers: str, topic: str, within: float = 60.0
) -> dict[str, Published]:
    """The latest checkpoint of every book that Kafka still holds on ``topic`` (read to
    the end offsets it had when asked)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    await consumer.start()
    latest: dict[str, Published] = {}
    try:
        partitions = await partitions_of(consumer, topic)
        if not partitions:
            return latest
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        await consumer.seek_to_beginning(*partitions)
        # Read to the end by position, not by the last record seen: a partition whose
        # records retention deleted has an end no record will ever reach.
        pending = {tp for tp in partitions if await consumer.position(tp) < ends[tp]}
        deadline = time.monotonic() + within
        while pending:
            if time.monotonic() > deadline:
                raise CheckpointsUnreadable(f"{topic}: not read to its end within {within:.0f}s")
            batch = await consumer.getmany(*pending, timeout_ms=1_000)
            for records in batch.values():
                for record in records:
                    _keep(latest, record.value, record.headers)
            pending = {tp for tp in pending if await consumer.position(tp) < ends[tp]}
    finally:
        await consumer.stop()
    return latest


def _keep(latest: dict[str, Published], value: bytes, headers: Any) -> None:
    try:
        env = Envelope.from_kafka(value, headers)
    except EnvelopeError:
        return
    if env.type != ChainCheckpoint.event_type:
        return
    cp = env.payload()
    assert isinstance(cp, ChainCheckpoint)
    known = latest.get(cp.book)
    if known is None or cp.seq >= known.seq:
        latest[cp.book] = Published(cp.book, cp.seq, cp.hash, env.occurred_at.astimezone(UTC))


async def check_published(conn: AsyncConnection, published: dict[str, Published]) -> list[str]:
    """What the journal contradicts of the published checkpoints (empty: nothing)."""
    problems = []
    params: dict[str, object]
    for cp in sorted(published.values(), key=lambda c: c.book):
        if cp.book == LEGACY_BOOK:
            q, params = "book_seq IS NULL AND seq = :s", {"s": cp.seq}
        elif cp.book.startswith("tenant:"):
            q, params = "tenant_id = :t AND book_seq = :s", {"t": cp.book[7:], "s": cp.seq}
        else:
            problems.append(f"{cp.book}: a checkpoint of an unknown kind of book")
            continue
        found = (
            await conn.execute(sa.text(f"SELECT hash FROM journal_transactions WHERE {q}"), params)
        ).scalar()
        if found is None:
            problems.append(
                f"{cp.book}: checkpointed at seq {cp.seq} on {cp.at:%Y-%m-%d %H:%M:%S}Z, but the"
                " book no longer reaches it: its tail was cut off"
            )
        elif found != cp.hash:
            problems.append(
                f"{cp.book}: seq {cp.seq} hashes to {found[:12]}..., the checkpoint of"
                f" {cp.at:%Y-%m-%d %H:%M:%S}Z said {cp.hash[:12]}...: the chain was rewritten"
            )
    return problems
