"""Durable timers: offer expiry and the daily fee amortisation.

Both are idempotent on the advance's state: an expiry that fires after the offer was accepted
does nothing, and an amortisation tick only emits the fee earned since the last one.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from services.financing.adapters.advances import AdvanceRepository
from services.financing.domain import lifecycle, servicing
from services.financing.entrypoints.context import (
    FEE_AMORTIZATION,
    OFFER_EXPIRY,
    Deps,
    persist,
    schedule_timers,
)
from shared.timers import Timer, TimerHandler


def timer_handlers(deps: Deps) -> Mapping[str, TimerHandler]:
    async def expire_offer(conn: AsyncConnection, timer: Timer, now: datetime) -> None:
        advance = await AdvanceRepository(conn).get(timer.key)
        if advance is None:
            return
        step = lifecycle.expire(advance, now)
        if step[1]:
            await persist(conn, deps, step, actor=lifecycle.SYSTEM, now=now)

    async def amortize_fee(conn: AsyncConnection, timer: Timer, now: datetime) -> None:
        advance_id = timer.key.rsplit(":", 1)[0]
        advance = await AdvanceRepository(conn).get(advance_id)
        if advance is None:
            return
        step = servicing.amortize(advance, now)
        if step[1]:
            await persist(conn, deps, step, actor=lifecycle.SYSTEM, now=now)
        else:  # a day whose share rounds to zero: nothing to post, but tomorrow still comes
            await schedule_timers(conn, advance, now)

    return {OFFER_EXPIRY: expire_offer, FEE_AMORTIZATION: amortize_fee}
