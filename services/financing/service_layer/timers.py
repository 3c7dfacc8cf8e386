"""Durable timers: offer expiry and the daily fee amortisation.

Each runs in the timer's unit of work (``FinancingUnitOfWork.joining`` the worker's
savepoint) and stages its step there; the caller commits. Both are idempotent on the
advance's state: an expiry that fires after the offer was accepted does nothing, and an
amortisation tick only emits the fee earned since the last one.
"""

from __future__ import annotations

from datetime import datetime

from services.financing.domain import lifecycle, servicing
from services.financing.service_layer.decisions import schedule_timers, write_step
from services.financing.service_layer.unit_of_work import AbstractFinancingUnitOfWork

ACTOR = lifecycle.SYSTEM


async def offer_expired(uow: AbstractFinancingUnitOfWork, advance_id: str, now: datetime) -> None:
    """The offer's time is up: an offer still open expires."""
    advance = await uow.advances.get(advance_id)
    if advance is None:
        return
    step = lifecycle.expire(advance, now)
    if step[1]:
        await write_step(uow, step, actor=ACTOR, now=now)


async def fee_amortization_due(
    uow: AbstractFinancingUnitOfWork, advance_id: str, now: datetime
) -> None:
    """Another day of the term: the fee earned since the last tick, and tomorrow's timer."""
    advance = await uow.advances.get(advance_id)
    if advance is None:
        return
    step = servicing.amortize(advance, now)
    if step[1]:
        await write_step(uow, step, actor=ACTOR, now=now)
    else:  # a day whose share rounds to zero: nothing to post, but tomorrow still comes
        await schedule_timers(uow, advance, now)
