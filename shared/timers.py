"""Durable timers: rows in the service's database, fired by a worker.

A timer is identified by (kind, key), so scheduling is idempotent and cancelling needs no
id. The worker locks due rows with SKIP LOCKED (several workers may run), runs the handler
inside a savepoint of the same transaction that marks the timer fired, and on failure
pushes the timer back with exponential backoff and records the error.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.clock import Clock, SystemClock
from shared.db import timers
from shared.metrics import TIMERS_FIRED

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Timer:
    id: int
    kind: str
    key: str
    due_at: datetime
    payload: dict[str, Any]
    attempts: int


TimerHandler = Callable[[AsyncConnection, Timer, datetime], Awaitable[None]]


async def schedule(
    conn: AsyncConnection,
    kind: str,
    key: str,
    due_at: datetime,
    payload: dict[str, Any] | None = None,
) -> None:
    """Create or move a pending timer. A timer that already fired is left alone."""
    stmt = pg_insert(timers).values(kind=kind, key=key, due_at=due_at, payload=payload or {})
    stmt = stmt.on_conflict_do_update(
        constraint="timers_kind_key",
        set_={
            "due_at": stmt.excluded.due_at,
            "payload": stmt.excluded.payload,
            "cancelled_at": None,
        },
        where=timers.c.fired_at.is_(None),
    )
    await conn.execute(stmt)


async def cancel(conn: AsyncConnection, kind: str, key: str) -> None:
    await conn.execute(
        timers.update()
        .where(timers.c.kind == kind, timers.c.key == key, timers.c.fired_at.is_(None))
        .values(cancelled_at=sa.func.now())
    )


class TimerWorker:
    def __init__(
        self,
        engine: AsyncEngine,
        handlers: Mapping[str, TimerHandler],
        *,
        clock: Clock | None = None,
        batch_size: int = 100,
        interval: float = 1.0,
        max_backoff: timedelta = timedelta(minutes=10),
    ) -> None:
        self.engine = engine
        self.handlers = dict(handlers)
        self.clock = clock or SystemClock()
        self.batch_size = batch_size
        self.interval = interval
        self.max_backoff = max_backoff

    async def fire_due(self, now: datetime | None = None) -> int:
        """Fire every timer due at ``now`` (the clock's now); returns how many fired."""
        now = now or self.clock.now()
        fired = 0
        async with self.engine.begin() as conn:
            rows = (
                await conn.execute(
                    sa.select(timers)
                    .where(
                        timers.c.due_at <= now,
                        timers.c.fired_at.is_(None),
                        timers.c.cancelled_at.is_(None),
                        timers.c.kind.in_(list(self.handlers)),
                    )
                    .order_by(timers.c.due_at, timers.c.id)
                    .limit(self.batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            for row in rows:
                timer = Timer(row.id, row.kind, row.key, row.due_at, row.payload, row.attempts)
                try:
                    async with conn.begin_nested():
                        await self.handlers[timer.kind](conn, timer, now)
                        await conn.execute(
                            timers.update().where(timers.c.id == timer.id).values(fired_at=now)
                        )
                    fired += 1
                    TIMERS_FIRED.labels(timer.kind).inc()
                except Exception as exc:
                    # Cap the exponent first: 2**47 seconds overflows timedelta.
                    seconds = 2 ** min(timer.attempts, 20)
                    backoff = min(timedelta(seconds=seconds), self.max_backoff)
                    log.warning("timer.failed", kind=timer.kind, key=timer.key, error=repr(exc))
                    await conn.execute(
                        timers.update()
                        .where(timers.c.id == timer.id)
                        .values(
                            attempts=timers.c.attempts + 1,
                            last_error=repr(exc)[:2000],
                            due_at=now + backoff,
                        )
                    )
        return fired

    async def next_due(self, after: datetime | None = None) -> datetime | None:
        """When the earliest pending timer this worker handles is due (None: there is none),
        counting only timers due later than ``after`` when it is given."""
        query = sa.select(sa.func.min(timers.c.due_at)).where(
            timers.c.fired_at.is_(None),
            timers.c.cancelled_at.is_(None),
            timers.c.kind.in_(list(self.handlers)),
        )
        if after is not None:
            query = query.where(timers.c.due_at > after)
        async with self.engine.connect() as conn:
            due: datetime | None = (await conn.execute(query)).scalar()
        return due

    async def run(self, stop: asyncio.Event) -> None:
        """Fire due timers until ``stop``. A pass that fired something is followed at once by
        another (a handler may have scheduled a timer due now, e.g. a settlement); otherwise
        the worker sleeps until the next timer is due, but at most ``interval`` (timers that
        other processes schedule meanwhile are seen within it).

        A timer that was due at this pass and did not fire is another worker's (locked, it
        was skipped) or failed (and was pushed back past ``now``): the wait is for the first
        timer due after ``now``. Waiting for the overdue one instead would be no wait at all,
        and the worker would poll without a pause while the other one holds its batch."""
        while not stop.is_set():
            fired, pause = 0, self.interval
            try:
                now = self.clock.now()
                fired = await self.fire_due(now)
                if not fired:
                    due = await self.next_due(after=now)
                    pause = pause_until(due, self.clock.now(), self.interval)
            except Exception:
                log.exception("timer.worker_failed")
            if fired:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=pause)


def pause_until(next_due: datetime | None, now: datetime, interval: float) -> float:
    """Seconds to sleep before the next pass: until ``next_due``, within [0, interval]."""
    if next_due is None:
        return interval
    return min(interval, max(0.0, (next_due - now).total_seconds()))
