"""Durable timer handlers: the inspection window's auto-acceptance, and settlement retries."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from services.escrow.adapters import repository
from services.escrow.domain.errors import EscrowError
from services.escrow.domain.milestones import auto_accept
from services.escrow.domain.payouts import begin_release
from services.escrow.service_layer.causes import Cause
from services.escrow.service_layer.context import INSPECTION_TIMER, SETTLEMENT_TIMER, EscrowContext
from services.escrow.service_layer.settlement import settle_in
from services.escrow.service_layer.unit import commit_decision
from shared.timers import Timer, TimerHandler

ACTOR = "system:inspection_window"


def handlers(ctx: EscrowContext) -> Mapping[str, TimerHandler]:
    async def inspection_window(conn: AsyncConnection, timer: Timer, now: datetime) -> None:
        escrow = await repository.get(conn, timer.payload["order_id"])
        if escrow is None:
            return
        milestone_id = timer.payload["milestone_id"]
        after, events = auto_accept(escrow, milestone_id, now)
        if events:
            try:
                after, more = begin_release(after, milestone_id)
                events += more
            except EscrowError:
                pass  # stays accepted; a later release call pays it
        # The Stripe call must follow the reservation's commit (its id keys the transfer), so
        # the payout is the settlement timer's, due at once: no inline settlement follows
        # here to wait for, and the worker's next pass, right after this one, pays it.
        cause = Cause.from_payload(timer.payload)  # the inspection_started it ends
        await commit_decision(
            conn, ctx, escrow, after, events, ACTOR, cause, settle_after=timedelta(0)
        )

    async def settlement(conn: AsyncConnection, timer: Timer, now: datetime) -> None:
        order_id, effect_id = timer.payload["order_id"], timer.payload["effect_id"]
        await settle_in(conn, ctx, order_id, effect_id, Cause.from_payload(timer.payload))

    return {INSPECTION_TIMER: inspection_window, SETTLEMENT_TIMER: settlement}
