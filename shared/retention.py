"""Housekeeping of the backbone tables, run by every service's timer worker once a day.

Kept: unsent outbox rows forever; sent ones for ``OUTBOX_DAYS`` (to answer "was it
published?"); inbox claims for ``INBOX_DAYS`` (Kafka redelivers only recent records, and
replays through `tradeflow <svc> replay` clear their own claims); idempotency keys for
their 24-hour life; fired or cancelled timers for ``TIMER_DAYS``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.db import idempotency_keys, inbox, outbox, timers
from shared.http.claims import KEY_TTL
from shared.timers import Timer, TimerHandler, schedule

log = structlog.get_logger(__name__)

RETENTION_TIMER = "backbone.retention"
EVERY = timedelta(days=1)
OUTBOX_DAYS, INBOX_DAYS, TIMER_DAYS = 7, 30, 30


async def purge(conn: AsyncConnection, now: datetime) -> dict[str, int]:
    counts = {}
    for name, stmt in (
        ("outbox", outbox.delete().where(outbox.c.sent_at < now - timedelta(days=OUTBOX_DAYS))),
        ("inbox", inbox.delete().where(inbox.c.processed_at < now - timedelta(days=INBOX_DAYS))),
        (
            "idempotency_keys",
            idempotency_keys.delete().where(idempotency_keys.c.created_at < now - KEY_TTL),
        ),
        (
            "timers",
            timers.delete().where(
                sa.func.coalesce(timers.c.fired_at, timers.c.cancelled_at)
                < now - timedelta(days=TIMER_DAYS),
                timers.c.kind != RETENTION_TIMER,
            ),
        ),
    ):
        counts[name] = (await conn.execute(stmt)).rowcount
    return counts


async def _run(conn: AsyncConnection, timer: Timer, now: datetime) -> None:
    counts = await purge(conn, now)
    log.info("retention.purged", **counts)
    # A fired timer is never moved by schedule(); the next run gets its own key.
    await schedule(conn, RETENTION_TIMER, f"{now + EVERY:%Y-%m-%d}", now + EVERY)


def retention_timers() -> dict[str, TimerHandler]:
    return {RETENTION_TIMER: _run}


async def ensure_scheduled(conn: AsyncConnection, now: datetime) -> None:
    """Start the daily chain once (idempotent: the key is the day)."""
    await schedule(conn, RETENTION_TIMER, f"{now:%Y-%m-%d}", now)
