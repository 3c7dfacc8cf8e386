"""Composition root of the ledger service: builds engine, producer and gateways. Never at import."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from fastapi import APIRouter
from sqlalchemy.ext.asyncio import AsyncConnection

from services.ledger.adapters.checkpoints import (
    CHECKPOINT_TIMER,
    checkpoint_timer,
    ensure_checkpoints_scheduled,
)
from services.ledger.entrypoints.api import accounts, export, journal, periods, recon
from services.ledger.entrypoints.cli import app as commands
from services.ledger.entrypoints.consumer import CONSUMER_NAME, post_event, post_events
from services.runner import ConsumerSpec, ServiceDefinition
from shared.clock import Clock
from shared.runtime import Runtime, build_runtime
from shared.settings import Settings
from shared.timers import TimerHandler

NAME = "ledger"


@dataclass
class LedgerContainer:
    runtime: Runtime

    async def close(self) -> None:
        await self.runtime.close()


async def bootstrap(
    settings: Settings | None = None, clock: Clock | None = None
) -> LedgerContainer:
    return LedgerContainer(await build_runtime(NAME, settings or Settings(), clock))


def consumers(container: LedgerContainer) -> Sequence[ConsumerSpec]:
    settings = container.runtime.settings
    return [
        ConsumerSpec(
            name=CONSUMER_NAME,
            topics=[settings.topic("escrow"), settings.topic("financing")],
            handler=post_event,
            batch_handler=post_events,
            max_records=settings.ledger_max_records,  # cost per event falls with the batch
        )
    ]


def routers() -> Sequence[APIRouter]:
    return [accounts.router, journal.router, periods.router, export.router, recon.router]


def _every(container: LedgerContainer) -> timedelta:
    return timedelta(seconds=container.runtime.settings.ledger_checkpoint_seconds)


def timers(container: LedgerContainer) -> Mapping[str, TimerHandler]:
    """Each book's head published at a fixed interval (adapters/checkpoints.py)."""
    fire = checkpoint_timer(container.runtime.topic, _every(container))
    return {CHECKPOINT_TIMER: fire}


async def start_timers(container: LedgerContainer, conn: AsyncConnection, now: datetime) -> None:
    await ensure_checkpoints_scheduled(conn, now, _every(container))


DEFINITION = ServiceDefinition(
    name=NAME, bootstrap=bootstrap, routers=routers, consumers=consumers, timers=timers,
    start_timers=start_timers, commands=commands,
)  # fmt: skip
