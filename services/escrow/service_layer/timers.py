"""Durable timers: the inspection window's auto-acceptance, settlement retries, and the
deadlines of disputes, rejections and partial refund proposals.

Each runs in the timer's unit of work (``EscrowUnitOfWork.joining`` the worker's savepoint)
and stages its decision there; the caller commits. What a timer's payload carries is read
by ``entrypoints/timers.py``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from services.escrow.domain.deadlines import lapse
from services.escrow.domain.errors import EscrowError
from services.escrow.domain.milestones import auto_accept
from services.escrow.domain.payouts import begin_release
from services.escrow.service_layer.causes import Cause
from services.escrow.service_layer.decisions import write_decision
from services.escrow.service_layer.gateway import PaymentGateway
from services.escrow.service_layer.settlement import settle_in
from services.escrow.service_layer.unit_of_work import AbstractEscrowUnitOfWork
from shared.clock import Clock

ACTOR = "system:inspection_window"
DEADLINE_ACTOR = "system:deadline"


async def inspection_window_lapsed(
    uow: AbstractEscrowUnitOfWork,
    clock: Clock,
    order_id: str,
    milestone_id: str,
    now: datetime,
    cause: Cause | None,
) -> None:
    """The buyer raised nothing within the window: accept the milestone and release it.
    ``cause``: the ``inspection_started`` the window's end answers."""
    escrow = await uow.escrows.get(order_id)
    if escrow is None:
        return
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
    await write_decision(uow, clock, escrow, after, events, ACTOR, cause, settle_after=timedelta(0))


async def settlement_due(
    uow: AbstractEscrowUnitOfWork,
    clock: Clock,
    gateway: PaymentGateway,
    order_id: str,
    effect_id: str,
    cause: Cause | None,
) -> None:
    """A reserved payout or refund not completed inline: make its Stripe call again (same
    idempotency key) and book the outcome; still unavailable raises, and the timer retries."""
    await settle_in(uow, clock, gateway, order_id, effect_id, cause)


async def deadline_lapsed(
    uow: AbstractEscrowUnitOfWork,
    clock: Clock,
    order_id: str,
    what: str,
    subject: str,
    now: datetime,
    cause: Cause | None,
) -> None:
    """A person's deadline passed: escalate the dispute, take the rejection's default step,
    expire the proposal (the domain decides whether it is still due). A refund it reserves
    (the return's, once its receipt is no longer awaited) is the settlement timer's, at once."""
    escrow = await uow.escrows.get(order_id)
    if escrow is None:
        return
    after, events = lapse(escrow, what, subject, now, DEADLINE_ACTOR)
    await write_decision(
        uow, clock, escrow, after, events, DEADLINE_ACTOR, cause, settle_after=timedelta(0)
    )
