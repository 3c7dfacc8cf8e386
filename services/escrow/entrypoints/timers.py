"""Timer firings -> ``service_layer.timers``: the inspection window's lapse, settlement
retries, people's deadlines.

Each runs in ``EscrowUnitOfWork.joining`` the timer worker's savepoint, which the worker
commits (or rolls back when the use case raises, and retries with backoff). A refund Stripe
refused is counted first, in a unit of work of its own (``operations.refund_refused``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from services.escrow.bootstrap import EscrowContainer
from services.escrow.domain.errors import EscrowError
from services.escrow.service_layer import operations, timers
from services.escrow.service_layer.causes import Cause
from services.escrow.service_layer.decisions import (
    DEADLINE_TIMER,
    INSPECTION_TIMER,
    SETTLEMENT_TIMER,
)
from services.escrow.service_layer.settlement import RefundRefused
from services.escrow.service_layer.unit_of_work import EscrowUnitOfWork
from shared.timers import Timer, TimerHandler


def handlers(c: EscrowContainer) -> Mapping[str, TimerHandler]:
    async def inspection_window(conn: AsyncConnection, timer: Timer, now: datetime) -> None:
        order_id, milestone_id = timer.payload["order_id"], timer.payload["milestone_id"]
        cause = Cause.from_payload(timer.payload)  # the inspection_started it ends
        async with EscrowUnitOfWork.joining(conn, c.topic) as uow:
            await timers.inspection_window_lapsed(uow, c.clock, order_id, milestone_id, now, cause)
            await uow.commit()

    async def settlement(conn: AsyncConnection, timer: Timer, now: datetime) -> None:
        order_id, effect_id = timer.payload["order_id"], timer.payload["effect_id"]
        cause = Cause.from_payload(timer.payload)
        try:
            async with EscrowUnitOfWork.joining(conn, c.topic) as uow:
                await timers.settlement_due(uow, c.clock, c.gateway, order_id, effect_id, cause)
                await uow.commit()
        except RefundRefused as refused:
            # Counted in a transaction of its own: the worker rolls this timer's savepoint
            # back and retries it with backoff, as for any failure.
            stuck_after = c.runtime.settings.escrow_refund_stuck_after_attempts
            await operations.refund_refused(
                c.unit_of_work, c.clock, order_id, refused.refund_id, refused.message,
                stuck_after, cause,
            )  # fmt: skip
            raise

    async def deadline(conn: AsyncConnection, timer: Timer, now: datetime) -> None:
        p = timer.payload
        cause = Cause.from_payload(p)  # the decision that set the deadline
        try:
            async with conn.begin_nested(), EscrowUnitOfWork.joining(conn, c.topic) as uow:
                await timers.deadline_lapsed(
                    uow, c.clock, p["order_id"], p["what"], p["subject"], now, cause
                )
                await uow.commit()
        except EscrowError as refused:
            # A refusal is the escrow's answer, not an outage: bounded, then parked (its
            # savepoint rolled back, so the parking commits with the timer marked fired).
            due_at = datetime.fromisoformat(timer.key.rsplit("/", 1)[1])  # the key names it
            async with EscrowUnitOfWork.joining(conn, c.topic) as uow:
                parked = await operations.deadline_refused(
                    uow, c.clock, p["order_id"], p["what"], p["subject"], due_at,
                    timer.attempts + 1, c.runtime.settings.escrow_deadline_max_attempts,
                    refused, cause,
                )  # fmt: skip
                await uow.commit()
            if not parked:
                raise

    return {
        INSPECTION_TIMER: inspection_window,
        SETTLEMENT_TIMER: settlement,
        DEADLINE_TIMER: deadline,
    }
