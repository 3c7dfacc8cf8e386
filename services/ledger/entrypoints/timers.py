"""Timer firings -> ``service_layer.timers``: the chain checkpoint, every
``ledger_checkpoint_seconds``.

Each runs in ``LedgerUnitOfWork.joining`` the timer worker's savepoint (or, at start, the
worker's scheduling transaction), which its owner commits.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from services.ledger.bootstrap import LedgerContainer
from services.ledger.service_layer import timers
from services.ledger.service_layer.timers import CHECKPOINT_TIMER
from services.ledger.service_layer.unit_of_work import LedgerUnitOfWork
from shared.timers import Timer, TimerHandler


def handlers(c: LedgerContainer) -> Mapping[str, TimerHandler]:
    async def checkpoint(conn: AsyncConnection, timer: Timer, now: datetime) -> None:
        async with LedgerUnitOfWork.joining(conn, c.topic) as uow:
            await timers.chain_checkpoint_due(uow, now, c.checkpoint_every)
            await uow.commit()

    return {CHECKPOINT_TIMER: checkpoint}


async def start(c: LedgerContainer, conn: AsyncConnection, now: datetime) -> None:
    """The checkpoint timer of the current interval, scheduled once whoever starts first."""
    async with LedgerUnitOfWork.joining(conn, c.topic) as uow:
        await timers.schedule_checkpoints(uow, now, c.checkpoint_every)
        await uow.commit()


async def publish_checkpoints(conn: AsyncConnection, topic: str, now: datetime) -> int:
    """Stage a checkpoint for every book whose head moved, in ``conn``'s transaction."""
    async with LedgerUnitOfWork.joining(conn, topic) as uow:
        staged = await timers.publish_checkpoints(uow, now)
        await uow.commit()
    return staged
