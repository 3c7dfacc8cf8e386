"""Writing a decision: state (versioned), outbox events, timeline and timers in ONE unit of work.

``write_decision`` stages what one domain decision changes in the caller's unit of work;
``decide`` runs a domain command against the latest state in a unit of work of its own
and commits it, re-deciding on a ``Conflict`` (``retry_on_conflict``: the command is
decided again on the fresh state, so a loser of a race gets the domain's answer for the new
state, typically a typed refusal). The caller then settles the payouts/refunds it reserved
(``settlement.py``).

A reservation records who caused it (``requested_by``): the event that completes it is
attributed to them on the timeline, whichever path completes it (the request's inline
settlement, the settlement timer, Stripe's webhook). A reservation with no inline
settlement behind it (``settle_after=timedelta(0)``, the timer paths) is due to the
settlement timer at once; one an API request settles inline gets ``SETTLE_GRACE`` first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from uuid import UUID

from services.escrow.domain.deadlines import deadlines
from services.escrow.domain.model import Escrow
from services.escrow.domain.rules import Decision
from services.escrow.service_layer.causes import Cause
from services.escrow.service_layer.errors import OrderNotFound
from services.escrow.service_layer.unit_of_work import (
    AbstractEscrowUnitOfWork,
    UnitOfWorkFactory,
)
from shared.clock import Clock
from shared.correlation import current_correlation_id
from shared.events import Envelope, EventModel
from shared.events.escrow import InspectionStarted
from shared.unit_of_work import retry_on_conflict

SOURCE = "escrow"
# A reserved payout/refund not completed inline (crash, Stripe down) is retried by the
# settlement timer after this grace period.
SETTLE_GRACE = timedelta(seconds=30)
INSPECTION_TIMER = "escrow.inspection_window"
SETTLEMENT_TIMER = "escrow.settlement"
# A person's deadline (a dispute's negotiation, a rejection's step, a proposal's expiry).
DEADLINE_TIMER = "escrow.deadline"

Decide = Callable[[Escrow], Decision]
# Called with the state about to be committed, inside its transaction, before the COMMIT
# (the HTTP entrypoint registers there the answer that state gives, see
# shared/http/idempotency.py).
BeforeCommit = Callable[[Escrow], None]


def inspection_timer_key(order_id: str, milestone_id: str, ends_at: datetime) -> str:
    """A window's timer names its end: a milestone's window reopens (a re-inspection's or a
    replacement's evidence) after the first one's timer fired, and a fired timer is never
    scheduled again, so the reopened window needs a timer of its own. The stale one finds
    the window not yet ended (``auto_accept`` checks it) and does nothing."""
    return f"{order_id}/{milestone_id}/{ends_at.isoformat()}"


def pending_effects(e: Escrow | None) -> set[str]:
    if e is None:
        return set()
    ids = {p.payout_id for p in e.payouts if p.status == "pending"}
    return ids | {r.refund_id for r in e.refunds if r.status == "pending"}


def payment_intents(e: Escrow | None) -> set[str]:
    return (
        {p.stripe_payment_intent_id for p in e.payments if p.stripe_payment_intent_id}
        if e
        else set()
    )


def envelopes(
    now: datetime, escrow: Escrow, events: Sequence[EventModel], cause: Cause | None
) -> list[Envelope]:
    """The envelopes of one decision's events, all in one conversation: the cause's, else the
    one being handled (shared.correlation), else a new one, started by the first event."""
    conversation = cause.correlation_id if cause is not None else current_correlation_id()
    out = []
    for ev in events:
        # The event of a payout/refund has the reservation's id (the event names it): the
        # Stripe idempotency key was derived from it, so event and money movement name each
        # other.
        env = Envelope.wrap(
            ev,
            event_id=ev.envelope_id(),
            source=SOURCE,
            tenant_id=escrow.tenant_id,
            subject=escrow.order_id,
            occurred_at=now,
            correlation_id=conversation,
            causation_id=cause.causation_id if cause is not None else None,
        )
        conversation = env.correlation_id
        out.append(env)
    return out


def cause_of_decision(envs: Sequence[Envelope], cause: Cause | None) -> Cause | None:
    """What the timers a decision sets carry, for their own decisions to answer."""
    if envs:
        return Cause(envs[0].correlation_id, envs[0].causation_id)
    if cause is not None:
        return cause
    conversation = current_correlation_id()
    return Cause(conversation) if conversation is not None else None


def requested_by(before: Escrow | None, after: Escrow, actor: str) -> Escrow:
    """``after`` with the payouts/refunds it newly reserves recorded as caused by ``actor``."""
    new = pending_effects(after) - pending_effects(before)
    if not new:
        return after
    return after.model_copy(
        update={
            "payouts": tuple(
                p.model_copy(update={"requested_by": actor}) if p.payout_id in new else p
                for p in after.payouts
            ),
            "refunds": tuple(
                r.model_copy(update={"requested_by": actor}) if r.refund_id in new else r
                for r in after.refunds
            ),
        }
    )


def caused_by(escrow: Escrow, envs: Sequence[Envelope]) -> dict[UUID, str]:
    """The actor of each release/refund event whose reservation recorded who caused it."""
    requesters = {
        **{p.payout_id: p.requested_by for p in escrow.payouts if p.requested_by},
        **{r.refund_id: r.requested_by for r in escrow.refunds if r.requested_by},
    }
    return {env.id: requesters[str(env.id)] for env in envs if str(env.id) in requesters}


async def write_decision(
    uow: AbstractEscrowUnitOfWork,
    clock: Clock,
    before: Escrow | None,
    after: Escrow,
    events: Sequence[EventModel],
    actor: str,
    cause: Cause | None = None,
    settle_after: timedelta = SETTLE_GRACE,
) -> Escrow:
    """Stage ``before`` -> ``after`` and its events in ``uow`` (the caller commits)."""
    now = clock.now()
    if after == before and not events:
        return before
    after = requested_by(before, after, actor)
    # Cancel the settlement timers of completed effects BEFORE writing the escrow: a timer
    # worker locks its timer rows first and the escrow row second, so taking them in the
    # other order here deadlocked with a worker firing the same settlement (and the loser
    # was this request, answering 500).
    was, now_pending = pending_effects(before), pending_effects(after)
    for effect_id in sorted(was - now_pending):
        await uow.timers.cancel(SETTLEMENT_TIMER, effect_id)
    for gone in sorted(deadlines(before) - deadlines(after)):  # before the escrow row too
        await uow.timers.cancel(DEADLINE_TIMER, f"{after.order_id}/{gone.key}")
    if before is None:
        # A new escrow and its timeline in one statement: a round trip less on every create.
        created = after.model_copy(update={"version": 1})
        envs = envelopes(now, created, events, cause)
        saved = await uow.escrows.add_recorded(after, now, envs, actor, caused_by(created, envs))
        await uow.outbox.add(*envs)
    else:
        saved = await uow.escrows.save(after, now)
        envs = envelopes(now, saved, events, cause)
        await uow.outbox.add(*envs)
        await uow.escrows.record_timeline(saved, envs, actor, caused_by(saved, envs))
    # Indexed with the funding request itself: Stripe's events for it find this order.
    for pi_id in sorted(payment_intents(saved) - payment_intents(before)):
        await uow.escrows.index_payment_intent(pi_id, saved)
    for ev, env in zip(events, envs, strict=True):
        if isinstance(ev, InspectionStarted):  # the window's end answers its start
            key = inspection_timer_key(ev.order_id, ev.milestone_id, ev.ends_at)
            payload = {"order_id": ev.order_id, "milestone_id": ev.milestone_id}
            payload |= Cause.of(env).to_payload()
            await uow.timers.schedule(INSPECTION_TIMER, key, ev.ends_at, payload)
    reserving = cause_of_decision(envs, cause)
    for effect_id in sorted(now_pending - was):
        payload = {"order_id": saved.order_id, "effect_id": effect_id}
        payload |= reserving.to_payload() if reserving is not None else {}
        await uow.timers.schedule(SETTLEMENT_TIMER, effect_id, now + settle_after, payload)
    for new in sorted(deadlines(saved) - deadlines(before)):
        payload = {"order_id": saved.order_id, "what": new.what, "subject": new.subject}
        payload |= reserving.to_payload() if reserving is not None else {}
        key = f"{saved.order_id}/{new.key}"
        await uow.timers.schedule(DEADLINE_TIMER, key, new.due_at, payload)
    changed = [d for d in saved.disputes if before is None or d not in before.disputes]
    if changed:
        await uow.escrows.index_disputes(saved, changed, now)
    return saved


async def decide(
    uows: UnitOfWorkFactory,
    clock: Clock,
    order_id: str,
    tenant_id: str | None,
    command: Decide,
    actor: str,
    before_commit: BeforeCommit | None = None,
) -> tuple[Escrow, list[str]]:
    """Apply ``command`` to the latest state and commit; the saved state and the effects it
    newly reserved. ``before_commit`` sees the state to be committed, inside its unit of
    work. A ``Conflict`` re-runs all of it on fresh state; one that persists propagates."""

    async def attempt() -> tuple[Escrow, list[str]]:
        async with uows() as uow:
            before = await uow.escrows.get(order_id, tenant_id)
            if before is None:
                raise OrderNotFound(order_id)
            after, events = command(before)
            saved = await write_decision(uow, clock, before, after, events, actor)
            if before_commit is not None:
                before_commit(saved)
            await uow.commit()
        return saved, sorted(pending_effects(saved) - pending_effects(before))

    return await retry_on_conflict(attempt)
