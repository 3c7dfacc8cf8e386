"""Durable timers fire from the database under an injected clock."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.clock import ManualClock
from shared.db import timers
from shared.timers import Timer, TimerWorker, cancel, pause_until, schedule
from tests.support.events import widget_event


async def test_timers_fire_once_when_due_and_cancelled_ones_never(
    backbone_engine: AsyncEngine,
) -> None:
    kind = f"test-{uuid.uuid4().hex[:6]}"
    clock = ManualClock()
    fired: list[tuple[str, datetime]] = []
    attempts: dict[str, int] = {}

    async def handler(conn: AsyncConnection, timer: Timer, now: datetime) -> None:
        attempts[timer.key] = attempts.get(timer.key, 0) + 1
        if timer.payload.get("flaky") and attempts[timer.key] == 1:
            raise RuntimeError("downstream unavailable")
        fired.append((timer.key, now))

    async with backbone_engine.begin() as conn:
        await schedule(conn, kind, "a", clock.now() + timedelta(hours=1))
        await schedule(conn, kind, "b", clock.now() + timedelta(hours=2), {"flaky": True})
        await schedule(conn, kind, "c", clock.now() + timedelta(hours=1))
        await cancel(conn, kind, "c")
        await schedule(conn, kind, "a", clock.now() + timedelta(hours=3))  # moved, not doubled

    worker = TimerWorker(backbone_engine, {kind: handler}, clock=clock)
    assert await worker.fire_due() == 0
    clock.advance(timedelta(hours=2))
    assert await worker.fire_due() == 0  # b failed once and was pushed back
    clock.advance(timedelta(hours=1))
    assert await worker.fire_due() == 2
    assert await worker.fire_due() == 0
    assert sorted(k for k, _ in fired) == ["a", "b"]

    async with backbone_engine.connect() as conn:
        rows = {
            r.key: r for r in await conn.execute(sa.select(timers).where(timers.c.kind == kind))
        }
    assert rows["b"].attempts == 1 and "downstream unavailable" in rows["b"].last_error
    assert rows["c"].cancelled_at is not None and rows["c"].fired_at is None
    assert rows["a"].fired_at == clock.now()


async def test_a_long_failing_timer_does_not_block_the_others(backbone_engine: AsyncEngine) -> None:
    kind = f"test-{uuid.uuid4().hex[:6]}"
    clock = ManualClock()
    fired: list[str] = []

    async def handler(conn: AsyncConnection, timer: Timer, now: datetime) -> None:
        if timer.key == "broken":
            raise RuntimeError("still failing")
        fired.append(timer.key)

    async with backbone_engine.begin() as conn:
        await schedule(conn, kind, "broken", clock.now())
        await schedule(conn, kind, "healthy", clock.now() + timedelta(seconds=1))
        # Failing for days: the backoff exponent must not overflow.
        await conn.execute(
            timers.update()
            .where(timers.c.kind == kind, timers.c.key == "broken")
            .values(attempts=60)
        )
    clock.advance(timedelta(seconds=5))
    assert await TimerWorker(backbone_engine, {kind: handler}, clock=clock).fire_due() == 1
    assert fired == ["healthy"]
    async with backbone_engine.connect() as conn:
        broken = (
            await conn.execute(
                sa.select(timers).where(timers.c.kind == kind, timers.c.key == "broken")
            )
        ).one()
    assert broken.attempts == 61 and broken.due_at == clock.now() + timedelta(minutes=10)


async def test_daily_retention_purges_old_backbone_rows_and_keeps_the_rest(
    backbone_engine: AsyncEngine,
) -> None:
    from shared.db import inbox, outbox
    from shared.retention import RETENTION_TIMER, ensure_scheduled, retention_timers

    clock = ManualClock(datetime(2031, 6, 1, tzinfo=UTC))
    now = clock.now()
    old, recent = now - timedelta(days=40), now - timedelta(days=1)
    ids = {k: uuid.uuid4() for k in ("old_sent", "recent_sent", "old_unsent", "old_in", "new_in")}
    async with backbone_engine.begin() as conn:
        for key, created, sent in (
            ("old_sent", old, old),
            ("recent_sent", recent, recent),
            ("old_unsent", old, None),
        ):
            await conn.execute(
                outbox.insert().values(event_id=ids[key], topic="t", key="k",
                                       envelope=widget_event(key, 1).model_dump(mode="json"),
                                       created_at=created, sent_at=sent)
            )  # fmt: skip
        for key, at in (("old_in", old), ("new_in", recent)):
            await conn.execute(
                inbox.insert().values(consumer="retention-test", event_id=ids[key],
                                      event_type="x", processed_at=at)
            )  # fmt: skip
        await conn.execute(timers.delete().where(timers.c.kind == RETENTION_TIMER))
        await ensure_scheduled(conn, now)

    assert await TimerWorker(backbone_engine, retention_timers(), clock=clock).fire_due() == 1
    async with backbone_engine.connect() as conn:
        left = set(
            (
                await conn.execute(
                    sa.select(outbox.c.event_id).where(outbox.c.event_id.in_(ids.values()))
                )
            ).scalars()
        ) | set(
            (
                await conn.execute(
                    sa.select(inbox.c.event_id).where(inbox.c.event_id.in_(ids.values()))
                )
            ).scalars()
        )
        nxt = (
            await conn.execute(
                sa.select(timers.c.due_at).where(
                    timers.c.kind == RETENTION_TIMER, timers.c.fired_at.is_(None)
                )
            )
        ).scalar_one()
        # An unsent row would be published by the next relay test on this database.
        await conn.execute(outbox.delete().where(outbox.c.event_id.in_(ids.values())))
        await conn.commit()
    assert left == {ids["recent_sent"], ids["old_unsent"], ids["new_in"]}
    assert nxt == now + timedelta(days=1)


async def test_the_worker_sleeps_until_the_next_timer_is_due_not_a_whole_interval(
    backbone_engine: AsyncEngine,
) -> None:
    """A window that lapses 0.3 s after a pass must not wait out the rest of the poll
    interval: the release it causes would be paid up to a second late."""
    kind = f"test-{uuid.uuid4().hex[:6]}"
    clock = ManualClock()
    worker = TimerWorker(backbone_engine, {kind: _noop}, clock=clock, interval=1.0)
    assert await worker.next_due() is None
    assert pause_until(None, clock.now(), 1.0) == 1.0
    async with backbone_engine.begin() as conn:
        await schedule(conn, kind, "late", clock.now() + timedelta(seconds=30))
        await schedule(conn, kind, "soon", clock.now() + timedelta(milliseconds=300))
        await schedule(conn, kind, "gone", clock.now() + timedelta(milliseconds=100))
        await cancel(conn, kind, "gone")
    due = await worker.next_due()
    assert due == clock.now() + timedelta(milliseconds=300)
    assert pause_until(due, clock.now(), 1.0) == 0.3
    assert pause_until(due, clock.now() + timedelta(seconds=5), 1.0) == 0.0  # overdue: at once
    assert pause_until(clock.now() + timedelta(hours=1), clock.now(), 1.0) == 1.0


async def _noop(conn: AsyncConnection, timer: Timer, now: datetime) -> None:
    pass


async def test_a_due_timer_another_worker_holds_does_not_make_this_one_spin(
    backbone_engine: AsyncEngine,
) -> None:
    """Two workers run side by side. While one fires a due timer (its row locked for the
    whole batch, Stripe calls included), the other skips it and finds nothing to fire; the
    earliest pending timer is that overdue one, so "sleep until the next is due" must not
    mean "sleep 0 s": it would poll the database without a pause until the batch commits."""
    kind = f"test-{uuid.uuid4().hex[:6]}"
    clock = ManualClock()
    async with backbone_engine.begin() as conn:
        await schedule(conn, kind, "busy", clock.now() - timedelta(seconds=1))

    class Counting(TimerWorker):
        passes = 0

        async def fire_due(self, *args: Any) -> int:
            self.passes += 1
            return await super().fire_due(*args)

    worker = Counting(backbone_engine, {kind: _noop}, clock=clock, interval=1.0)
    stop = asyncio.Event()
    async with backbone_engine.connect() as other, other.begin():
        # The other worker, in the middle of its batch: the row locked, not fired yet.
        await other.execute(sa.select(timers.c.id).where(timers.c.kind == kind).with_for_update())
        running = asyncio.create_task(worker.run(stop))
        await asyncio.sleep(0.5)
        stop.set()
        await running
    assert worker.passes == 1  # one pass, then a pause of the interval, not a busy loop
