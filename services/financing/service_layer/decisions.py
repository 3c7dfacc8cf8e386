"""Writing a domain step: the advance (versioned), its events (outbox and history, with the
actor) and the durable timers its new state needs, all in the caller's unit of work.

``write_step`` is the one place a step (new advance state + events) is staged. Every
financing event is keyed by the ORDER id (envelope subject = Kafka key): the lien commands
must stay ordered with escrow's view of the order, and since an order carries at most one
live advance, keying everything by order keeps each advance's events in order too. One
command or event starts one conversation: all the events it causes share a correlation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from services.financing.domain.advance import OFFERED, Advance, Step
from services.financing.domain.servicing import days_elapsed, next_amortization_at
from services.financing.service_layer.unit_of_work import (
    AbstractFinancingUnitOfWork,
    HistoryEntry,
)
from shared.events import Envelope, EventModel
from shared.events.envelope import new_event_id

SOURCE = "financing"
OFFER_EXPIRY = "financing.offer_expiry"
FEE_AMORTIZATION = "financing.fee_amortization"

# Called with the advance about to be committed, inside its unit of work, before the COMMIT
# (the HTTP entrypoint registers there the answer that state gives, see
# shared/http/idempotency.py).
BeforeCommit = Callable[[Advance], None]


def envelopes(
    advance: Advance, events: Sequence[EventModel], now: datetime, cause: Envelope | None
) -> list[Envelope]:
    causal = cause.caused() if cause is not None else {"correlation_id": new_event_id()}
    return [
        Envelope.wrap(
            event,
            source=SOURCE,
            tenant_id=advance.tenant_id,
            subject=advance.order_id,
            occurred_at=now,
            **causal,
        )
        for event in events
    ]


async def emit(
    uow: AbstractFinancingUnitOfWork,
    advance: Advance,
    events: Sequence[EventModel],
    *,
    actor: str,
    now: datetime,
    cause: Envelope | None = None,
) -> list[Envelope]:
    """Stage the advance's ``events`` in the outbox and its history. An event naming its
    own actor (a finance user's write-off) keeps it; the others are ``actor``'s."""
    if not events:
        return []
    wrapped = envelopes(advance, events, now, cause)
    await uow.outbox.add(*wrapped)
    entries = []
    for env, event in zip(wrapped, events, strict=True):
        named = getattr(event, "actor", None)
        entries.append(
            HistoryEntry(
                advance_id=advance.advance_id,
                tenant_id=advance.tenant_id,
                event_id=env.id,
                event_type=env.type,
                at=now,
                actor=named if isinstance(named, str) and named else actor,
                data=dict(env.data),
            )
        )
    await uow.advances.record_history(entries)
    return wrapped


async def write_step(
    uow: AbstractFinancingUnitOfWork,
    step: Step,
    *,
    actor: str,
    now: datetime,
    cause: Envelope | None = None,
    new: bool = False,
) -> Advance:
    """Stage ``step``: the advance (added if ``new``, else saved at its version, or
    ``Conflict``), its events, and the timers its state needs."""
    advance, events = step
    saved = await (uow.advances.add(advance) if new else uow.advances.save(advance))
    await emit(uow, saved, events, actor=actor, now=now, cause=cause)
    await schedule_timers(uow, saved, now)
    return saved


async def schedule_timers(
    uow: AbstractFinancingUnitOfWork, advance: Advance, now: datetime
) -> None:
    """An open offer expires; an outstanding advance earns its fee day by day."""
    if advance.state == OFFERED:
        await uow.timers.schedule(OFFER_EXPIRY, advance.advance_id, advance.expires_at)
    due = next_amortization_at(advance, now)
    if due is not None:
        # One timer per day: a fired timer row is final, so each day gets its own key.
        day = days_elapsed(advance, now) + 1
        await uow.timers.schedule(FEE_AMORTIZATION, amortization_key(advance.advance_id, day), due)


def amortization_key(advance_id: str, day: int) -> str:
    return f"{advance_id}:{day}"


def advance_of_amortization(key: str) -> str:
    """The advance a fee amortisation timer's key names."""
    return key.rsplit(":", 1)[0]
