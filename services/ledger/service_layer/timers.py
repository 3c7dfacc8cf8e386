"""The chain checkpoint timer: each book's head published at a fixed interval.

Whoever owns the database can rewrite a chain end to end, head rows included; what they
cannot rewrite is what Kafka already holds. So every ``every`` the timer stages a
``ledger.chain_checkpoint`` (book, seq, hash) in the outbox for each book whose head moved,
records it, and schedules its next firing. ``tradeflow ledger verify`` reads them back.

Runs in the timer's unit of work (``LedgerUnitOfWork.joining`` the worker's savepoint),
which the worker commits.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from services.ledger.service_layer.unit_of_work import AbstractLedgerUnitOfWork
from shared.events import Envelope
from shared.events.ledger import ChainCheckpoint
from shared.identity.rules import PLATFORM_TENANT  # never a tenant's (keys refuse it)

CHECKPOINT_TIMER = "ledger.chain_checkpoint"
SOURCE = "ledger"


def slot_key(at: datetime, every: timedelta) -> str:
    """The interval ``at`` falls in: every timer worker agrees on it, so two of them
    scheduling the next checkpoint schedule the same timer."""
    return str(int(at.timestamp() // every.total_seconds()))


async def publish_checkpoints(uow: AbstractLedgerUnitOfWork, now: datetime) -> int:
    """Stage a checkpoint event for every book whose head moved since its last one."""
    envelopes = []
    for head in await uow.checkpoints.due():
        env = Envelope.wrap(
            ChainCheckpoint(book=head.book, seq=head.seq, hash=head.hash),
            source=SOURCE,
            tenant_id=head.tenant_id or PLATFORM_TENANT,
            subject=head.book,
            occurred_at=now,
        )
        envelopes.append(env)
        await uow.checkpoints.record(head, env.id)
    await uow.outbox.add(*envelopes)
    return len(envelopes)


async def chain_checkpoint_due(
    uow: AbstractLedgerUnitOfWork, now: datetime, every: timedelta
) -> int:
    """The timer fired: publish the heads that moved, and fire again ``every`` from now."""
    staged = await publish_checkpoints(uow, now)
    following = now + every
    await uow.timers.schedule(CHECKPOINT_TIMER, slot_key(following, every), following)
    return staged


async def schedule_checkpoints(
    uow: AbstractLedgerUnitOfWork, now: datetime, every: timedelta
) -> None:
    """At start: the checkpoint timer of the current interval (the same for every worker)."""
    await uow.timers.schedule(CHECKPOINT_TIMER, slot_key(now, every), now)
