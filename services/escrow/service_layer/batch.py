"""Committing the decisions of a whole consumer batch at once (financing's lien commands).

``write_decisions`` stages what ``decisions.write_decision`` stages for each decision (the
escrow, version-checked; its events in the outbox; its timeline), in three statements for
the whole batch instead of a handful per command. It takes only decisions that move no
money: they reserve no payout or refund, index no PaymentIntent and start no inspection,
so they have no timers to cancel or schedule (lien decisions are such); it refuses others,
which go through ``write_decision`` one at a time.

The escrows must have been locked by ``uow.escrows.lock`` in the same unit of work: then
no request can write them in between, and a request that read one before waits for the
batch, then loses its version check and decides again on the new state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from services.escrow.domain.model import Escrow
from services.escrow.service_layer.causes import Cause
from services.escrow.service_layer.decisions import (
    caused_by,
    envelopes,
    payment_intents,
    pending_effects,
)
from services.escrow.service_layer.unit_of_work import AbstractEscrowUnitOfWork
from shared.clock import Clock
from shared.events import Envelope, EventModel
from shared.events.escrow import InspectionStarted


@dataclass
class Decided:
    """One escrow's decisions of the batch: its state before and after them, and each event
    with the command that caused it."""

    before: Escrow
    after: Escrow
    events: list[tuple[EventModel, Envelope]] = field(default_factory=list)

    def moves_money(self) -> bool:
        return (
            pending_effects(self.after) != pending_effects(self.before)
            or payment_intents(self.after) != payment_intents(self.before)
            or any(isinstance(e, InspectionStarted) for e, _ in self.events)
        )


async def write_decisions(
    uow: AbstractEscrowUnitOfWork,
    clock: Clock,
    decided: Sequence[Decided],
    actor: str,
    replies: Sequence[Envelope] = (),
) -> None:
    """Save the changed escrows, stage their events (and ``replies``, events about no escrow)
    in the outbox and record their timelines, in the caller's unit of work."""
    changed = [d for d in decided if d.after != d.before or d.events]
    if any(d.moves_money() for d in changed):
        raise ValueError("write_decisions takes decisions that move no money")
    now = clock.now()
    saved = await uow.escrows.save_all([d.after for d in changed], now)
    entries = [
        (
            escrow,
            [
                env
                for event, cause in d.events
                for env in envelopes(now, escrow, [event], Cause.of(cause))
            ],
        )
        for escrow, d in zip(saved, changed, strict=True)
    ]
    await uow.outbox.add(*[e for _, envs in entries for e in envs], *replies)
    actors = {k: v for escrow, envs in entries for k, v in caused_by(escrow, envs).items()}
    await uow.escrows.record_timelines(entries, actor, actors)
