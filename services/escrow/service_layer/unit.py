"""Committing a decision: state (versioned), outbox events, timeline and timers in ONE transaction.

``execute`` runs a domain command against the latest state and retries it on a version
conflict (the command is re-decided on the fresh state, so a loser of a race gets the
domain's answer for the new state, typically a typed refusal). After the commit it
performs the Stripe calls for the payouts/refunds this command reserved.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncConnection

from services.escrow.adapters import repository
from services.escrow.domain.model import Escrow
from services.escrow.domain.rules import Decision
from services.escrow.service_layer.context import (
    INSPECTION_TIMER,
    SETTLE_GRACE,
    SETTLEMENT_TIMER,
    SOURCE,
    EscrowContext,
)
from shared import timers
from shared.db import UnitOfWork
from shared.events import Envelope, EventModel
from shared.events.escrow import InspectionStarted, MilestoneReleased, Refunded
from shared.outbox import add_to_outbox

Decide = Callable[[Escrow], Decision]
CONFLICT_ATTEMPTS = 5


class OrderNotFound(Exception):
    pass


def pending_effects(e: Escrow | None) -> set[str]:
    if e is None:
        return set()
    ids = {p.payout_id for p in e.payouts if p.status == "pending"}
    return ids | {r.refund_id for r in e.refunds if r.status == "pending"}


def envelopes(
    ctx: EscrowContext, escrow: Escrow, events: Sequence[EventModel], cause: Envelope | None
) -> list[Envelope]:
    now = ctx.clock.now()
    out = []
    for ev in events:
        env = Envelope.wrap(
            ev,
            source=SOURCE,
            tenant_id=escrow.tenant_id,
            subject=escrow.order_id,
            occurred_at=now,
            **(cause.caused() if cause is not None else {}),
        )
        # The event of a payout/refund has the reservation's id: the Stripe idempotency
        # key was derived from it, so event and money movement name each other.
        if isinstance(ev, MilestoneReleased):
            done = [p for p in escrow.payouts if p.milestone_id == ev.milestone_id]
            env = env.model_copy(update={"id": UUID(done[-1].payout_id)})
        elif isinstance(ev, Refunded):
            env = env.model_copy(update={"id": UUID(ev.refund_id)})
        out.append(env)
    return out


async def commit_decision(
    conn: AsyncConnection,
    ctx: EscrowContext,
    before: Escrow | None,
    after: Escrow,
    events: Sequence[EventModel],
    actor: str,
    cause: Envelope | None = None,
) -> Escrow:
    now = ctx.clock.now()
    if after == before and not events:
        return before
    # Cancel the settlement timers of completed effects BEFORE writing the escrow: a timer
    # worker locks its timer rows first and the escrow row second, so taking them in the
    # other order here deadlocked with a worker firing the same settlement (and the loser
    # was this request, answering 500).
    was, now_pending = pending_effects(before), pending_effects(after)
    for effect_id in sorted(was - now_pending):
        await timers.cancel(conn, SETTLEMENT_TIMER, effect_id)
    if before is None:
        saved = await repository.add(conn, after, now)
    else:
        saved = await repository.save(conn, after, now)
    envs = envelopes(ctx, saved, events, cause)
    await add_to_outbox(conn, ctx.topic, *envs)
    await repository.record_timeline(conn, saved, envs, actor)
    for ev in events:
        if isinstance(ev, InspectionStarted):
            key = f"{ev.order_id}/{ev.milestone_id}"
            payload = {"order_id": ev.order_id, "milestone_id": ev.milestone_id}
            await timers.schedule(conn, INSPECTION_TIMER, key, ev.ends_at, payload)
    for effect_id in now_pending - was:
        payload = {"order_id": saved.order_id, "effect_id": effect_id}
        await timers.schedule(conn, SETTLEMENT_TIMER, effect_id, now + SETTLE_GRACE, payload)
    return saved


async def execute(
    ctx: EscrowContext, order_id: str, tenant_id: str | None, decide: Decide, actor: str
) -> tuple[Escrow, list[str]]:
    """Apply ``decide`` to the latest state; returns the saved state and newly reserved effects."""
    for attempt in range(CONFLICT_ATTEMPTS):
        try:
            async with UnitOfWork(ctx.engine) as uow:
                before = await repository.get(uow.conn, order_id, tenant_id)
                if before is None:
                    raise OrderNotFound(order_id)
                after, events = decide(before)
                saved = await commit_decision(uow.conn, ctx, before, after, events, actor)
                await uow.commit()
            return saved, sorted(pending_effects(saved) - pending_effects(before))
        except repository.ConcurrentModification:
            if attempt == CONFLICT_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")
